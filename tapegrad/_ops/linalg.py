"""Matrix products: matmul (and ``@``), mm, mv, dot, bmm, linear."""

from __future__ import annotations

import math

import jax.numpy as jnp

from tapegrad._dtype import legacy_name
from tapegrad._grad_mode import state as _grad_mode
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


_mm_op = defop("mm", node="MmBackward0", saves=cross_saves, dtypes="keep")(_mat)
_mv_op = defop("mv", node="MvBackward0", saves=cross_saves, dtypes="keep")(_mat)
_dot_op = defop("dot", node="DotBackward0", saves=cross_saves, dtypes="keep")(_mat)
_vm_op = defop("vm", node="SqueezeBackward4", saves=cross_saves, dtypes="keep")(_mat)
_bmm_op = defop("bmm", node="BmmBackward0", saves=cross_saves, dtypes="keep")(_mat)
_matmul_op = defop("matmul", node="UnsafeViewBackward0", saves=cross_saves, dtypes="keep")(_mat)
# PyTorch computes a matrix times a batch of matrices as a transposed product and then makes
# it contiguous: the result's node is CloneBackward0 when the matrix requires grad.
_matmul_clone_op = defop("matmul_clone", node="CloneBackward0", saves=cross_saves, dtypes="keep")(
    _mat
)


# ----- PyTorch's checks, path by path (each names the kernel PyTorch would run) --------------
def _mm_dtype(a: Tensor, b: Tensor) -> None:
    da, db = a.dtype, b.dtype
    if da is not db:
        raise RuntimeError(
            "expected m1 and m2 to have the same dtype, but got: "
            f"{_CNAME.get(da.name, da.name)} != {_CNAME.get(db.name, db.name)}"
        )


def _mv_dtype(mat: Tensor, vec: Tensor) -> None:
    if mat.dtype is not vec.dtype:
        m, v = legacy_name(mat.dtype), legacy_name(vec.dtype)
        raise RuntimeError(
            f"addmv input tensors must have the same dtype, but got {v}, {m}, and {v}"
        )


def _dot_dtype(a: Tensor, b: Tensor) -> None:
    if a.dtype is not b.dtype:
        raise RuntimeError(
            "dot : expected both vectors to have same dtype, but found "
            f"{legacy_name(a.dtype)} and {legacy_name(b.dtype)}"
        )


def _bmm_dtype(a: Tensor, b: Tensor) -> None:
    if a.dtype is not b.dtype:
        raise RuntimeError(
            f"expected scalar type {legacy_name(a.dtype)} but found {legacy_name(b.dtype)}"
        )


def _mm_shapes(rows: int, k: int, b: tuple) -> None:
    if k != b[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{k} and {b[0]}x{b[1]})"
        )


def _mv_shapes(a: tuple, b: tuple) -> None:
    if a[1] != b[0]:
        raise RuntimeError(f"size mismatch, got input ({a[0]}), mat ({a[0]}x{a[1]}), vec ({b[0]})")


def _dot_shapes(a: tuple, b: tuple) -> None:
    if a[0] != b[0]:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{a[0]}] and src [{b[0]}] to have the "
            f"same number of elements, but got {a[0]} and {b[0]} elements respectively"
        )


def _bmm_shapes(batch: int, k: int, batch2: int, k2: int) -> None:
    if (batch, k) != (batch2, k2):
        raise RuntimeError(
            "Expected size for first two dimensions of batch2 tensor to be: "
            f"[{batch}, {k}] but got: [{batch2}, {k2}]."
        )


def _broadcast_batch(a: tuple, b: tuple) -> tuple:
    from tapegrad._ops._errors import broadcast_error

    err = broadcast_error([a, b])
    if err is not None:
        raise err
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    return tuple(max(x, y) for x, y in zip(a, b, strict=True))


def _choose_matmul(input: Tensor, other: Tensor):
    """PyTorch's ``matmul`` dispatch: dot, mv, mm, a folded mm/mv, or a broadcast bmm."""
    a, b = input._data.shape, other._data.shape
    na, nb = len(a), len(b)
    if na == 1 and nb == 1:
        _dot_dtype(input, other)
        _dot_shapes(a, b)
        return _dot_op
    if na == 2 and nb == 1:
        _mv_dtype(input, other)
        _mv_shapes(a, b)
        return _mv_op
    if na == 1 and nb == 2:
        _mm_dtype(input, other)
        _mm_shapes(1, a[0], b)
        return _vm_op
    if na == 2 and nb == 2:
        _mm_dtype(input, other)
        _mm_shapes(a[0], a[1], b)
        return _mm_op
    if na >= 3 and nb <= 2:  # folded: the batch dims of ``input`` become rows
        rows = math.prod(a[:-1])
        if nb == 1:
            _mv_dtype(input, other)
            _mv_shapes((rows, a[-1]), b)
        else:
            _mm_dtype(input, other)
            _mm_shapes(rows, a[-1], b)
        return _matmul_op
    _bmm_dtype(input, other)
    batch = math.prod(_broadcast_batch(a[:-2], b[:-2]))
    _bmm_shapes(batch, a[-1], batch, b[-2] if nb >= 2 else b[0])
    if na == 2 and input._requires_grad and _grad_mode.grad_enabled:
        return _matmul_clone_op
    return _matmul_op


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
    return dispatch(_choose_matmul(input, other), (input, other))


def _check_matrix(t: Tensor, arg: str) -> None:
    if t.ndim != 2:
        raise RuntimeError(f"{arg} must be a matrix")


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Matrix product of two 2-D tensors."""
    _check_matrix(input, "self")
    _check_matrix(mat2, "mat2")
    _mm_dtype(input, mat2)
    a = input._data.shape
    _mm_shapes(a[0], a[1], mat2._data.shape)
    return dispatch(_mm_op, (input, mat2))


def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix-vector product."""
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input.ndim}, {vec.ndim}")
    _mv_dtype(input, vec)
    _mv_shapes(input._data.shape, vec._data.shape)
    return dispatch(_mv_op, (input, vec))


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Dot product of two 1-D tensors."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    _dot_dtype(input, other)
    _dot_shapes(input._data.shape, other._data.shape)
    return dispatch(_dot_op, (input, other))


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of two 3-D tensors."""
    for t, arg in ((input, "batch1"), (mat2, "batch2")):
        if t.ndim != 3:
            raise RuntimeError(f"{arg} must be a 3D tensor")
    _bmm_dtype(input, mat2)
    a, b = input._data.shape, mat2._data.shape
    _bmm_shapes(a[0], a[2], b[0], b[1])
    return dispatch(_bmm_op, (input, mat2))


@defop("addmm_linear", node="AddmmBackward0", saves=cross_saves, dtypes="keep")
def _linear_addmm_op(x, w, b):
    return jnp.matmul(x, w.T) + b


@defop("linear_nobias", node="MmBackward0", saves=cross_saves, dtypes="keep")
def _linear_mm_op(x, w):
    return jnp.matmul(x, w.T)


# PyTorch's linear on other ranks folds the input to a matrix, runs addmm and views the result.
@defop("linear_bias_nd", node="ViewBackward0", saves=cross_saves, dtypes="keep")
def _linear_nd_op(x, w, b):
    return jnp.matmul(x, w.T) + b


@defop("linear_1d", node="SqueezeBackward4", saves=cross_saves, dtypes="keep")
def _linear_1d_op(x, w):
    return jnp.matmul(x, w.T)


@defop("linear_nobias_nd", node="UnsafeViewBackward0", saves=cross_saves, dtypes="keep")
def _linear_nd_nobias_op(x, w):
    return jnp.matmul(x, w.T)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``."""
    # Each array read once (a hot path of every Linear layer); dtypes compared as NumPy dtypes.
    xa, wa = input._peek, weight._peek
    if xa.dtype != wa.dtype:
        _mm_dtype(input, weight)
    x, w = xa.shape, wa.shape
    ndim = len(x)
    rows = x[0] if ndim == 2 else math.prod(x[:-1])
    _mm_shapes(rows, x[-1], (w[1], w[0]))
    if bias is None:
        if ndim == 2:
            return dispatch(_linear_mm_op, (input, weight))
        return dispatch(_linear_1d_op if ndim == 1 else _linear_nd_nobias_op, (input, weight))
    ba = bias._peek
    if ba.dtype != xa.dtype:
        raise RuntimeError(
            "self and mat2 must have the same dtype, but got "
            f"{legacy_name(bias.dtype)} and {legacy_name(input.dtype)}"
        )
    b = ba.shape
    if len(b) == 1 and b[0] not in (1, w[0]):
        raise RuntimeError(
            f"The expanded size of the tensor ({w[0]}) must match the existing size ({b[0]}) at "
            f"non-singleton dimension 1.  Target sizes: [{rows}, {w[0]}].  Tensor sizes: {list(b)}"
        )
    if ndim == 2:
        return dispatch(_linear_addmm_op, (input, weight, bias))
    return dispatch(_linear_nd_op, (input, weight, bias))
