"""Loss functions with PyTorch's signatures, reductions, node names, gradients and errors.

One kernel per loss where PyTorch has one node (``MseLossBackward0``, ``NllLossBackward0``,
``BinaryCrossEntropyBackward0`` ...); the losses PyTorch composes from other ops (l1_loss,
cross_entropy) are composed here from the same ops, so their node chains match.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from tapegrad import _dtype as dt
from tapegrad._kernel_cache import bounded_jit
from tapegrad._ops import pointwise as pw
from tapegrad._ops import reduction as rd
from tapegrad._ops._errors import broadcast_error
from tapegrad._ops._registry import defop, dispatch
from tapegrad._ops.inplace import check_broadcast_into
from tapegrad._ops.norm import check_not_requiring_grad
from tapegrad._tensor import Tensor
from tapegrad._tracing import defer_check

SIZE_WARNING = (
    "Using a target size ({}) that is different to the input size ({}). This will likely lead "
    "to incorrect results due to broadcasting. Please ensure they have the same size."
)
LEGACY_WARNING = (
    "size_average and reduce args will be deprecated, please use reduction='{}' instead."
)


# ----- reductions -----------------------------------------------------------------------------
def _reduction(reduction: str, size_average=None, reduce=None) -> str:
    """PyTorch's ``_Reduction.get_enum`` / ``legacy_get_string``: the checked reduction."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
        warnings.warn(LEGACY_WARNING.format(reduction), stacklevel=3)
        return reduction
    if reduction == "elementwise_mean":
        warnings.warn(
            "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
            stacklevel=3,
        )
        return "mean"
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _apply_reduction(loss, reduction: str):
    if reduction == "mean":
        return jnp.mean(loss)
    if reduction == "sum":
        return jnp.sum(loss)
    return loss


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return rd.mean(loss)
    if reduction == "sum":
        return rd.sum(loss)
    return loss


def _warn_size(input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(SIZE_WARNING.format(target.shape, input.shape), stacklevel=3)


def _broadcast(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """PyTorch's ``torch.broadcast_tensors(input, target)`` (ExpandBackward0 nodes)."""
    a, b = tuple(input.shape), tuple(target.shape)
    if a == b:
        return input, target
    err = broadcast_error([a, b])
    if err is not None:
        raise err
    shape = tuple(np.broadcast_shapes(a, b))
    return (
        input if a == shape else input.expand(*shape),
        target if b == shape else target.expand(*shape),
    )


# Scalar multiply and divide with PyTorch's Scalar-overload node names (a Python number times
# a tensor inside ATen is ``mul(Tensor, Scalar)``: MulBackward1, DivBackward1). The numbers
# (label smoothing's factors, the mean's divisor) are runtime values.
@defop("loss_scale", node="MulBackward1", dtypes="keep", linear=True, values=("factor",))
def _scale_op(x, factor):
    return x * jnp.asarray(factor, x.dtype)


@defop("loss_shift", node="AddBackward1", dtypes="keep", linear=True, values=("offset",))
def _shift_op(x, offset):
    return x + jnp.asarray(offset, x.dtype)


@defop("loss_div_scalar", node="DivBackward1", dtypes="keep", linear=True, values=("divisor",))
def _div_scalar_op(x, divisor):
    return x / jnp.asarray(divisor, x.dtype)


# ----- regression losses ------------------------------------------------------------------
@defop("mse_loss", node="MseLossBackward0")
def _mse_loss_op(x, t, reduction):
    d = x - t
    return _apply_reduction(d * d, reduction)


@defop("smooth_l1_loss", node="SmoothL1LossBackward0", values=("beta",))
def _smooth_l1_loss_op(x, t, reduction, beta):
    d = x - t
    a = jnp.abs(d)
    b = jnp.asarray(beta, d.dtype)
    loss = jnp.where(a < b, 0.5 * d * d / b, a - 0.5 * b)
    return _apply_reduction(loss, reduction)


def _not_implemented_for_ints(kernel: str, input: Tensor, target: Tensor) -> None:
    d = dt.result_type(input, target)
    if not d.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{dt.legacy_name(d)}'")


def _weighted(errors: Tensor, weight: Tensor, input_shape: tuple, reduction: str) -> Tensor:
    """The weighted form of mse_loss / l1_loss, composed as PyTorch's Python code does."""
    if tuple(weight.shape) != input_shape:
        raise ValueError("Weights and input must have the same size.")
    weighted = pw.mul(errors, weight)
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return rd.sum(weighted)
    if reduction == "mean":
        return pw.div(rd.sum(weighted), rd.sum(weight))
    raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Compute the element-wise mean squared error, with optional weighting.

    ``reduction`` is ``'none'`` | ``'mean'`` | ``'sum'``; ``weight`` (the shape of ``input``)
    weights each element, and the weighted mean divides by ``weight.sum()``.
    """
    _warn_size(input, target)
    if size_average is not None or reduce is not None:
        reduction = _reduction(reduction, size_average, reduce)
    shape = tuple(input.shape)
    input, target = _broadcast(input, target)
    if weight is not None:
        return _weighted(pw.pow(pw.sub(input, target), 2), weight, shape, reduction)
    reduction = _reduction(reduction)
    _not_implemented_for_ints("mse_cpu", input, target)
    return dispatch(_mse_loss_op, (input, target), (("reduction", reduction),))


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Compute the L1 loss (mean element-wise absolute difference), with optional weighting.

    Composed as PyTorch composes it: ``(input - target).abs()`` then the reduction.
    """
    _warn_size(input, target)
    if size_average is not None or reduce is not None:
        reduction = _reduction(reduction, size_average, reduce)
    shape = tuple(input.shape)
    input, target = _broadcast(input, target)
    if weight is not None:
        return _weighted(pw.abs(pw.sub(input, target)), weight, shape, reduction)
    return _l1(input, target, _reduction(reduction))


def _l1(input: Tensor, target: Tensor, reduction: str) -> Tensor:
    return _reduce(pw.abs(pw.sub(input, target)), reduction)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """Compute the Smooth L1 loss: ``0.5 * d**2 / beta`` where ``|d| < beta``, else
    ``|d| - 0.5 * beta`` (``d = input - target``); ``beta == 0`` is the L1 loss."""
    _warn_size(input, target)
    if size_average is not None or reduce is not None:
        reduction = _reduction(reduction, size_average, reduce)
    input, target = _broadcast(input, target)
    reduction = _reduction(reduction)
    if beta == 0.0:
        return _l1(input, target, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _not_implemented_for_ints("smooth_l1_cpu", input, target)
    statics = (("reduction", reduction), ("beta", float(beta)))
    return dispatch(_smooth_l1_loss_op, (input, target), statics)


# ----- classification losses --------------------------------------------------------------
def _nll_fn(x, t, w, has_weight, ignore_index, reduction):
    class_dim = 1 if x.ndim >= 2 else 0
    t = t.astype(jnp.int64)
    valid = t != ignore_index
    safe = jnp.where(valid, t, 0)
    picked = jnp.take_along_axis(x, jnp.expand_dims(safe, class_dim), axis=class_dim)
    picked = jnp.squeeze(picked, class_dim)
    weights = jnp.take(w, safe) if has_weight else jnp.ones(safe.shape, x.dtype)
    weights = jnp.where(valid, weights.astype(x.dtype), jnp.zeros((), x.dtype))
    losses = -picked * weights
    if reduction == "none":
        return losses
    total = jnp.sum(losses)
    if reduction == "sum":
        return total
    # 0 / 0 = nan when every target is ignored, as in PyTorch, but with a zero gradient (the
    # safe denominator keeps nan out of the backward pass).
    denom = jnp.sum(weights)
    empty = denom == 0
    safe = total / jnp.where(empty, jnp.ones((), x.dtype), denom)
    return jnp.where(empty, jnp.full((), jnp.nan, x.dtype), safe)


_NLL = {"dtypes": "keep", "edges": (0,), "values": ("ignore_index",)}
_nll_loss_op = defop("nll_loss", node="NllLossBackward0", **_NLL)(_nll_fn)
_nll_loss2d_op = defop("nll_loss2d", node="NllLoss2DBackward0", **_NLL)(_nll_fn)


@bounded_jit
def _first_bad_target(t, n_classes, ignore_index):
    flat = t.reshape(-1).astype(jnp.int64)
    bad = (flat != ignore_index) & ((flat < 0) | (flat >= n_classes))
    return jnp.any(bad), flat[jnp.argmax(bad)]


def _check_targets(target: Tensor, n_classes: int, ignore_index: int) -> None:
    """``Target 3 is out of bounds.``, checked where the values are known (not while tracing)."""
    arr = target._data
    if arr.size == 0:
        return
    if isinstance(arr, jax.core.Tracer):  # under tapegrad.compile: checked after the call
        defer_check(
            arr,
            lambda a: _first_bad_target(a, np.int64(n_classes), np.int64(ignore_index)),
            IndexError,
            "Target {} is out of bounds.".format,
        )
        return
    any_bad, value = _first_bad_target(arr, np.int64(n_classes), np.int64(ignore_index))
    if bool(any_bad):
        raise IndexError(f"Target {int(value)} is out of bounds.")


def _check_nll_dtypes(input: Tensor, target: Tensor, weight: Tensor | None, kernel: str) -> None:
    if target.dtype not in (dt.int64, dt.uint8):
        raise RuntimeError(
            f"expected target dtype to be Long or Byte, but got {dt.legacy_name(target.dtype)}"
        )
    if weight is not None and weight.dtype is not input.dtype:
        raise RuntimeError(
            f"expected scalar type {dt.legacy_name(input.dtype)} but found "
            f"{dt.legacy_name(weight.dtype)}"
        )
    if not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"{kernel}\" not implemented for '{dt.legacy_name(input.dtype)}'"
        )


def _nll_1d_2d(input, target, weight, reduction, ignore_index) -> Tensor:
    x, t = tuple(input.shape), tuple(target.shape)
    if len(t) > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    _check_nll_dtypes(input, target, weight, "nll_loss_out_frame")
    if len(x) == 1 and len(t) == 1:
        if t[0] != 1:
            raise ValueError(
                f"For 1D input, 1D target must have size 1, but got target size: {t[0]}"
            )
        target = target.reshape(())
    elif len(x) == 2 and x[0] != t[0]:
        raise RuntimeError(f"size mismatch (got input: {list(x)}, target: {list(t)})")
    n_classes = x[-1]
    if weight is not None and (weight.ndim != 1 or weight.numel() != n_classes):
        raise RuntimeError(
            f"weight tensor should be defined either for all {n_classes} classes or no classes "
            f"but got weight tensor of shape: {list(weight.shape)}"
        )
    _check_targets(target, n_classes, ignore_index)
    return _nll_dispatch(_nll_loss_op, input, target, weight, reduction, ignore_index)


def _nll_dispatch(op, input, target, weight, reduction, ignore_index) -> Tensor:
    statics = (
        ("has_weight", weight is not None),
        ("ignore_index", int(ignore_index)),
        ("reduction", reduction),
    )
    return dispatch(op, (input, target, 0 if weight is None else weight), statics)


def _nll_2d(input, target, weight, reduction, ignore_index) -> Tensor:
    x, t = tuple(input.shape), tuple(target.shape)
    if len(t) != 3:
        raise RuntimeError(
            "only batches of spatial targets supported (3D tensors) but got targets of "
            f"dimension: {len(t)}"
        )
    _check_nll_dtypes(input, target, weight, "nll_loss2d_forward_out_frame")
    if weight is not None and weight.numel() != x[1]:
        raise RuntimeError("weight tensor should be defined either for all or no classes")
    if (x[0], x[2], x[3]) != t:
        raise RuntimeError(f"size mismatch (got input: {list(x)} , target: {list(t)}")
    _check_targets(target, x[1], ignore_index)
    return _nll_dispatch(_nll_loss2d_op, input, target, weight, reduction, ignore_index)


def _nll_loss_nd(input, target, weight, reduction: str, ignore_index: int) -> Tensor:
    """PyTorch's ``nll_loss_nd``: 1-D/2-D inputs, 4-D as ``nll_loss2d``, other ranks viewed
    as 4-D (``ViewBackward0`` nodes around ``NllLoss2DBackward0``)."""
    check_not_requiring_grad("nll_loss_forward", weight=weight)
    ndim = input.ndim
    if ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {ndim})")
    if ndim != 1 and input.shape[0] != target.shape[0]:
        raise ValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
            f"({target.shape[0]})."
        )
    if ndim <= 2:
        return _nll_1d_2d(input, target, weight, reduction, ignore_index)
    if ndim == 4:
        return _nll_2d(input, target, weight, reduction, ignore_index)
    n, c = input.shape[0], input.shape[1]
    out_size = (n, *input.shape[2:])
    if tuple(target.shape[1:]) != tuple(input.shape[2:]):
        raise RuntimeError(f"Expected target size {list(out_size)}, got {list(target.shape)}")
    if input.numel() > 0:
        input4, target3 = input.reshape(n, c, 1, -1), target.reshape(n, 1, -1)
    else:
        input4, target3 = input.reshape(n, c, 0, 0), target.reshape(n, 0, 0)
    out = _nll_2d(input4, target3, weight, reduction, ignore_index)
    return out.view(*out_size) if reduction == "none" else out


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Compute the negative log likelihood loss: ``-input[n, target[n]] * weight[target[n]]``.

    ``input`` is ``(N, C)``, ``(C,)`` or ``(N, C, d1, ...)`` log-probabilities, ``target`` the
    class indices (int64); targets equal to ``ignore_index`` contribute nothing, and the mean
    divides by the summed weights of the other targets.
    """
    reduction = _reduction(reduction, size_average, reduce)
    return _nll_loss_nd(input, target, weight, reduction, ignore_index)


def _class_dim(input: Tensor) -> int:
    return 1 if input.ndim >= 2 else 0


def _weight_view(weight: Tensor, input: Tensor) -> Tensor:
    if input.ndim <= 1:
        return weight
    shape = [1] * input.ndim
    shape[1] = weight.shape[0]
    return weight.view(*shape)


def _cross_entropy_probs(input, target, weight, reduction, label_smoothing) -> Tensor:
    class_dim = _class_dim(input)
    n_classes = input.shape[class_dim]
    if weight is not None and (weight.ndim != 1 or weight.numel() != n_classes):
        raise RuntimeError(
            f"cross_entropy: weight tensor should be defined either for all {n_classes} classes "
            f"or no classes but got weight tensor of shape: {list(weight.shape)}"
        )
    logp = rd.log_softmax(input, class_dim)
    if label_smoothing > 0.0:
        if label_smoothing > 1.0:
            raise RuntimeError(
                f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"
            )
        target = dispatch(_scale_op, (target,), (("factor", 1 - label_smoothing),))
        target = dispatch(_shift_op, (target,), (("offset", label_smoothing / n_classes),))
    prod = pw.mul(logp, target)
    if weight is not None:
        prod = pw.mul(prod, _weight_view(weight, input))
    if reduction == "none":
        return pw.neg(rd.sum(prod, class_dim))
    total = pw.neg(rd.sum(prod))
    if reduction == "sum":
        return total
    if input.numel() == 0:
        return total.fill_(float("nan"))
    return dispatch(_div_scalar_op, (total,), (("divisor", input.numel() // n_classes),))


@defop("valid_target_weight", node=None, dtypes="keep", values=("ignore_index",))
def _valid_target_weight_op(t, w, has_weight, ignore_index):
    """The mean's denominator of label smoothing: the summed weights of non-ignored targets."""
    valid = t != ignore_index
    if has_weight:
        weights = jnp.take(w, jnp.where(valid, t, 0).astype(jnp.int64))
        return jnp.sum(jnp.where(valid, weights, jnp.zeros((), weights.dtype)))
    return jnp.sum(valid).astype(jnp.int64)


def _cross_entropy_smoothing(input, target, weight, reduction, ignore_index, label_smoothing):
    class_dim = _class_dim(input)
    logp = rd.log_softmax(input, class_dim)
    nll = _nll_loss_nd(logp, target, weight, reduction, ignore_index)
    n_classes = input.shape[class_dim]
    if weight is not None:
        smooth = pw.neg(rd.sum(pw.mul(logp, _weight_view(weight, input)), class_dim))
    else:
        smooth = pw.neg(rd.sum(logp, class_dim))
    smooth = smooth.masked_fill_(pw.eq(target, ignore_index), 0.0)
    if reduction == "mean":
        statics = (("has_weight", weight is not None), ("ignore_index", int(ignore_index)))
        denom = dispatch(
            _valid_target_weight_op, (target, 0 if weight is None else weight), statics
        )
        ret = pw.div(rd.sum(smooth), denom)
    elif reduction == "sum":
        ret = rd.sum(smooth)
    else:
        ret = smooth
    left = dispatch(_scale_op, (nll,), (("factor", 1 - label_smoothing),))
    right = dispatch(_scale_op, (ret,), (("factor", label_smoothing / n_classes),))
    return pw.add(left, right)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Compute the cross entropy loss between input logits and target.

    ``target`` holds class indices (int64, the shape of ``input`` without the class dim) or
    class probabilities (floating point, the shape of ``input``). ``weight`` rescales each
    class, ``ignore_index`` skips class-index targets, ``label_smoothing`` mixes the target
    with the uniform distribution.
    """
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(input.shape) == tuple(target.shape):
        if not target.dtype.is_floating_point:
            raise RuntimeError(
                "Expected floating point type for target with class probabilities, got "
                f"{dt.legacy_name(target.dtype)}"
            )
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    if label_smoothing > 0.0:
        if label_smoothing > 1.0:
            raise RuntimeError(
                f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"
            )
        return _cross_entropy_smoothing(
            input, target, weight, reduction, ignore_index, label_smoothing
        )
    return _nll_loss_nd(
        rd.log_softmax(input, _class_dim(input)), target, weight, reduction, ignore_index
    )


# ----- binary cross entropy ---------------------------------------------------------------
@jax.custom_jvp
def _bce_elementwise(x, t):
    one = jnp.ones((), x.dtype)
    floor = jnp.asarray(-100, x.dtype)
    return -(t * jnp.maximum(jnp.log(x), floor) + (one - t) * jnp.maximum(jnp.log(one - x), floor))


@_bce_elementwise.defjvp
def _bce_elementwise_jvp(primals, tangents):
    # PyTorch's rules: d/dx = (x - t) / max(x (1 - x), 1e-12), d/dt = log(1 - x) - log(x).
    (x, t), (dx, dtg) = primals, tangents
    one = jnp.ones((), x.dtype)
    out = _bce_elementwise(x, t)
    # PyTorch's EPSILON is the float 1e-12 (9.99999996e-13 in double precision).
    gx = (x - t) / jnp.maximum((one - x) * x, jnp.asarray(np.float32(1e-12), x.dtype))
    gt = jnp.log(one - x) - jnp.log(x)
    return out, gx * dx + gt * dtg


@defop("binary_cross_entropy", node="BinaryCrossEntropyBackward0", dtypes="keep", edges=(0, 1))
def _binary_cross_entropy_op(x, t, w, has_weight, reduction):
    loss = _bce_elementwise(x, t)
    if has_weight:
        loss = loss * w
    return _apply_reduction(loss, reduction)


@bounded_jit
def _outside_unit(x):
    return jnp.any((x < 0) | (x > 1))


def _check_unit_interval(t: Tensor, what: str) -> None:
    arr = t._data
    if arr.size == 0:
        return
    message = f"all elements of {what} should be between 0 and 1"
    if isinstance(arr, jax.core.Tracer):  # under tapegrad.compile: checked after the call
        defer_check(arr, lambda a: (_outside_unit(a), 0), RuntimeError, lambda _: message)
        return
    if bool(_outside_unit(arr)):
        raise RuntimeError(message)


def _expand_weight(weight: Tensor, shape: tuple) -> None:
    """PyTorch's ``weight.expand(target.size())`` check for binary_cross_entropy."""
    w = tuple(weight.shape)
    if len(w) > len(shape):
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(w)}}}, size={list(shape)}): the number of sizes "
            "provided must be greater or equal to the number of dimensions in the tensor"
        )
    for i in range(1, len(w) + 1):
        if w[-i] != 1 and w[-i] != shape[-i]:
            raise RuntimeError(
                f"Attempting to broadcast a dimension of length {w[-i]} at -{i}! Mismatching "
                f"argument at index 1 had {weight.shape}; but expected shape should be "
                f"broadcastable to {list(shape)}"
            )


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Compute Binary Cross Entropy between the target and input probabilities:
    ``-w * (t * log(x) + (1 - t) * log(1 - x))``, each log clamped at -100 as in PyTorch."""
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}) is deprecated. Please ensure they have the same size."
        )
    if weight is not None:
        _expand_weight(weight, tuple(target.shape))
    if not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"binary_cross_entropy\" not implemented for '{dt.legacy_name(input.dtype)}'"
        )
    for other in (target, weight):
        if other is not None and other.dtype is not input.dtype:
            raise RuntimeError(
                f"Found dtype {dt.legacy_name(other.dtype)} but expected "
                f"{dt.legacy_name(input.dtype)}"
            )
    check_not_requiring_grad("binary_cross_entropy", weight=weight)
    _check_unit_interval(input, "input")
    _check_unit_interval(target, "target")
    statics = (("has_weight", weight is not None), ("reduction", reduction))
    operands = (input, target, 0 if weight is None else weight)
    return dispatch(_binary_cross_entropy_op, operands, statics)


@defop(
    "binary_cross_entropy_with_logits",
    node="BinaryCrossEntropyWithLogitsBackward0",
    dtypes="keep",
    edges=(0, 1),
)
def _bce_with_logits_op(x, t, w, pos_w, has_weight, has_pos_weight, reduction):
    # PyTorch computes ``(1 - target).mul_(input).sub_(log_sigmoid)`` in place in a tensor of
    # the target's dtype: the loss has the target's dtype.
    log_sig = jax.nn.log_sigmoid(x)
    if has_pos_weight:
        log_sig = log_sig * ((pos_w - 1) * t + 1).astype(x.dtype)
    cdt = jnp.promote_types(x.dtype, t.dtype)
    loss = ((1 - t).astype(cdt) * x.astype(cdt) - log_sig.astype(cdt)).astype(t.dtype)
    if has_weight:
        loss = (loss * w).astype(t.dtype)
    return _apply_reduction(loss, reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Compute Binary Cross Entropy between target and input logits, stably:
    ``-w * (pos_weight * t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x)))``."""
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Target size ({target.shape}) must be the same as input size ({input.shape})"
        )
    check_not_requiring_grad(
        "binary_cross_entropy_with_logits", weight=weight, pos_weight=pos_weight
    )
    if not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"log_sigmoid_cpu\" not implemented for '{dt.legacy_name(input.dtype)}'"
        )
    shape = tuple(input.shape)
    if pos_weight is not None:
        err = broadcast_error([tuple(pos_weight.shape), tuple(target.shape)])
        if err is not None:
            raise err
        # PyTorch's composite multiplies the loss in place by these (``loss.mul_(...)``)
        check_broadcast_into(shape, tuple(np.broadcast_shapes(pos_weight.shape, shape)))
    result = dt.result_type(input, target)
    if not target.dtype.is_floating_point:
        raise RuntimeError(
            f"result type {dt.legacy_name(result)} can't be cast to the desired output type "
            f"{dt.legacy_name(target.dtype)}"
        )
    if weight is not None:
        check_broadcast_into(shape, tuple(weight.shape))
    statics = (
        ("has_weight", weight is not None),
        ("has_pos_weight", pos_weight is not None),
        ("reduction", reduction),
    )
    operands = (
        input,
        target,
        0 if weight is None else weight,
        0 if pos_weight is None else pos_weight,
    )
    return dispatch(_bce_with_logits_op, operands, statics)


__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]
