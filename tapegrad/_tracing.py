"""What cannot run while tapegrad code is traced by JAX (``tapegrad.compile``, ``jax.jit``).

A tensor traced by JAX holds an abstract value: reading it back as a Python or NumPy value
(``.item()``, ``.tolist()``, ``print``, ``if tensor:``) is impossible. ``host_value`` raises
``UntraceableError`` naming the user's line and the fix, instead of JAX's deep error.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from jax.core import Tracer

__all__ = ["UntraceableError", "capture", "capturing", "defer_check", "host_value"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Frames from these places are never the user's line.
_SKIP = (_PACKAGE_DIR, os.path.dirname(os.path.abspath(np.__file__)))

# Bumped whenever the state tapegrad.compile lifts may have changed its layout: a module
# attribute set or deleted (a parameter, buffer, submodule or ``training``), a tensor's storage
# swapped (``x.data = y``) or its ``requires_grad`` changed. While it stands still, a compiled
# function's next call reuses the last call's layout instead of walking every module again.
structure_version = [0]


class _Capture(threading.local):
    """The ``tapegrad.compile`` trace running in this thread, which the owners of state
    consult instead of being patched (another thread, running eagerly or tracing its own
    program, sees its own capture):

    - ``depth``: how many compile traces run (a nested compiled function is traced inline);
    - ``trace``: the JAX trace of the program (None when none runs), ``checks`` the value checks
      deferred to after the call (``defer_check``);
    - ``on_write``: called with every ``Storage`` written (the compiler lifts the storages
      outside its state that the function writes);
    - ``hypers``: ``id(param group) -> traced hyperparameters`` for ``KernelOptimizer``;
    - ``stepped``: the optimizers whose ``step()`` ran (what a scheduler checks);
    - ``rng``: ``[key]``, the traced random key the generator reads and advances instead of
      the global one.
    """

    depth = 0
    trace = None
    checks = None
    on_write = None
    hypers = None
    stepped = None
    rng = None


capture = _Capture()


_FIELDS = ("trace", "checks", "on_write", "hypers", "stepped", "rng")


@contextlib.contextmanager
def capturing(**fields: Any) -> Iterator[_Capture]:
    """Run a compile trace in this thread: set the given capture fields (the others keep
    their values), count the depth, and restore everything on the way out, also on errors."""
    capture_ = capture
    saved = {name: getattr(capture_, name) for name in _FIELDS}
    for name, value in fields.items():
        if name not in _FIELDS:
            raise TypeError(f"capturing() got an unexpected field {name!r}")
        setattr(capture_, name, value)
    capture_.depth += 1
    try:
        yield capture_
    finally:
        capture_.depth -= 1
        for name, value in saved.items():
            setattr(capture_, name, value)


def defer_check(
    array, compute: Callable, error: type[Exception], message: Callable[[int], str]
) -> None:
    """A value check on ``array``, a tracer: inside a ``tapegrad.compile`` trace,
    ``compute(array)`` gives a traced ``(failed, value)`` pair that the program returns and
    the call checks after it ran, raising ``error(message(value))`` before anything is written
    back. Elsewhere (a user's own ``jax.jit``, a nested JAX transform) nothing can be checked.
    """
    trace = capture.trace
    if trace is None or getattr(array, "_trace", None) is not trace:
        return
    failed, value = compute(array)
    if getattr(failed, "_trace", trace) is not trace:  # computed inside a nested transform
        return
    capture.checks.append((failed, value, error, message))


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
    if capture.depth:
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
