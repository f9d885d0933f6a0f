"""Argument normalisation shared by the op wrappers (dims, sizes), with PyTorch's errors."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["check_traced_range", "normalize_dim", "normalize_dims", "normalize_size"]


def check_traced_range(
    indices, lo: int, hi: int, error: type[Exception], message, pick: str = "first"
) -> None:
    """Inside ``tapegrad.compile``: the bounds check ``lo <= index < hi`` on traced
    ``indices``, deferred to after the call (``_tracing.defer_check``). ``message(value)``
    names the offending index: the first out of range in C order (``pick="first"``), or the
    minimum if it is below ``lo`` and else the maximum (``pick="extreme"``)."""
    if indices.size == 0:
        return
    import jax.numpy as jnp

    from tapegrad._tracing import defer_check

    def compute(a):
        flat = a.reshape(-1).astype(jnp.int64)
        if pick == "first":
            bad = (flat < lo) | (flat >= hi)
            return jnp.any(bad), flat[jnp.argmax(bad)]
        low, high = jnp.min(flat), jnp.max(flat)
        return (low < lo) | (high >= hi), jnp.where(low < lo, low, high)

    defer_check(indices, compute, error, message)


def normalize_dim(dim: int, ndim: int) -> int:
    """``dim`` as a non-negative index into ``ndim`` dimensions (0-d tensors accept -1 and 0)."""
    if not isinstance(dim, int) or isinstance(dim, bool):
        if hasattr(dim, "__index__"):
            dim = dim.__index__()
        else:
            raise TypeError(f"dim must be an int, not {type(dim).__name__}")
    rank = max(ndim, 1)
    if not -rank <= dim < rank:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], "
            f"but got {dim})"
        )
    return dim % rank


def normalize_dims(dim, ndim: int) -> tuple[int, ...] | None:
    """A tuple of sorted non-negative dims, or None for "all dims"."""
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        if len(dim) == 0:
            return None
        out = tuple(normalize_dim(d, ndim) for d in dim)
        if len(set(out)) != len(out):
            raise RuntimeError(f"dim {out[0]} appears multiple times in the list of dims")
        return tuple(sorted(out))
    return (normalize_dim(dim, ndim),)


def normalize_size(size: Sequence) -> tuple[int, ...]:
    """``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` all become ``(2, 3)``."""
    if len(size) == 1 and (isinstance(size[0], (tuple, list)) or type(size[0]).__name__ == "Size"):
        size = tuple(size[0])
    out = []
    for s in size:
        if hasattr(s, "__index__") and not isinstance(s, bool):
            out.append(s.__index__())
        else:
            raise TypeError(
                f"size must be a tuple of ints, but found element of type "
                f"{type(s).__name__} at pos {len(out)}"
            )
    return tuple(out)
