"""Normalization: batch_norm (``NativeBatchNormBackward0``, running statistics updated in
place) and layer_norm (``NativeLayerNormBackward0``).

Absent optional tensors (weight, bias, running statistics) are passed to the kernels as the
Python number 0, which gets no ``next_functions`` edge, so the edges are PyTorch's
``(input, weight, bias)`` with ``(None, 0)`` where one is missing.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from tapegrad._dtype import legacy_name
from tapegrad._grad_mode import state as _mode
from tapegrad._ops._registry import defop, dispatch
from tapegrad._ops.inplace import write
from tapegrad._tensor import Tensor

NOT_DIFFERENTIABLE = (
    "The function '{}' is not differentiable with respect to argument '{}'. This input cannot "
    "have requires_grad True."
)


def check_not_requiring_grad(fn: str, **tensors) -> None:
    """PyTorch's refusal of a tensor that requires grad in a non-differentiable argument."""
    if not _mode.grad_enabled:
        return
    for name, t in tensors.items():
        if isinstance(t, Tensor) and t.requires_grad:
            raise RuntimeError(NOT_DIFFERENTIABLE.format(fn, name))


def _channel_shape(x) -> tuple:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _affine(out, w, b, has_weight, has_bias, shape):
    if has_weight:
        out = out * w.reshape(shape)
    if has_bias:
        out = out + b.reshape(shape)
    return out


# NativeBatchNormBackward0 saves the input, the weight and (in evaluation) the running
# statistics; a training call writes new running statistics, which must not count as a
# modification of what it saved.
@defop(
    "batch_norm_train",
    node="NativeBatchNormBackward0",
    dtypes="keep",
    n_out=3,
    diff_out=(0,),
    saves=lambda mask: [0, 1],
    edges=(0, 1, 2),
    values=("momentum", "eps"),
)
def _batch_norm_train_op(x, w, b, rm, rv, has_weight, has_bias, has_running, momentum, eps):
    axes = (0, *range(2, x.ndim))
    shape = _channel_shape(x)
    mean = jnp.mean(x, axis=axes)
    centered = x - mean.reshape(shape)
    var = jnp.mean(centered * centered, axis=axes)
    out = centered * lax.rsqrt(var + jnp.asarray(eps, x.dtype)).reshape(shape)
    out = _affine(out, w, b, has_weight, has_bias, shape)
    if not has_running:
        return out, rm, rv
    n = x.size // x.shape[1]
    unbiased = var * jnp.asarray(n / (n - 1), x.dtype)
    new_rm = (1 - momentum) * rm + momentum * mean.astype(rm.dtype)
    new_rv = (1 - momentum) * rv + momentum * unbiased.astype(rv.dtype)
    return out, new_rm.astype(rm.dtype), new_rv.astype(rv.dtype)


@defop(
    "batch_norm_eval",
    node="NativeBatchNormBackward0",
    dtypes="keep",
    saves=lambda mask: [0, 1, 3, 4],
    edges=(0, 1, 2),
    values=("eps",),
)
def _batch_norm_eval_op(x, w, b, rm, rv, has_weight, has_bias, eps):
    shape = _channel_shape(x)
    invstd = lax.rsqrt(rv.astype(x.dtype) + jnp.asarray(eps, x.dtype))
    out = (x - rm.astype(x.dtype).reshape(shape)) * invstd.reshape(shape)
    return _affine(out, w, b, has_weight, has_bias, shape)


def _verify_batch_size(shape: tuple, size) -> None:
    n = shape[0]
    for s in shape[2:]:
        n *= s
    if n == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size {size}"
        )


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Apply Batch Normalization for each channel across a batch of data.

    Channels are dim 1 of ``input`` (``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)``). In training
    the batch statistics normalize the input and ``running_mean`` / ``running_var`` are updated
    in place with ``momentum`` (the variance unbiased); in evaluation the running statistics
    normalize the input.
    """
    shape = tuple(input.shape)
    if training:
        _verify_batch_size(shape, input.shape)
    for position, (name, value) in enumerate((("momentum", momentum), ("eps", eps)), start=7):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(
                f"batch_norm(): argument '{name}' (position {position}) must be float, not "
                f"{type(value).__name__}"
            )
    if training and eps <= 0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    channels = shape[1] if len(shape) > 1 else 0
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None:
            if t.numel() != channels:
                raise RuntimeError(f"{name} should contain {channels} elements not {t.numel()}")
        elif not training:
            raise RuntimeError(f"{name} must be defined in evaluation mode")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != channels:
            raise RuntimeError(f"{name} should contain {channels} elements not {t.numel()}")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"batch_norm\" not implemented for '{legacy_name(input.dtype)}'"
        )
    check_not_requiring_grad(
        "native_batch_norm", running_mean=running_mean, running_var=running_var
    )
    operands = (
        input,
        0 if weight is None else weight,
        0 if bias is None else bias,
        0 if running_mean is None else running_mean,
        0 if running_var is None else running_var,
    )
    if not training:
        statics = (("has_weight", weight is not None), ("has_bias", bias is not None))
        return dispatch(_batch_norm_eval_op, operands, (*statics, ("eps", float(eps))))
    has_running = running_mean is not None and running_var is not None
    statics = (
        ("has_weight", weight is not None),
        ("has_bias", bias is not None),
        ("has_running", has_running),
        ("momentum", float(momentum)),
        ("eps", float(eps)),
    )
    out, new_mean, new_var = dispatch(_batch_norm_train_op, operands, statics)
    if has_running:
        _update_running(running_mean, new_mean._data)
        _update_running(running_var, new_var._data)
    return out


def _update_running(t: Tensor, array) -> None:
    # PyTorch's batch-norm kernel writes the running statistics without bumping their version
    # counter (``running_mean._version`` stays 0 after ``F.batch_norm``).
    write(t, array, bump=False)


@defop(
    "layer_norm",
    node="NativeLayerNormBackward0",
    dtypes="keep",
    edges=(0, 1, 2),
    values=("eps",),
)
def _layer_norm_op(x, w, b, n, has_weight, has_bias, eps):
    axes = tuple(range(x.ndim - n, x.ndim))
    mean = jnp.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    var = jnp.mean(centered * centered, axis=axes, keepdims=True)
    out = centered * lax.rsqrt(var + jnp.asarray(eps, x.dtype))
    shape = x.shape[x.ndim - n :]
    return _affine(out, w, b, has_weight, has_bias, shape)


def _normalized_shape(value) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    raise TypeError(
        "layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not "
        f"{type(value).__name__}"
    )


def layer_norm(
    input: Tensor,
    normalized_shape,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Apply Layer Normalization over the last ``len(normalized_shape)`` dimensions: subtract
    their mean, divide by ``sqrt(var + eps)`` (biased variance), then scale by ``weight`` and
    shift by ``bias`` (both of shape ``normalized_shape``) when given."""
    norm = _normalized_shape(normalized_shape)
    if not norm:
        raise RuntimeError(
            "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least "
            f"one element, but got normalized_shape = {list(norm)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != norm:
            raise RuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of "
                f"shape {list(t.shape)} and normalized_shape = {list(norm)}"
            )
    shape = tuple(input.shape)
    if len(shape) < len(norm) or shape[len(shape) - len(norm) :] != norm:
        expected = "".join(f", {s}" for s in norm)
        raise RuntimeError(
            f"Given normalized_shape={list(norm)}, expected input with shape [*{expected}], but "
            f"got input of size{list(shape)}"
        )
    if not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"LayerNormKernelImpl\" not implemented for '{legacy_name(input.dtype)}'"
        )
    operands = (input, 0 if weight is None else weight, 0 if bias is None else bias)
    statics = (
        ("n", len(norm)),
        ("has_weight", weight is not None),
        ("has_bias", bias is not None),
        ("eps", float(eps)),
    )
    return dispatch(_layer_norm_op, operands, statics)
