"""Activation functions with ``torch.nn.functional``'s signatures (``inplace`` flags, the
implicit softmax dim) over the pointwise and reduction ops of the op table."""

from __future__ import annotations

import warnings

import jax.numpy as jnp

from tapegrad._ops import inplace as _inplace
from tapegrad._ops import pointwise as pw
from tapegrad._ops import reduction as rd
from tapegrad._ops._registry import defop, dispatch
from tapegrad._tensor import Tensor


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """Applies the rectified linear unit function element-wise: ``max(0, x)``."""
    return input.relu_() if inplace else pw.relu(input)


def relu_(input: Tensor) -> Tensor:
    """In-place version of ``relu``."""
    return input.relu_()


# PyTorch's in-place leaky_relu_ has a node of its own, which saves the result.
@defop(
    "leaky_relu_",
    node="LeakyReluBackward1",
    dtypes="same",
    saves="output",
    values=("negative_slope",),
)
def _leaky_relu_inplace_op(x, negative_slope):
    return jnp.where(x > 0, x, x * negative_slope)


def _leaky_relu_result(input: Tensor, negative_slope: float) -> Tensor:
    return dispatch(_leaky_relu_inplace_op, (input,), (("negative_slope", float(negative_slope)),))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """Applies ``max(0, x) + negative_slope * min(0, x)`` element-wise."""
    if inplace:
        return leaky_relu_(input, negative_slope)
    return pw.leaky_relu(input, negative_slope)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place version of ``leaky_relu``."""
    return _inplace.inplace(input, _leaky_relu_result, negative_slope)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian Error Linear Units: ``x * Phi(x)``; ``approximate='tanh'`` uses the tanh
    approximation."""
    return pw.gelu(input, approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """Applies the Sigmoid Linear Unit (SiLU) function element-wise: ``x * sigmoid(x)``."""
    return input.silu_() if inplace else pw.silu(input)


def sigmoid(input: Tensor) -> Tensor:
    """Applies the element-wise function ``1 / (1 + exp(-x))``."""
    return pw.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """Applies the element-wise hyperbolic tangent."""
    return pw.tanh(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Applies ``1 / beta * log(1 + exp(beta * x))`` element-wise, linear where
    ``beta * x > threshold``."""
    return pw.softplus(input, beta, threshold)


def _get_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """Applies a softmax function along ``dim``: ``exp(x_i) / sum_j exp(x_j)``.

    ``dtype`` casts the input first. Without ``dim`` PyTorch's deprecated implicit choice is
    made (dim 0 for 0-, 1- and 3-d inputs, else 1) with its warning.
    """
    if dim is None:
        dim = _get_softmax_dim("softmax", input.ndim, _stacklevel)
    return rd.softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """Applies a softmax followed by a logarithm along ``dim``, computed stably."""
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.ndim, _stacklevel)
    return rd.log_softmax(input, dim, dtype)
