"""tapegrad: PyTorch's eager autograd rebuilt on JAX.

``import tapegrad as torch`` gives tensors, grad modes, ``backward`` and ``autograd.grad`` with
PyTorch's values, flags, printed tensors and errors, while every kernel is a ``jax.jit``
computation that runs on CPU, GPU or TPU.
"""

from __future__ import annotations

import jax as _jax

# tapegrad needs real float64 and int64 (torch.float64 tensors, int64 indices), which JAX only
# provides with x64 enabled. The flag is global: see docs "Differences from PyTorch".
_jax.config.update("jax_enable_x64", True)

from tapegrad import _methods  # attaches the Tensor methods
from tapegrad import autograd
from tapegrad._config import config
from tapegrad._creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from tapegrad._device import device
from tapegrad._dtype import (
    bfloat16,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    result_type,
    set_default_dtype,
    uint8,
)
from tapegrad._dtype import bool_ as bool
from tapegrad._grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from tapegrad._methods import clone
from tapegrad._ops.indexing import (
    gather,
    index_add,
    masked_fill,
    nonzero,
    scatter,
    scatter_add,
)
from tapegrad._ops.linalg import bmm, dot, linear, matmul, mm, mv
from tapegrad._ops.pointwise import (
    abs,
    absolute,
    add,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    ceil,
    clamp,
    clip,
    cos,
    div,
    divide,
    eq,
    exp,
    expm1,
    floor,
    floor_divide,
    ge,
    gelu,
    greater,
    greater_equal,
    gt,
    isfinite,
    isnan,
    le,
    leaky_relu,
    less,
    less_equal,
    log,
    log1p,
    log2,
    log10,
    logical_not,
    lt,
    maximum,
    minimum,
    mul,
    multiply,
    ne,
    neg,
    negative,
    not_equal,
    pow,
    reciprocal,
    relu,
    remainder,
    round,
    rsqrt,
    rsub,
    sigmoid,
    sign,
    silu,
    sin,
    softplus,
    sqrt,
    square,
    sub,
    subtract,
    tan,
    tanh,
    true_divide,
    trunc,
    where,
)
from tapegrad._ops.reduction import (
    all,
    any,
    amax,
    amin,
    argmax,
    argmin,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    softmax,
    std,
    sum,
    var,
)
from tapegrad._ops.shape import (
    cat,
    chunk,
    concat,
    concatenate,
    diagonal,
    flatten,
    narrow,
    permute,
    reshape,
    select,
    split,
    squeeze,
    stack,
    swapaxes,
    t,
    transpose,
    unbind,
    unflatten,
    unsqueeze,
)
from tapegrad._random import (
    get_rng_state,
    initial_seed,
    manual_seed,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    seed,
    set_rng_state,
)
from tapegrad._tensor import Size, Tensor
from tapegrad._tensor_str import get_printoptions, set_printoptions
from tapegrad.serialization import load, save

from tapegrad import nn, optim  # after the core names, which they import
from tapegrad.compiler import compile

half = float16
float = float32
double = float64
short = int16
int = int32
long = int64

__version__ = "0.1.0"


def is_tensor(obj: object) -> bool:
    """Returns True if ``obj`` is a tapegrad tensor."""
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> bool:
    """Returns True if the dtype of ``input`` is a floating point type."""
    return input.dtype.is_floating_point


def numel(input: Tensor) -> int:
    """Returns the total number of elements in ``input``."""
    return input.numel()
