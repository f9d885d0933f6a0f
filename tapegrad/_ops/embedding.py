"""embedding: a lookup of rows of a weight matrix (``EmbeddingBackward0``), with PyTorch's
``padding_idx`` (that row gets no gradient), ``max_norm`` (rows renormalized in place) and
``scale_grad_by_freq``."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from tapegrad import _dtype as dt
from tapegrad._kernel_cache import bounded_jit
from tapegrad._ops._registry import defop, dispatch
from tapegrad._ops._util import check_traced_range
from tapegrad._ops.inplace import write
from tapegrad._tensor import Tensor

PADDING_IDX_RANGE = "Padding_idx must be within num_embeddings"


@defop(
    "embedding",
    node="EmbeddingBackward0",
    dtypes="keep",
    edges=(0,),
    saves=lambda m: [1],
    values=("padding_idx",),
)
def _embedding_op(weight, indices, has_padding, scale_grad_by_freq, padding_idx):
    # Whether there is a padding row is static, which row it is a runtime value.
    rows = jnp.take(weight, indices, axis=0)
    fixed = lax.stop_gradient(rows)
    if scale_grad_by_freq:
        # Each row's gradient is divided by how often its index occurs in the batch; the
        # value stays ``rows`` exactly (rows - fixed is 0).
        counts = jnp.zeros(weight.shape[0], weight.dtype).at[indices.reshape(-1)].add(1)
        scale = (1 / jnp.take(counts, indices))[..., None]
        rows = fixed + (rows - fixed) * scale
    if has_padding:
        rows = jnp.where((indices == padding_idx)[..., None], fixed, rows)
    return rows


@bounded_jit
def _index_range(indices):
    return jnp.min(indices), jnp.max(indices)


@functools.partial(bounded_jit, static_argnums=3)
def _renorm(weight, indices, max_norm, norm_type):
    """PyTorch's ``embedding_renorm_``: rows used by ``indices`` whose ``norm_type``-norm
    exceeds ``max_norm`` are scaled to norm ``max_norm`` (with PyTorch's 1e-7 guard)."""
    used = jnp.zeros(weight.shape[0], bool).at[indices.reshape(-1)].set(True)
    a = jnp.abs(weight.astype(jnp.float64))
    if norm_type == float("inf"):
        norms = jnp.max(a, axis=1)
    else:
        norms = jnp.sum(a**norm_type, axis=1) ** (1 / norm_type)
    scale = jnp.where(used & (norms > max_norm), max_norm / (norms + 1e-7), 1.0)
    return (weight * scale[:, None].astype(weight.dtype)).astype(weight.dtype)


def _check_range(indices: Tensor, rows: int, message) -> None:
    """Index bounds are checked where the values are known (not while tracing)."""
    arr = indices._data
    if isinstance(arr, jax.core.Tracer):  # under tapegrad.compile: checked after the call
        check_traced_range(arr, 0, rows, IndexError, message, pick="extreme")
        return
    if arr.size == 0:
        return
    lo, hi = (int(v) for v in np.asarray(_index_range(arr)))
    if lo < 0 or hi >= rows:
        raise IndexError(message(lo if lo < 0 else hi))


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Generate a simple lookup table that looks up embeddings in a fixed dictionary and size.

    Returns ``weight[input]``: one row of ``weight`` (``(num_embeddings, embedding_dim)``) per
    index in ``input``. The ``padding_idx`` row receives no gradient; with ``max_norm`` the
    looked-up rows of ``weight`` whose norm exceeds it are renormalized in place first;
    ``scale_grad_by_freq`` divides each row's gradient by the index's count in the batch.
    ``sparse`` gradients are not supported: the gradient is always dense.
    """
    rows = weight.shape[0] if weight.ndim else 0
    if padding_idx is not None:
        if padding_idx > 0 and padding_idx >= rows:
            raise AssertionError(PADDING_IDX_RANGE)
        if padding_idx < 0:
            if padding_idx < -rows:
                raise AssertionError(PADDING_IDX_RANGE)
            padding_idx = rows + padding_idx
    else:
        padding_idx = -1
    if max_norm is not None:
        _check_range(
            input,
            rows,
            lambda i: (
                f"select(): index {i} out of range for tensor of size {list(weight.shape)} at "
                "dimension 0"
            ),
        )
        write(weight, _renorm(weight._data, input._data, float(max_norm), float(norm_type)))
    if weight.ndim != 2:
        raise RuntimeError("'weight' must be 2-D")
    if input.dtype not in (dt.int64, dt.int32):
        got = (
            "CPUBoolType"
            if input.dtype is dt.bool_
            else f"torch.{dt.legacy_name(input.dtype)}Tensor"
        )
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar "
            f"types: Long, Int; but got {got} instead (while checking arguments for embedding)"
        )
    _check_range(input, rows, lambda i: "index out of range in self")
    statics = (
        ("has_padding", padding_idx >= 0),
        ("scale_grad_by_freq", bool(scale_grad_by_freq)),
        ("padding_idx", int(padding_idx)),
    )
    return dispatch(_embedding_op, (weight, input), statics)
