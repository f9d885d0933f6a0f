"""PyTorch's error texts for failures the jax kernels report in their own words."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["EXPLAINERS", "broadcast_error", "explain"]

EXPLAINERS: dict[str, Callable] = {}


def _shape(a) -> tuple:
    return tuple(getattr(a, "shape", ()))


def broadcast_error(shapes: list[tuple]) -> RuntimeError | None:
    """PyTorch's message for the first pair of shapes that do not broadcast, or None."""
    acc: tuple = ()
    for s in shapes:
        n = max(len(acc), len(s))
        a = (1,) * (n - len(acc)) + acc
        b = (1,) * (n - len(s)) + tuple(s)
        for i in range(n - 1, -1, -1):
            if a[i] != b[i] and a[i] != 1 and b[i] != 1:
                return RuntimeError(
                    f"The size of tensor a ({a[i]}) must match the size of tensor b ({b[i]}) "
                    f"at non-singleton dimension {i}"
                )
        acc = tuple(max(x, y) for x, y in zip(a, b, strict=True))
    return None


def explain(op, arrays: list, statics: tuple, exc: Exception) -> Exception:
    """Turn a kernel failure into PyTorch's exception, naming the op, shapes and dtypes."""
    special = EXPLAINERS.get(op.name)
    if special is not None:
        err = special(arrays, dict(statics))
        if err is not None:
            return err
    err = broadcast_error([_shape(a) for a in arrays])
    if err is not None:
        return err
    if isinstance(exc, (RuntimeError, TypeError, ValueError, IndexError)) and not type(
        exc
    ).__module__.startswith("jax"):
        desc = ", ".join(
            f"{list(_shape(a))} {getattr(a, 'dtype', type(a).__name__)}" for a in arrays
        )
        return type(exc)(f"{op.name}(): {exc} (operands: {desc})")
    desc = ", ".join(f"{list(_shape(a))} {getattr(a, 'dtype', type(a).__name__)}" for a in arrays)
    return RuntimeError(f"{op.name}(): {exc} (operands: {desc})")
