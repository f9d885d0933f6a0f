"""The public surface of the tensor API: each public function declared once.

``@public(...)`` on a function says everything a user can reach it by: its names in each
namespace (``tapegrad``, ``tapegrad.nn.functional``...), its aliases (``absolute`` for ``abs``),
whether it is a ``Tensor`` method, its in-place method (``x.abs_()``), and which dtypes its
kernel supports, from which PyTorch's ``"<kernel>" not implemented for '<Dtype>'`` error is
produced. ``tapegrad._methods`` builds the ``Tensor`` methods from this table, and
``tests/ops/test_public.py`` proves that each namespace module, the API reference and the parity
table agree with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

from tapegrad import _dtype as dt

__all__ = ["FLOATING", "INTEGRAL", "NUMBERS", "SURFACE", "DtypeSupport", "Public", "public"]

_INTS = frozenset({dt.uint8, dt.int8, dt.int16, dt.int32, dt.int64})
FLOATING = frozenset(d for d in dt.ALL_DTYPES if d.is_floating_point)
INTEGRAL = _INTS | {dt.bool_}  # integers and bool: bitwise ops
NUMBERS = FLOATING | _INTS  # everything but bool


class DtypeSupport(NamedTuple):
    """The dtypes a function's PyTorch kernel has: any other raises
    ``NotImplementedError: "<kernel>" not implemented for '<Dtype>'``.

    ``operands="input"`` checks the first argument, ``"all"`` every tensor and Python number
    among the positional arguments (a Python float counts as ``Float``, an int as ``Long``).
    ``at="call"`` checks before the function runs; ``at="body"`` leaves the check to the
    function (``SPEC.check(dtype)``), where PyTorch checks other things first.
    """

    kernel: str
    allowed: frozenset
    operands: str = "input"
    at: str = "call"

    def error(self, dtype: dt.dtype) -> NotImplementedError:
        return NotImplementedError(
            f"\"{self.kernel}\" not implemented for '{dt.legacy_name(dtype)}'"
        )

    def check(self, dtype: dt.dtype) -> None:
        """Raise PyTorch's error when ``dtype`` is not supported."""
        if dtype not in self.allowed:
            raise self.error(dtype)

    def check_args(self, args: tuple) -> None:
        from tapegrad._tensor import Tensor

        if self.operands == "input":
            if args and isinstance(args[0], Tensor):
                self.check(args[0].dtype)
            return
        for a in args:
            if isinstance(a, Tensor):
                self.check(a.dtype)
            elif isinstance(a, bool):
                self.check(dt.bool_)
            elif isinstance(a, int):
                self.check(dt.int64)
            elif isinstance(a, float):
                self.check(dt.float32)


class Public(NamedTuple):
    """One public function and every spelling of it."""

    name: str
    fn: Callable  # what the names are bound to (with the dtype check, when declared)
    namespaces: tuple[str, ...]
    aliases: tuple[str, ...]
    method: Callable | None  # Tensor.<name> (and Tensor.<alias>)
    inplace: bool  # Tensor.<name>_ (and Tensor.<alias>_): the function applied in place
    dtypes: DtypeSupport | None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


SURFACE: dict[str, Public] = {}  # keyed by "namespace.name" of the first namespace


def public(
    name: str | None = None,
    *,
    namespaces: tuple[str, ...] = ("tapegrad",),
    aliases: tuple[str, ...] = (),
    method: bool | Callable = True,
    inplace: bool = False,
    dtypes: DtypeSupport | None = None,
) -> Callable[[Callable], Callable]:
    """Declare a public function: ``@public("abs", aliases=("absolute",), inplace=True)``.

    ``method=True`` makes the function a ``Tensor`` method as it is (its first parameter is
    ``input``); a callable is a method with another argument order (``x.where(cond, y)``);
    ``False`` makes none. ``namespaces`` are the modules that export the names. The decorator
    returns the function users call.
    """

    def declare(fn: Callable) -> Callable:
        n = name or fn.__name__
        exported = fn
        if dtypes is not None and dtypes.at == "call":
            check = dtypes.check_args

            @functools.wraps(fn)
            def exported(*args, **kwargs):
                check(args)
                return fn(*args, **kwargs)

        meth = exported if method is True else method or None
        key = f"{namespaces[0]}.{n}"
        if key in SURFACE:
            raise ValueError(f"{key} is already declared")
        SURFACE[key] = Public(n, exported, namespaces, aliases, meth, inplace, dtypes)
        return exported

    return declare


def functions(namespace: str) -> dict[str, Callable]:
    """Every name the table exports from ``namespace``, aliases included."""
    out = {}
    for p in SURFACE.values():
        if namespace in p.namespaces:
            for n in p.names:
                out[n] = p.fn
    return out


def methods(inplace_of: Callable[[Callable, str], Callable]) -> dict[str, Callable]:
    """The ``Tensor`` methods the table declares; ``inplace_of(fn, name)`` makes ``x.name_()``."""
    out = {}
    for p in SURFACE.values():
        if p.method is None:
            continue
        for n in p.names:
            if n in out:
                raise ValueError(f"Tensor.{n} is declared twice")
            out[n] = p.method
            if p.inplace:
                out[n + "_"] = inplace_of(p.method, n + "_")
    return out
