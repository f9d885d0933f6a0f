"""What cannot run while tapegrad code is traced by JAX (``tapegrad.compile``, ``jax.jit``).

A tensor traced by JAX holds an abstract value: reading it back as a Python or NumPy value
(``.item()``, ``.tolist()``, ``print``, ``if tensor:``) is impossible. ``host_value`` raises
``UntraceableError`` naming the user's line and the fix, instead of JAX's deep error.
"""

from __future__ import annotations

import linecache
import os
import sys

import numpy as np
from jax.core import Tracer

__all__ = ["UntraceableError", "host_value"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Frames from these places are never the user's line.
_SKIP = (_PACKAGE_DIR, os.path.dirname(os.path.abspath(np.__file__)))

# How many tapegrad.compile traces are running (set by tapegrad.compile).
compile_depth = 0

# Bumped whenever the state tapegrad.compile lifts may have changed its layout: a module
# attribute set or deleted (a parameter, buffer, submodule or ``training``), a tensor's storage
# swapped (``x.data = y``) or its ``requires_grad`` changed. While it stands still, a compiled
# function's next call reuses the last call's layout instead of walking every module again.
structure_version = [0]


class UntraceableError(RuntimeError):
    """Code that needs a tensor's value ran where the value is not known: inside
    ``tapegrad.compile`` (or a ``jax.jit`` of tapegrad code)."""


def _user_line() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith(_SKIP) and "/jax/" not in path and "/jax_" not in path:
            source = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
            where = f'File "{frame.f_code.co_filename}", line {frame.f_lineno}, in '
            where += frame.f_code.co_name
            return f"{where}: {source}" if source else where
        frame = frame.f_back
    return "an unknown line"


_FIX = {
    "item": "return the tensor from the compiled function and call .item() on the result",
    "tolist": "return the tensor from the compiled function and call .tolist() on the result",
    "numpy": "return the tensor from the compiled function and convert the result",
    "print": "return the tensor from the compiled function and print the result",
    "bool": (
        "use tapegrad.where(cond, a, b) instead of a Python if on a tensor's value, or move the "
        "branch out of the compiled function"
    ),
    "number": "keep the value a tensor, or return it from the compiled function",
    "shape": (
        "the result's shape depends on the tensor's values: use tapegrad.where(mask, x, 0) or "
        "masked_fill instead, or move this out of the compiled function"
    ),
}


def untraceable(kind: str, what: str) -> UntraceableError:
    """The error for ``what`` (e.g. ``Tensor.item()``) reached inside a trace."""
    fix = _FIX[kind]
    if compile_depth:
        context = "tapegrad.compile traces this function with abstract values"
        fallback = "; or compile with fullgraph=False to run this function eagerly"
    else:
        context = "this tapegrad code runs inside a JAX transformation (jax.jit, jax.grad, ...)"
        fallback = ""
    return UntraceableError(
        f"{what} needs a tensor's value, which is not known here: {context}. "
        f"At {_user_line()}. Fix: {fix}{fallback}."
    )


def host_value(array, kind: str, what: str) -> np.ndarray:
    """``array`` as a NumPy array, or the clear error when it is a JAX tracer."""
    if isinstance(array, Tracer):
        raise untraceable(kind, what)
    return np.asarray(array)
