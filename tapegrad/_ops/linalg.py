"""Matrix products: matmul (and ``@``), mm, mv, dot, bmm, linear."""

from __future__ import annotations

import jax.numpy as jnp

from tapegrad._ops._errors import EXPLAINERS
from tapegrad._ops._registry import defop, dispatch
from tapegrad._ops.pointwise import cross_saves
from tapegrad._tensor import Tensor

_CNAME = {
    "float32": "float",
    "float64": "double",
    "float16": "c10::Half",
    "bfloat16": "c10::BFloat16",
    "int64": "long int",
    "int32": "int",
}


def _mat(x, y):
    return jnp.matmul(x, y)


_mm = defop("mm", node="MmBackward0", saves=cross_saves, dtypes="keep")(_mat)
_mv = defop("mv", node="MvBackward0", saves=cross_saves, dtypes="keep")(_mat)
_dot = defop("dot", node="DotBackward0", saves=cross_saves, dtypes="keep")(_mat)
_vm = defop("vm", node="SqueezeBackward4", saves=cross_saves, dtypes="keep")(_mat)
_bmm = defop("bmm", node="BmmBackward0", saves=cross_saves, dtypes="keep")(_mat)
_matmul = defop("matmul", node="UnsafeViewBackward0", saves=cross_saves, dtypes="keep")(_mat)


def _same_dtype(a: Tensor, b: Tensor) -> None:
    da, db = a.dtype, b.dtype
    if da is not db:
        raise RuntimeError(
            "expected m1 and m2 to have the same dtype, but got: "
            f"{_CNAME.get(da.name, da.name)} != {_CNAME.get(db.name, db.name)}"
        )


def _mm_error(arrays, statics):
    a, b = arrays
    if a.ndim == 2 and b.ndim == 2 and a.shape[1] != b.shape[0]:
        return RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
            f"{b.shape[0]}x{b.shape[1]})"
        )
    return None


def _mv_error(arrays, statics):
    a, b = arrays
    return RuntimeError(
        f"size mismatch, got input ({a.shape[0]}), mat ({a.shape[0]}x{a.shape[1]}), vec "
        f"({b.shape[0]})"
    )


def _dot_error(arrays, statics):
    a, b = arrays
    return RuntimeError(
        f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to have "
        f"the same number of elements, but got {a.shape[0]} and {b.shape[0]} elements respectively"
    )


def _bmm_error(arrays, statics):
    a, b = arrays
    return RuntimeError(
        "Expected size for first two dimensions of batch2 tensor to be: "
        f"[{a.shape[0]}, {a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}]."
    )


def _vm_error(arrays, statics):
    a, b = arrays
    return RuntimeError(
        f"mat1 and mat2 shapes cannot be multiplied (1x{a.shape[0]} and "
        f"{b.shape[0]}x{b.shape[1]})"
    )


def _matmul_error(arrays, statics):
    a, b = arrays
    return RuntimeError(
        f"Expected size for first two dimensions of batch2 tensor to be: "
        f"[{a.shape[0] if a.ndim > 2 else 1}, {a.shape[-1]}] but got: "
        f"[{b.shape[0] if b.ndim > 2 else 1}, {b.shape[-2] if b.ndim > 1 else b.shape[0]}]."
    )


EXPLAINERS.update(
    mm=_mm_error,
    mv=_mv_error,
    dot=_dot_error,
    bmm=_bmm_error,
    vm=_vm_error,
    matmul=_matmul_error,
)


def _check_dims(name: str, t: Tensor, want: int, arg: str) -> None:
    if t.ndim != want:
        raise RuntimeError(f"{arg} must be a {'matrix' if want == 2 else f'{want}D tensor'}")


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with NumPy's broadcasting rules (1-D, 2-D and batched operands)."""
    if not isinstance(other, Tensor) or not isinstance(input, Tensor):
        raise TypeError(
            f"matmul(): argument 'other' (position 2) must be Tensor, not "
            f"{type(other).__name__ if isinstance(input, Tensor) else type(input).__name__}"
        )
    na, nb = input.ndim, other.ndim
    if na == 0 or nb == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {na}D and {nb}D"
        )
    _same_dtype(input, other)
    if na == 1 and nb == 1:
        op = _dot
    elif na == 2 and nb == 2:
        op = _mm
    elif na == 2 and nb == 1:
        op = _mv
    elif na == 1 and nb == 2:
        op = _vm
    else:
        op = _matmul
    return dispatch(op, (input, other))


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Matrix product of two 2-D tensors."""
    _check_dims("mm", input, 2, "self")
    _check_dims("mm", mat2, 2, "mat2")
    _same_dtype(input, mat2)
    return dispatch(_mm, (input, mat2))


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix-vector product."""
    _check_dims("mv", input, 2, "self")
    _check_dims("mv", vec, 1, "vec")
    _same_dtype(input, vec)
    return dispatch(_mv, (input, vec))


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Dot product of two 1-D tensors."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(
            f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors"
        )
    _same_dtype(input, other)
    return dispatch(_dot, (input, other))


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of two 3-D tensors."""
    _check_dims("bmm", input, 3, "batch1")
    _check_dims("bmm", mat2, 3, "batch2")
    _same_dtype(input, mat2)
    return dispatch(_bmm, (input, mat2))


@defop("addmm_linear", node="AddmmBackward0", saves=cross_saves, dtypes="keep")
def _linear_addmm(x, w, b):
    return jnp.matmul(x, w.T) + b


@defop("linear_nobias", node="MmBackward0", saves=cross_saves, dtypes="keep")
def _linear_mm(x, w):
    return jnp.matmul(x, w.T)


@defop("linear_bias_nd", node="AddBackward0", saves=cross_saves, dtypes="keep")
def _linear_nd(x, w, b):
    return jnp.matmul(x, w.T) + b


@defop("linear_nobias_nd", node="UnsafeViewBackward0", saves=cross_saves, dtypes="keep")
def _linear_nd_nobias(x, w):
    return jnp.matmul(x, w.T)


def _linear_error(arrays, statics):
    x, w = arrays[0], arrays[1]
    rows = 1
    for s in x.shape[:-1]:
        rows *= s
    return RuntimeError(
        f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x.shape[-1]} and "
        f"{w.shape[1]}x{w.shape[0]})"
    )


for _name in ("addmm_linear", "linear_nobias", "linear_bias_nd", "linear_nobias_nd"):
    EXPLAINERS[_name] = _linear_error


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``."""
    _same_dtype(input, weight)
    if bias is not None:
        _same_dtype(input, bias)
    if input.ndim == 2:
        if bias is None:
            return dispatch(_linear_mm, (input, weight))
        return dispatch(_linear_addmm, (input, weight, bias))
    if bias is None:
        return dispatch(_linear_nd_nobias, (input, weight))
    return dispatch(_linear_nd, (input, weight, bias))
