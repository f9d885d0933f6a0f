"""2-D pooling: max_pool2d, avg_pool2d and adaptive_avg_pool2d with PyTorch's output sizes
(``ceil_mode``, padding, dilation), gradients, node names and error texts."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from tapegrad._dtype import legacy_name
from tapegrad._ops._registry import defop, dispatch
from tapegrad._tensor import Tensor


def _lowest(dtype):
    if jnp.issubdtype(dtype, jnp.floating):
        return jnp.array(-jnp.inf, dtype)
    return jnp.array(jnp.iinfo(dtype).min, dtype)


def _windows(x, kernel, stride, padding, dilation, out_hw, fill):
    """The pooling windows of the last two dims: an array ``(..., oH, oW, kH * kW)`` of the
    padded input, one slice per kernel offset (XLA fuses the slices)."""
    h, w = x.shape[-2:]
    pads = []
    for n, k, s, p, d, o in zip((h, w), kernel, stride, padding, dilation, out_hw, strict=True):
        extent = (o - 1) * s + d * (k - 1) + 1
        pads.append((p, max(0, extent - n - p)))
    xp = jnp.pad(x, [(0, 0)] * (x.ndim - 2) + pads, constant_values=fill)
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    parts = [
        xp[..., i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    ]
    return jnp.stack(parts, axis=-1)


def _max_pool(x, kernel, stride, padding, dilation, out_hw):
    patches = _windows(x, kernel, stride, padding, dilation, out_hw, _lowest(x.dtype))
    # The first maximum of each window (NaN counts as the maximum), as PyTorch's kernel picks.
    k = jnp.argmax(patches, axis=-1, keepdims=True)
    out = jnp.take_along_axis(patches, k, axis=-1)[..., 0]
    k = k[..., 0]
    kw = kernel[1]
    oh = jnp.arange(out_hw[0]).reshape(-1, 1)
    ow = jnp.arange(out_hw[1]).reshape(1, -1)
    row = oh * stride[0] - padding[0] + (k // kw) * dilation[0]
    col = ow * stride[1] - padding[1] + (k % kw) * dilation[1]
    return out, (row * x.shape[-1] + col).astype(jnp.int64)


@defop("max_pool2d", node="MaxPool2DWithIndicesBackward0", dtypes="keep")
def _max_pool2d_op(x, kernel, stride, padding, dilation, out_hw):
    return _max_pool(x, kernel, stride, padding, dilation, out_hw)[0]


@defop(
    "max_pool2d_with_indices",
    node="MaxPool2DWithIndicesBackward0",
    dtypes="keep",
    n_out=2,
    diff_out=(0,),
)
def _max_pool2d_with_indices_op(x, kernel, stride, padding, dilation, out_hw):
    return _max_pool(x, kernel, stride, padding, dilation, out_hw)


def _avg_divisor(size, kernel, stride, padding, out, count_include_pad):
    """PyTorch's per-window divisor along one dim (a NumPy constant, from shapes only)."""
    start = np.arange(out) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    pool = end - start
    if count_include_pad:
        return pool
    return np.minimum(end, size) - np.maximum(start, 0)


@defop("avg_pool2d", node="AvgPool2DBackward0", dtypes="keep", values=("divisor_override",))
def _avg_pool2d_op(
    x, kernel, stride, padding, out_hw, count_include_pad, overridden, divisor_override
):
    # Whether the divisor is overridden is static, the override itself a runtime value.
    h, w = x.shape[-2:]
    pads = [(0, 0)] * (x.ndim - 2)
    for n, k, s, p, o in zip((h, w), kernel, stride, padding, out_hw, strict=True):
        pads.append((p, max(0, (o - 1) * s + k - n - p)))
    window = (1,) * (x.ndim - 2) + tuple(kernel)
    strides = (1,) * (x.ndim - 2) + tuple(stride)
    total = lax.reduce_window(x, np.zeros((), x.dtype), lax.add, window, strides, pads)
    total = total[..., : out_hw[0], : out_hw[1]]
    if overridden:
        divisor = jnp.full(out_hw, divisor_override)
    else:
        dh = _avg_divisor(h, kernel[0], stride[0], padding[0], out_hw[0], count_include_pad)
        dw = _avg_divisor(w, kernel[1], stride[1], padding[1], out_hw[1], count_include_pad)
        divisor = np.outer(dh, dw)
    divisor = jnp.asarray(divisor, x.dtype)
    if jnp.issubdtype(x.dtype, jnp.integer):
        # C++ integer division truncates toward zero, as PyTorch computes integer averages.
        return lax.div(total, jnp.broadcast_to(divisor, total.shape))
    return total / divisor


def _adaptive_matrix(size: int, out: int, dtype) -> np.ndarray:
    """Row i averages input[floor(i * size / out) : ceil((i + 1) * size / out)]."""
    m = np.zeros((out, size), dtype)
    for i in range(out):
        start = (i * size) // out
        end = -(-((i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


@defop("adaptive_avg_pool2d", node="AdaptiveAvgPool2DBackward0", dtypes="keep")
def _adaptive_avg_pool2d_op(x, out_hw):
    h, w = x.shape[-2:]
    mh = jnp.asarray(_adaptive_matrix(h, out_hw[0], x.dtype))
    mw = jnp.asarray(_adaptive_matrix(w, out_hw[1], x.dtype))
    hi = lax.Precision.HIGHEST
    y = jnp.einsum("...hw,ow->...ho", x, mw, precision=hi)
    return jnp.einsum("...hw,oh->...ow", y, mh, precision=hi)


# ----- argument handling, with PyTorch's checks ------------------------------------------------
def _ints(value, fn: str, what: str, allow_empty: bool = False) -> tuple[int, ...]:
    values = tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else (int(value),)
    if not (len(values) in (1, 2) or (allow_empty and not values)):
        if what == "kernel_size":
            raise RuntimeError(
                f"{fn}: kernel_size must either be a single int, or a tuple of two ints"
            )
        if what == "stride":
            raise RuntimeError(
                f"{fn}: stride must either be omitted, a single int, or a tuple of two ints"
            )
        if what == "padding":
            raise RuntimeError(f"{fn}: padding must either be a single int, or a tuple of two ints")
        raise RuntimeError(f"{fn}: dilation must be either a single int, or a tuple of two ints")
    return values if len(values) != 1 else values * 2


def _output_size(size, kernel, pad, stride, dilation, ceil_mode) -> int:
    """PyTorch's ``pooling_output_shape``."""
    if stride == 0:
        raise RuntimeError("stride should not be zero")
    if pad < 0:
        raise RuntimeError(f"pad must be non-negative, but got pad: {pad}")
    if pad > ((kernel - 1) * dilation + 1) // 2:
        raise RuntimeError(
            f"pad should be at most half of effective kernel size, but got pad={pad}, "
            f"kernel_size={kernel} and dilation={dilation}"
        )
    span = size + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1  # the last window must start inside the input or the left padding
    return out


def _pool_shape_check(input: Tensor, kernel, stride, padding, dilation, out_hw) -> None:
    """PyTorch's ``pool2d_shape_check``."""
    kh, kw = kernel
    if kh <= 0 or kw <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kH: {kh} kW: {kw}")
    if stride[0] <= 0 or stride[1] <= 0:
        raise RuntimeError(
            f"stride should be greater than zero, but got dH: {stride[0]} dW: {stride[1]}"
        )
    if dilation[0] <= 0 or dilation[1] <= 0:
        raise RuntimeError(
            "dilation should be greater than zero, but got dilationH: "
            f"{dilation[0]} dilationW: {dilation[1]}"
        )
    shape = tuple(input.shape)
    ndim = len(shape)
    valid = shape[-3] != 0 and shape[-2] != 0
    if not ((ndim == 3 and shape[0] != 0 and valid) or (ndim == 4 and valid and shape[3] != 0)):
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but "
            f"got:{list(shape)}"
        )
    if kw // 2 < padding[1] or kh // 2 < padding[0]:
        raise RuntimeError(
            "pad should be smaller than or equal to half of kernel size, but got "
            f"padW = {padding[1]}, padH = {padding[0]}, kW = {kw}, kH = {kh}"
        )
    if out_hw[0] < 1 or out_hw[1] < 1:
        c, h, w = shape[-3:]
        raise RuntimeError(
            f"Given input size: ({c}x{h}x{w}). Calculated output size: "
            f"({c}x{out_hw[0]}x{out_hw[1]}). Output size is too small"
        )


def max_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """Applies a 2D max pooling over an input signal composed of several input planes.

    With ``return_indices=True`` also returns, per output element, the flat index (``h * W +
    w``) of the chosen maximum in its input plane, as ``max_unpool2d`` takes it.
    """
    kernel = _ints(kernel_size, "max_pool2d", "kernel_size")
    stride = kernel if stride is None else _ints(stride, "max_pool2d", "stride", True) or kernel
    padding = _ints(padding, "max_pool2d", "padding")
    dilation = _ints(dilation, "max_pool2d", "dilation")
    if input.ndim not in (3, 4):
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    h, w = input.shape[-2:]
    out_hw = (
        _output_size(h, kernel[0], padding[0], stride[0], dilation[0], ceil_mode),
        _output_size(w, kernel[1], padding[1], stride[1], dilation[1], ceil_mode),
    )
    _pool_shape_check(input, kernel, stride, padding, dilation, out_hw)
    statics = (
        ("kernel", kernel),
        ("stride", stride),
        ("padding", padding),
        ("dilation", dilation),
        ("out_hw", out_hw),
    )
    if return_indices:
        return dispatch(_max_pool2d_with_indices_op, (input,), statics)
    return dispatch(_max_pool2d_op, (input,), statics)


def avg_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Applies 2D average-pooling operation in ``kH x kW`` regions by step size ``sH x sW``.

    ``count_include_pad`` counts the zero padding in the averaging divisor;
    ``divisor_override`` replaces the divisor.
    """
    kernel = _ints(kernel_size, "avg_pool2d", "kernel_size")
    stride = kernel if stride is None else _ints(stride, "avg_pool2d", "stride", True) or kernel
    padding = _ints(padding, "avg_pool2d", "padding")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    if input.ndim < 3:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-max(input.ndim, 1)}, "
            f"{max(input.ndim, 1) - 1}], but got -3)"
        )
    h, w = input.shape[-2:]
    out_hw = (
        _output_size(h, kernel[0], padding[0], stride[0], 1, ceil_mode),
        _output_size(w, kernel[1], padding[1], stride[1], 1, ceil_mode),
    )
    _pool_shape_check(input, kernel, stride, padding, (1, 1), out_hw)
    statics = (
        ("kernel", kernel),
        ("stride", stride),
        ("padding", padding),
        ("out_hw", out_hw),
        ("count_include_pad", bool(count_include_pad)),
        ("overridden", divisor_override is not None),
        ("divisor_override", 0 if divisor_override is None else int(divisor_override)),
    )
    return dispatch(_avg_pool2d_op, (input,), statics)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Applies a 2D adaptive average pooling over an input signal composed of several input
    planes: output cell ``i`` averages input rows ``floor(i * H / oH)`` to
    ``ceil((i + 1) * H / oH)`` (and likewise for columns). ``None`` keeps the input's size."""
    shape = tuple(input.shape)
    if isinstance(output_size, int):
        out = (output_size, output_size)
    else:
        output_size = tuple(output_size)
        if len(shape) <= len(output_size):
            raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")
        defaults = shape[-len(output_size) :]
        out = tuple(d if v is None else int(v) for v, d in zip(output_size, defaults, strict=True))
    if len(out) != 2:
        raise RuntimeError("adaptive_avg_pool2d: output_size must be 2")
    if out[0] < 0 or out[1] < 0:
        raise RuntimeError(
            "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 "
            f"but received {{{out[0]}, {out[1]}}}"
        )
    if out == (1, 1):
        from tapegrad._ops.reduction import mean

        return mean(input, (-1, -2), keepdim=True)  # PyTorch's shortcut (MeanBackward1)
    for i in (-2, -1):
        if len(shape) >= -i and shape[i] <= 0:
            raise RuntimeError(
                "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch "
                f"dimensions, but input has sizes {list(shape)} with dimension {i + len(shape)} "
                "being empty"
            )
    if len(shape) not in (3, 4):
        raise RuntimeError(
            f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(shape)}"
        )
    if not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"adaptive_avg_pool2d\" not implemented for '{legacy_name(input.dtype)}'"
        )
    return dispatch(_adaptive_avg_pool2d_op, (input,), (("out_hw", out),))
