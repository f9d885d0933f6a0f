"""Tensor printing that reproduces PyTorch's ``repr(tensor)`` character for character.

The rules follow ``torch/_tensor_str.py``: one formatter per tensor decides a common width and
whether floats print as integers (``1.``), in fixed point (``1.5000``) or in scientific notation
(``1.0000e-05``); large tensors are summarized with ``...``; long rows wrap at ``linewidth``; and
``dtype=``/``device=``/``grad_fn=`` suffixes follow the values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from tapegrad import _dtype

__all__ = ["get_printoptions", "printoptions", "set_printoptions", "tensor_repr"]


@dataclasses.dataclass
class _PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


_OPTS = _PrintOptions()

_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Set the options used to print tensors, with ``torch.set_printoptions``'s semantics.

    Args:
        precision: digits after the decimal point for floats (default 4).
        threshold: element count above which tensors are summarized (default 1000).
        edgeitems: items shown at each end of a summarized dimension (default 3).
        linewidth: characters per line before rows wrap (default 80).
        profile: ``"default"``, ``"short"`` or ``"full"``; applied first, then the other
            arguments override it. An unknown name is ignored, as in PyTorch.
        sci_mode: force (True) or forbid (False) scientific notation; None lets the formatter
            choose. Unlike the other options, it is always set, so omitting it resets it.
    """
    if profile in _PROFILES:
        for name, value in _PROFILES[profile].items():
            setattr(_OPTS, name, value)
    if precision is not None:
        _OPTS.precision = precision
    if threshold is not None:
        _OPTS.threshold = threshold
    if edgeitems is not None:
        _OPTS.edgeitems = edgeitems
    if linewidth is not None:
        _OPTS.linewidth = linewidth
    _OPTS.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The current print options, as keyword arguments for ``set_printoptions``."""
    return dataclasses.asdict(_OPTS)


@contextlib.contextmanager
def printoptions(**kwargs: Any) -> Iterator[None]:
    """Temporarily change the print options; takes ``set_printoptions``'s arguments."""
    saved = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**saved)


class _Formatter:
    """Formats every element of one tensor to a common width, as ``torch._tensor_str`` does."""

    def __init__(self, sample: np.ndarray, floating: bool) -> None:
        # ``sample`` holds the elements that will be shown (the summarized data if summarizing).
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        if not floating:
            self.width = max([1, *(len(str(v)) for v in sample.ravel().tolist())])
            return
        flat = sample.ravel()
        shown = flat[np.isfinite(flat) & (flat != 0)]
        if shown.size == 0:
            return  # only zeros, nans and infs: integer mode, width 1
        magnitudes = np.abs(shown)
        # Python floats: their ratio may overflow to inf (then sci mode), as in PyTorch.
        smallest, largest = float(magnitudes.min()), float(magnitudes.max())
        self.int_mode = bool(np.all(shown == np.ceil(shown)))
        if _OPTS.sci_mode is None:
            self.sci_mode = bool(
                largest / smallest > 1000.0 or largest > 1.0e8 or smallest < 1.0e-4
            )
        else:
            self.sci_mode = _OPTS.sci_mode
        values = shown.tolist()
        precision = _OPTS.precision
        if self.sci_mode:
            widths = (len(f"{v:.{precision}e}") for v in values)
        elif self.int_mode:
            widths = (len(f"{v:.0f}") + 1 for v in values)  # + 1 for the trailing "."
        else:
            widths = (len(f"{v:.{precision}f}") for v in values)
        self.width = max(widths)

    def format(self, value: float | bool) -> str:
        """One element, right-aligned to the common width."""
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.width}.{_OPTS.precision}e}"
        elif self.int_mode:
            text = f"{value:.0f}"
            if math.isfinite(value):
                text += "."
        else:
            text = f"{value:.{_OPTS.precision}f}"
        return text.rjust(self.width)


def _summarized(values: np.ndarray) -> np.ndarray:
    """The elements a summarized print shows: ``edgeitems`` at each end of every dimension."""
    edge = _OPTS.edgeitems
    index = []
    for size in values.shape:
        if size > 2 * edge:
            index.append(np.r_[0:edge, size - edge : size])
        else:
            index.append(np.arange(size))
    return values[np.ix_(*index)] if index else values


def _vector_str(row: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    edge = _OPTS.edgeitems
    if summarize and not edge:
        items = ["..."]
    elif summarize and row.shape[0] > 2 * edge:
        items = [
            *(fmt.format(v) for v in row[:edge].tolist()),
            " ...",
            *(fmt.format(v) for v in row[-edge:].tolist()),
        ]
    else:
        items = [fmt.format(v) for v in row.tolist()]
    # Each element takes its width plus ", ".
    per_line = max(1, math.floor((_OPTS.linewidth - indent) / (fmt.width + 2)))
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _values_str(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if values.ndim == 0:
        return fmt.format(values.item())
    if values.ndim == 1:
        return _vector_str(values, indent, summarize, fmt)
    edge = _OPTS.edgeitems
    size = values.shape[0]
    if summarize and size > 2 * edge:
        rows = [*range(edge), None, *range(size - edge, size)]
    else:
        rows = list(range(size))
    parts = [
        "..." if i is None else _values_str(values[i], indent + 1, summarize, fmt) for i in rows
    ]
    # Blocks of a k-d tensor are separated by k - 1 newlines (blank lines from 3-d up).
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    # PyTorch's line-length estimate, off by a couple of characters, is kept for parity.
    line_len = len(text) - text.rfind("\n") + 1
    out = [text]
    for suffix in suffixes:
        if line_len + len(suffix) + 2 > _OPTS.linewidth:
            out.append(",\n" + " " * indent + suffix)
            line_len = indent + len(suffix)
        else:
            out.append(", " + suffix)
            line_len += len(suffix) + 2
    out.append(")")
    return "".join(out)


def tensor_repr(
    values: np.ndarray,
    dtype: _dtype.dtype,
    *,
    device: str | None = None,
    requires_grad: bool = False,
    grad_fn_name: str | None = None,
    prefix: str = "tensor(",
) -> str:
    """PyTorch's ``repr`` of a tensor holding ``values`` (a host array of the tensor's shape).

    Args:
        values: the tensor's values; float16/bfloat16 arrays are accepted as they are.
        dtype: the tensor's tapegrad dtype; it decides the ``dtype=`` suffix and float formatting.
        device: printed as ``device='...'`` unless None or ``"cpu"``.
        requires_grad: adds ``requires_grad=True`` when no ``grad_fn_name`` is given.
        grad_fn_name: the name of the tensor's backward node, printed as ``grad_fn=<name>``.
        prefix: the text before the values; continuation lines are indented to its length.
    """
    values = np.asarray(values)
    floating = dtype.is_floating_point
    # Python scalars format exactly as PyTorch's ``item()``/``tolist()`` results do.
    if floating:
        values = values.astype(np.float64)
    else:
        values = values.astype(np.bool_ if dtype.name == "bool" else np.int64)
    indent = len(prefix)
    default_name = _dtype.get_default_dtype().name
    size = "size=" + str(tuple(values.shape))
    suffixes = []
    if device is not None and device != "cpu":
        suffixes.append(f"device='{device}'")
    if values.size == 0:
        body = "[]"
        if values.ndim != 1:
            suffixes.append(size)
        # An empty tensor has no elements to hint at its dtype, so only the default is implied.
        if dtype.name != default_name:
            suffixes.append(f"dtype={dtype!r}")
    else:
        if not _OPTS.edgeitems:
            suffixes.append(size)
        if dtype.name not in (default_name, "int64", "bool"):
            suffixes.append(f"dtype={dtype!r}")
        summarize = values.size > _OPTS.threshold
        sample = _summarized(values) if summarize else values
        body = _values_str(values, indent, summarize, _Formatter(sample, floating))
    if grad_fn_name is not None:
        suffixes.append(f"grad_fn=<{grad_fn_name}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
