"""Convolutions: conv1d and conv2d (PyTorch's ``ConvolutionBackward0``), via
``jax.lax.conv_general_dilated``, with PyTorch's argument checks and error texts."""

from __future__ import annotations

from jax import lax

from tapegrad._dtype import legacy_name
from tapegrad._ops._registry import defop, dispatch
from tapegrad._ops.padding import pad
from tapegrad._tensor import Tensor

_DIMENSION_NUMBERS = {1: ("NCH", "OIH", "NCH"), 2: ("NCHW", "OIHW", "NCHW")}
# The C++ type names PyTorch's bias type check prints.
_C_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int"}


def _conv_saves(mask: tuple) -> list:
    # ConvolutionBackward0 saves input and weight (the bias gradient needs neither).
    return [0, 1]


@defop("convolution", node="ConvolutionBackward0", dtypes="keep", saves=_conv_saves)
def _convolution_op(x, w, b, stride, padding, dilation, groups, has_bias):
    nd = x.ndim - 2
    out = lax.conv_general_dilated(
        x,
        w,
        window_strides=stride,
        padding=padding,
        rhs_dilation=dilation,
        dimension_numbers=_DIMENSION_NUMBERS[nd],
        feature_group_count=groups,
    )
    if has_bias:
        out = out + b.reshape((1, -1) + (1,) * nd)
    return out


def _int_list(value, name: str, fn: str) -> list[int]:
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    raise TypeError(f"{fn}(): argument '{name}' must be tuple of ints, not {type(value).__name__}")


def _expand(values: list[int], name: str, dim: int, fn_nd: int) -> tuple[int, ...]:
    """PyTorch's ``expand_param_if_needed``: one value per spatial dim."""
    if len(values) == 1:
        values = values * fn_nd
    if len(values) != dim and len(values) != 1:
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {dim} values to match "
            f"the convolution dimensions, but got {name}={values}"
        )
    return tuple(values * dim if len(values) == 1 else values)


def _same_padding(kernel: tuple, dilation: tuple) -> tuple:
    # PyTorch pads the extra element of an odd total on the right.
    pads = []
    for k, d in zip(kernel, dilation, strict=True):
        total = d * (k - 1)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def _c_name(dtype) -> str:
    return _C_NAMES.get(dtype.name, dtype.name)


def _check_same_type(input: Tensor, weight: Tensor, bias: Tensor | None, unbatched: bool) -> None:
    if input.dtype is not weight.dtype:
        if unbatched:
            raise RuntimeError(
                f"expected scalar type {legacy_name(input.dtype)} but found "
                f"{legacy_name(weight.dtype)}"
            )
        raise RuntimeError(
            f"Input type (torch.{legacy_name(input.dtype)}Tensor) and weight type "
            f"(torch.{legacy_name(weight.dtype)}Tensor) should be the same or input should be a "
            "MKLDNN tensor and weight is a dense tensor"
        )
    if bias is not None and bias.dtype is not input.dtype:
        raise RuntimeError(
            f"Input type ({_c_name(input.dtype)}) and bias type ({_c_name(bias.dtype)}) should "
            "be the same"
        )


def _check_shapes(x: tuple, w: tuple, bias, padding, stride, dilation, groups: int) -> None:
    """PyTorch's ``check_shape_forward`` for a batched input."""
    if isinstance(padding, tuple) and any(p < 0 for pair in padding for p in pair):
        raise RuntimeError("negative padding is not supported")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")
    if len(w) != len(x):
        raise RuntimeError(
            f"Expected {len(w)}-dimensional input for {len(w)}-dimensional weight {list(w)}, but "
            f"got {len(x)}-dimensional input of size {list(x)} instead"
        )
    if w[0] < groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, but "
            f"got weight of size {list(w)} instead"
        )
    if w[0] % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{list(w)}] instead"
        )
    if x[1] != w[1] * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(w)}, expected input{list(x)} to have "
            f"{w[1] * groups} channels, but got {x[1]} channels instead"
        )
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != w[0]):
        raise RuntimeError(
            f"Given weight of size {list(w)}, expected bias to be 1-dimensional with {w[0]} "
            f"elements, but got bias of size {list(bias.shape)} instead"
        )
    padded = [n + lo + hi for n, (lo, hi) in zip(x[2:], padding, strict=True)]
    kernel = [d * (k - 1) + 1 for k, d in zip(w[2:], dilation, strict=True)]
    if any(p < k for p, k in zip(padded, kernel, strict=True)):
        # PyTorch prints the symmetric padding it adds on each side, twice.
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, kernel))}). Kernel size can't be greater than "
            "actual input size"
        )


def _conv(nd: int, input: Tensor, weight: Tensor, bias, stride, padding, dilation, groups):
    name = f"conv{nd}d"
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got "
            f"input of size: {list(input.shape)}"
        )
    unbatched = input.ndim == nd + 1
    if unbatched:
        input = input.unsqueeze(0)
    wdim = weight.ndim - 2
    if wdim <= 0:
        raise RuntimeError("weight should have at least three dimensions")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    stride = _expand(_int_list(stride, "stride", name), "stride", wdim, nd)
    if not isinstance(padding, str):
        pads = _expand(_int_list(padding, "padding", name), "padding", wdim, nd)
    dilation = _expand(_int_list(dilation, "dilation", name), "dilation", wdim, nd)
    if not isinstance(padding, str):
        pads = tuple((p, p) for p in pads)
    elif padding == "valid":
        pads = ((0, 0),) * wdim
    elif padding == "same":
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        pads = _same_padding(tuple(weight.shape[2:]), dilation)
        if any(lo != hi for lo, hi in pads):
            # PyTorch pads the extra element on the right with a copy (ConstantPadNdBackward0).
            extra = [n for lo, hi in reversed(pads) for n in (0, hi - lo)]
            input = pad(input, extra)
            pads = tuple((lo, lo) for lo, _ in pads)
    else:
        raise RuntimeError(f"Invalid padding string: '{padding}'")
    _check_shapes(
        tuple(input.shape), tuple(weight.shape), bias, pads, stride, dilation, int(groups)
    )
    _check_same_type(input, weight, bias, unbatched)
    statics = (
        ("stride", stride),
        ("padding", pads),
        ("dilation", dilation),
        ("groups", int(groups)),
        ("has_bias", bias is not None),
    )
    out = dispatch(_convolution_op, (input, weight, 0 if bias is None else bias), statics)
    return out.squeeze(0) if unbatched else out


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    """Applies a 1D convolution over an input signal composed of several input planes.

    ``input`` is ``(minibatch, in_channels, iW)`` or unbatched ``(in_channels, iW)``, ``weight``
    is ``(out_channels, in_channels / groups, kW)``; ``padding`` may be ``'valid'`` or
    ``'same'``.
    """
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    """Applies a 2D convolution over an input image composed of several input planes.

    ``input`` is ``(minibatch, in_channels, iH, iW)`` or unbatched ``(in_channels, iH, iW)``,
    ``weight`` is ``(out_channels, in_channels / groups, kH, kW)``; ``padding`` may be
    ``'valid'`` or ``'same'``.
    """
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)
