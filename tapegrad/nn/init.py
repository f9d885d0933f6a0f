"""``nn.init``: PyTorch's weight initialisations, written in place under ``no_grad``.

The distributions, fan computations, gains and errors are PyTorch's; the random numbers come
from tapegrad's generator, so they are not PyTorch's numbers.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Literal

import jax
import jax.numpy as jnp

from tapegrad._creation import eye as _eye
from tapegrad._grad_mode import no_grad
from tapegrad._kernel_cache import bounded_jit
from tapegrad._random import rand as _rand
from tapegrad._random import randn as _randn
from tapegrad._tensor import Tensor, _wrap

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
]

_NonlinearityType = Literal[
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
]
_FanMode = Literal["fan_in", "fan_out"]

_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


def calculate_gain(nonlinearity: _NonlinearityType, param: float | None = None) -> float:
    """Return the recommended gain value for the given nonlinearity function.

    ==================  ====================================================
    nonlinearity        gain
    ==================  ====================================================
    Linear / Identity   1
    Conv{1,2,3}D        1
    Sigmoid             1
    Tanh                5/3
    ReLU                sqrt(2)
    Leaky Relu          sqrt(2 / (1 + negative_slope^2))
    SELU                3/4
    ==================  ====================================================

    ``param`` is the negative slope of ``leaky_relu`` (default 0.01).
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: None = None) -> Tensor:
    """Fill the input Tensor with values drawn from the uniform distribution U(a, b)."""
    with no_grad():
        return tensor.uniform_(a, b)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: None = None) -> Tensor:
    """Fill the input Tensor with values drawn from the normal distribution N(mean, std^2)."""
    with no_grad():
        return tensor.normal_(mean, std)


@functools.partial(bounded_jit, static_argnums=(1, 2, 3, 4))
def _trunc_normal_from_uniform(u, mean: float, std: float, a: float, b: float):
    # Inverse-CDF sampling, computed in float64: the uniform draw is mapped onto
    # [Phi((a - mean) / std), Phi((b - mean) / std)] and back through the normal quantile.
    dtype = u.dtype
    u = u.astype(jnp.float64)
    lo = jax.scipy.special.ndtr((a - mean) / std)
    hi = jax.scipy.special.ndtr((b - mean) / std)
    x = jax.scipy.special.ndtri(lo + u * (hi - lo)) * std + mean
    return jnp.clip(x, a, b).astype(dtype)


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: None = None,
) -> Tensor:
    """Fill the input Tensor with values drawn from a truncated normal distribution: values
    from N(mean, std^2), with values outside ``[a, b]`` redrawn until they are within bounds.

    tapegrad samples it by inverting the CDF (one draw, the same distribution as PyTorch's
    rejection sampling).
    """
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    with no_grad():
        u = _rand(*tensor.shape, dtype=tensor.dtype)
        values = _trunc_normal_from_uniform(u._data, float(mean), float(std), float(a), float(b))
        return tensor.copy_(_wrap(values))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill the input Tensor with the value ``val``."""
    with no_grad():
        return tensor.fill_(val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill the input Tensor with the scalar value 1."""
    with no_grad():
        return tensor.fill_(1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill the input Tensor with the scalar value 0."""
    with no_grad():
        return tensor.zero_()


def eye_(tensor: Tensor) -> Tensor:
    """Fill the 2-dimensional input Tensor with the identity matrix."""
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with no_grad():
        tensor.copy_(_eye(*tensor.shape, dtype=tensor.dtype))
    return tensor


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill the {3, 4, 5}-dimensional input Tensor with the Dirac delta function, preserving
    the identity of the inputs in convolutional layers (``groups`` keeps each group's)."""
    dimensions = tensor.ndimension()
    if dimensions not in [3, 4, 5]:
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.size()
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_chans_per_grp = sizes[0] // groups
    min_dim = min(out_chans_per_grp, sizes[1])
    centre = tuple(s // 2 for s in sizes[2:])
    with no_grad():
        tensor.zero_()
        for g in range(groups):
            for d in range(min_dim):
                tensor[(g * out_chans_per_grp + d, d, *centre)] = 1
    return tensor


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    dimensions = tensor.dim()
    if dimensions < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    num_input_fmaps = tensor.size(1)
    num_output_fmaps = tensor.size(0)
    receptive_field_size = 1
    for s in tensor.shape[2:]:
        receptive_field_size *= s
    return num_input_fmaps * receptive_field_size, num_output_fmaps * receptive_field_size


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: None = None) -> Tensor:
    """Fill the input Tensor with values from U(-a, a) where
    ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot initialization)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: None = None) -> Tensor:
    """Fill the input Tensor with values from N(0, std^2) where
    ``std = gain * sqrt(2 / (fan_in + fan_out))`` (Glorot initialization)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std)


def _calculate_correct_fan(tensor: Tensor, mode: _FanMode) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: _FanMode = "fan_in",
    nonlinearity: _NonlinearityType = "leaky_relu",
    generator: None = None,
) -> Tensor:
    """Fill the input Tensor with values from U(-bound, bound) where
    ``bound = gain * sqrt(3 / fan_mode)`` (He initialization).

    ``a`` is the negative slope of the rectifier used after this layer (only with
    ``'leaky_relu'``); ``mode`` is ``'fan_in'`` (preserves the variance of the forward pass) or
    ``'fan_out'`` (of the backward pass).
    """
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: _FanMode = "fan_in",
    nonlinearity: _NonlinearityType = "leaky_relu",
    generator: None = None,
) -> Tensor:
    """Fill the input Tensor with values from N(0, std^2) where ``std = gain / sqrt(fan_mode)``
    (He initialization); the arguments are those of ``kaiming_uniform_``."""
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    return normal_(tensor, 0, gain / math.sqrt(fan))


@bounded_jit
def _orthogonal_from_normal(flat):
    rows, cols = flat.shape
    if rows < cols:
        flat = flat.T
    q, r = jnp.linalg.qr(flat)
    q = q * jnp.sign(jnp.diagonal(r))
    return q.T if rows < cols else q


def orthogonal_(tensor: Tensor, gain: float = 1, generator: None = None) -> Tensor:
    """Fill the input Tensor with a (semi) orthogonal matrix, scaled by ``gain``; dimensions
    after the first are flattened."""
    if tensor.ndimension() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.size(0)
    cols = tensor.numel() // rows
    q = _orthogonal_from_normal(_randn(rows, cols, dtype=tensor.dtype)._data)
    with no_grad():
        tensor.copy_(_wrap(q.reshape(tensor.shape)))
        tensor.mul_(gain)
    return tensor
