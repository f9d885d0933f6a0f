"""pad: constant, reflect, replicate and circular padding of the last dims, with PyTorch's
node names (``ConstantPadNdBackward0``, ``ReflectionPad2DBackward0`` ...) and errors."""

from __future__ import annotations

import jax.numpy as jnp

from tapegrad._ops._registry import defop, dispatch
from tapegrad._tensor import Tensor

UNSUPPORTED = (
    "Padding size {} is not supported for {}D input tensor.\n"
    "Supported combinations for non-constant padding:\n"
    "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
    "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
    "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
)
_JNP_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}


def _crop(x, pads):
    """Negative pads remove elements."""
    index = tuple(slice(max(0, -lo), x.shape[i] - max(0, -hi)) for i, (lo, hi) in enumerate(pads))
    return x[index]


def _pad_fn(x, pads, mode, value):
    positive = [(max(0, lo), max(0, hi)) for lo, hi in pads]
    if mode == "circular":  # PyTorch crops first, then wraps what is left
        return jnp.pad(_crop(x, pads), positive, mode="wrap")
    if mode == "constant":  # ``value`` is a runtime value here
        fill = jnp.asarray(value).astype(x.dtype)
        return _crop(jnp.pad(x, positive, constant_values=fill), pads)
    return _crop(jnp.pad(x, positive, mode=_JNP_MODES[mode]), pads)


_constant_pad_op = defop(
    "pad_constant", node="ConstantPadNdBackward0", dtypes="keep", linear=True, values=("value",)
)(_pad_fn)
# PyTorch composes circular padding from slice copies; its last node is CopySlices.
_circular_pad_op = defop("pad_circular", node="CopySlices", dtypes="keep", linear=True)(_pad_fn)
_MODE_OPS = {
    (mode, k): defop(f"{mode}_pad{k}d", node=f"{name}Pad{k}DBackward0", dtypes="keep")(_pad_fn)
    for mode, name in (("reflect", "Reflection"), ("replicate", "Replication"))
    for k in (1, 2, 3)
}


def _check_non_constant(input: Tensor, mode: str, pad: tuple) -> None:
    shape = tuple(input.shape)
    k = len(pad) // 2
    if mode == "circular":
        for i in range(k):
            size = shape[-1 - i]
            if pad[2 * i] > size or pad[2 * i + 1] > size:
                raise RuntimeError("Padding value causes wrapping around more than once.")
        return
    non_batch = shape[1:] if len(shape) == k + 2 else shape
    if 0 in non_batch:
        raise RuntimeError(
            f"Expected {k + 1}D or {k + 2}D (batch mode) tensor with possibly 0 batch size and "
            f"other non-zero dimensions for input, but got: {list(shape)}"
        )
    if mode == "reflect":
        for i in range(k):
            lo, hi = pad[2 * i], pad[2 * i + 1]
            dim = len(shape) - 1 - i
            if lo >= shape[dim] or hi >= shape[dim]:
                raise RuntimeError(
                    f"Argument #{4 + 2 * i}: Padding size should be less than the corresponding "
                    f"input dimension, but got: padding ({lo}, {hi}) at dimension {dim} of input "
                    f"{list(shape)}"
                )


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pads tensor.

    ``pad`` lists ``(left, right)`` sizes starting from the last dimension and moving forward:
    ``(padding_left, padding_right, padding_top, padding_bottom, ...)``; negative sizes crop.
    ``mode`` is ``'constant'`` (filled with ``value``, default 0), ``'reflect'``,
    ``'replicate'`` or ``'circular'`` (the last three pad 1 to 3 trailing dims of a batched or
    unbatched input).
    """
    pad = tuple(pad)
    for i, p in enumerate(pad):
        if not isinstance(p, int) or isinstance(p, bool):
            raise TypeError(
                "pad(): argument 'pad' (position 2) must be tuple of ints, but found element of "
                f"type {type(p).__name__} at pos {i}"
            )
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    ndim = input.ndim
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) > 2 * ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {ndim}"
        )
    k = len(pad) // 2
    pairs = [(0, 0)] * (ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]
    pairs = tuple(pairs)
    if mode == "constant":
        for size, (lo, hi) in zip(input.shape, pairs, strict=True):
            if size + min(lo, 0) + min(hi, 0) < 0:  # PyTorch crops (narrows) first
                raise RuntimeError("narrow(): length must be non-negative.")
        # PyTorch's value is a double, cast into the tensor's dtype as fill_ casts it.
        statics = (
            ("pads", pairs),
            ("mode", mode),
            ("value", 0.0 if value is None else float(value)),
        )
        return dispatch(_constant_pad_op, (input,), statics)
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if k not in (1, 2, 3) or ndim not in (k + 1, k + 2):
        raise NotImplementedError(UNSUPPORTED.format(len(pad), ndim))
    _check_non_constant(input, mode, pad)
    op = _circular_pad_op if mode == "circular" else _MODE_OPS[(mode, k)]
    return dispatch(op, (input,), (("pads", pairs), ("mode", mode), ("value", 0.0)))
