"""The compiled kernels tapegrad keeps, under one least-recently-used bound.

Every eager kernel (an op's forward for one signature, a VJP, a view chain, a fused update, a
backward replay, an optimizer step, a random draw) is one ``jax.jit`` function compiled for one
set of argument shapes and dtypes, so an entry holds one XLA executable (about 1-2 MB on CPU).
All of them share one ``OrderedDict``: a hit moves its entry to the end, and storing past the
limit drops the oldest entry; the executable is freed with its jit function. The limit is
``tapegrad.config.kernel_cache_size`` (or ``TAPEGRAD_KERNEL_CACHE_SIZE`` in the environment).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable

import jax

__all__ = ["DEFAULT_SIZE", "KERNELS", "KernelCache", "bounded_jit", "mentions"]

DEFAULT_SIZE = 512
_ENV = "TAPEGRAD_KERNEL_CACHE_SIZE"
# XLA frees an evicted executable, but glibc's allocator keeps most of the freed pages mapped:
# without giving them back now and then, resident memory still creeps up with every new shape.
TRIM_EVERY = 64  # evictions


def mentions(key: object, ids: set, depth: int = 6) -> bool:
    """Whether ``key`` (nested tuples, a few levels deep) holds an object whose ``id`` is in
    ``ids``."""
    if type(key) is not tuple:
        return id(key) in ids
    return depth > 0 and any(mentions(k, ids, depth - 1) for k in key)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim  # glibc only; absent on macOS and musl
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def check_size(size: object) -> int:
    if type(size) is not int or size < 1:
        raise ValueError(f"kernel_cache_size must be a positive integer, got {size!r}")
    return size


def _size_from_env() -> int:
    raw = os.environ.get(_ENV)
    if raw is None or raw == "":
        return DEFAULT_SIZE
    try:
        return check_size(int(raw))
    except ValueError:
        raise ValueError(f"{_ENV} must be a positive integer, got {raw!r}") from None


class KernelCache:
    """A mapping of compiled kernels with a least-recently-used bound on its length.

    ``lookup`` and ``touch`` are the entries' own bound ``get`` and ``move_to_end``, for the
    dispatcher's hot path (a method call of ours costs as much as both)."""

    __slots__ = ("_entries", "evictions", "limit", "lookup", "touch")

    def __init__(self, limit: int) -> None:
        self._entries: OrderedDict = OrderedDict()
        self.lookup = self._entries.get
        self.touch = self._entries.move_to_end
        self.limit = limit
        self.evictions = 0

    def get(self, key: Hashable):
        """The entry for ``key`` (now the most recently used), or None."""
        entries = self._entries
        found = entries.get(key)
        if found is not None:
            try:  # noqa: SIM105 - contextlib.suppress costs a context manager per lookup
                entries.move_to_end(key)
            except KeyError:  # another thread evicted it in between: it still works
                pass
        return found

    def put(self, key: Hashable, kernel):
        """Store ``kernel`` under ``key`` and return it, evicting the oldest entries past the
        limit."""
        entries = self._entries
        entries[key] = kernel
        if len(entries) > self.limit:
            self._trim()
        return kernel

    def jitted(self, key: Hashable, fn: Callable, **jit_options) -> Callable:
        """The kernel stored under ``key``, or ``jax.jit(fn, **jit_options)`` stored there now
        (``fn`` is only jitted on a miss, so it can be a fresh closure)."""
        k = self.get(key)
        if k is None:
            k = self.put(key, jax.jit(fn, **jit_options))
        return k

    def resize(self, limit: int) -> None:
        self.limit = limit
        self._trim()

    def _trim(self) -> None:
        entries = self._entries
        evicted = 0
        while len(entries) > self.limit:
            entries.popitem(last=False)
            evicted += 1
        if evicted:
            before = self.evictions
            self.evictions += evicted
            if _TRIM is not None and before // TRIM_EVERY != self.evictions // TRIM_EVERY:
                _TRIM(0)

    def discard(self, predicate: Callable[[Hashable, object], bool]) -> None:
        """Drop the entries for which ``predicate(key, entry)`` is true (not counted as
        evictions)."""
        for key in [k for k, v in self._entries.items() if predicate(k, v)]:
            del self._entries[key]

    def forget(self, ids: set) -> None:
        """Drop the entries whose keys hold one of the objects whose ``id`` is in ``ids`` (the
        ops of a collected compiled module). Safe while other threads use the cache."""
        entries = self._entries
        for key in list(entries):  # one atomic copy of the keys
            if mentions(key, ids):
                entries.pop(key, None)

    def __iter__(self):
        """The keys, least recently used first (a snapshot: lookups may reorder the cache)."""
        return iter(list(self._entries))

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries


KERNELS = KernelCache(_size_from_env())


def _signature(a) -> Hashable:
    shape = getattr(a, "shape", None)
    if shape is None:
        return type(a)  # a Python number: jit traces it as a weakly typed 0-d value
    return (shape, a.dtype, getattr(a, "weak_type", False))


class bounded_jit:
    """``jax.jit(fn, static_argnums=...)`` whose compiled versions (one per argument shapes,
    dtypes and static values) are entries of ``KERNELS``, so they are evicted like every other
    kernel instead of accumulating inside one jit function. Arguments are arrays, Python
    numbers, or (at ``static_argnums``) hashable statics; pytrees are not supported."""

    __slots__ = ("_fn", "_static")

    def __init__(self, fn: Callable, static_argnums: tuple[int, ...] | int = ()) -> None:
        self._fn = fn
        self._static = (static_argnums,) if isinstance(static_argnums, int) else static_argnums

    def __call__(self, *args):
        static = self._static
        key = (self, tuple(a if i in static else _signature(a) for i, a in enumerate(args)))
        return KERNELS.jitted(key, self._fn, static_argnums=static)(*args)

    def __repr__(self) -> str:
        return f"<bounded_jit {getattr(self._fn, '__name__', self._fn)}>"
