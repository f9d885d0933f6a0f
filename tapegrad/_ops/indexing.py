"""Indexing reads: ints, slices, None, Ellipsis (views) and integer / boolean index tensors."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from tapegrad._ops._registry import defop, dispatch
from tapegrad._tensor import Tensor

# A basic index is encoded statically: ("i", n) | ("s", start, stop, step) | None (new axis).


def _basic_fn(x, index):
    key = []
    for item in index:
        if item is None:
            key.append(None)
        elif item[0] == "i":
            key.append(item[1])
        else:
            key.append(slice(item[1], item[2], item[3]))
    return x[tuple(key)]


def _view_index_op(name: str, node: str):
    return defop(name, node=node, dtypes="keep", linear=True, view=True)(_basic_fn)


_BASIC_OPS = {
    "i": _view_index_op("index_select_view", "SelectBackward0"),
    "s": _view_index_op("index_slice_view", "SliceBackward0"),
    None: _view_index_op("index_unsqueeze_view", "UnsqueezeBackward0"),
    "alias": _view_index_op("index_alias_view", "AliasBackward0"),
}


def _advanced_fn(x, *index_arrays, index):
    key = []
    arrays = iter(index_arrays)
    for item in index:
        if item == "T":
            key.append(next(arrays))
        elif item is None:
            key.append(None)
        elif item[0] == "i":
            key.append(item[1])
        elif item[0] == "b":
            key.append(np.bool_(item[1]))
        else:
            key.append(slice(item[1], item[2], item[3]))
    return x[tuple(key)]


_index = defop("index", node="IndexBackward0", dtypes="keep")(_advanced_fn)

TOO_MANY = "too many indices for tensor of dimension {}"
INDEX_TYPES = (
    "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid "
    "indices (got {})"
)


def _expand_index(index) -> list:
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for item in index:
        if isinstance(item, (list,)) or isinstance(item, np.ndarray):
            from tapegrad._creation import tensor

            item = tensor(item)
        out.append(item)
    return out


def _consumes(item) -> int:
    if item is None or item is Ellipsis:
        return 0
    if isinstance(item, Tensor) and item.dtype.name in ("bool", "uint8"):
        return max(item.ndim, 1) if item.ndim else 0
    return 1


def getitem(x: Tensor, index):
    """``x[index]`` as PyTorch reads it."""
    items = _expand_index(index)
    shape = x._data.shape
    ndim = len(shape)
    used = sum(_consumes(i) for i in items)
    n_ellipsis = sum(1 for i in items if i is Ellipsis)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if used > ndim:
        raise IndexError(TOO_MANY.format(ndim))
    if n_ellipsis:
        pos = next(k for k, i in enumerate(items) if i is Ellipsis)
        items = items[:pos] + [slice(None)] * (ndim - used) + items[pos + 1 :]
    else:
        items = items + [slice(None)] * (ndim - used)

    static = []
    tensors = []
    advanced = False
    dim = 0
    last = "alias"
    for item in items:
        if item is None:
            static.append(None)
            last = None
            continue
        if isinstance(item, bool):
            from tapegrad._creation import tensor

            item = tensor(item)
        if isinstance(item, Tensor):
            static.extend(_tensor_index(item, shape, dim, tensors))
            advanced = True
            dim += _consumes(item) if item.dtype.name in ("bool", "uint8") else 1
            continue
        if isinstance(item, slice):
            size = shape[dim]
            start, stop, step = item.start, item.stop, item.step
            for v in (start, stop, step):
                if v is not None and not hasattr(v, "__index__"):
                    raise TypeError(INDEX_TYPES.format(type(v).__name__))
            if step is not None and step.__index__() <= 0:
                raise ValueError("step must be greater than zero")
            start, stop, step = slice(start, stop, step).indices(size)
            stop = max(stop, start)
            static.append(("s", start, stop, step))
            if (start, stop, step) != (0, size, 1) or item != slice(None):
                last = "s"
            dim += 1
            continue
        if hasattr(item, "__index__") and not isinstance(item, float):
            i = item.__index__()
            size = shape[dim]
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
            static.append(("i", i % size))
            last = "i"
            dim += 1
            continue
        raise IndexError(INDEX_TYPES.format(type(item).__name__))

    static = tuple(static)
    if advanced:
        return dispatch(_index, (x, *tensors), (("index", static),))
    if last == "alias" and any(s is None for s in static):
        last = None
    return dispatch(_BASIC_OPS[last], (x,), (("index", static),))


def _tensor_index(item: Tensor, shape: tuple, dim: int, tensors: list) -> list:
    name = item.dtype.name
    if name in ("bool", "uint8"):
        mask = np.asarray(item._data).astype(bool)
        k = max(mask.ndim, 1)
        if mask.ndim == 0:
            return [("b", bool(mask))]
        for j in range(k):
            if mask.shape[j] != shape[dim + j]:
                raise IndexError(
                    f"The shape of the mask {list(mask.shape)} at index {j} does not match the "
                    f"shape of the indexed tensor {list(shape)} at index {dim + j}"
                )
        from tapegrad._tensor import _wrap

        for idx in np.nonzero(mask):
            tensors.append(_wrap(jnp.asarray(idx, jnp.int64)))
        return ["T"] * k
    if item.dtype.is_floating_point:
        raise IndexError(
            "tensors used as indices must be long, int, byte or bool tensors"
        )
    idx = np.asarray(item._data)
    size = shape[dim]
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        bad = lo if lo < -size else hi if hi >= size else None
        if bad is not None:
            raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size {size}")
    tensors.append(item)
    return ["T"]


def nonzero(input: Tensor, *, as_tuple: bool = False):
    """Indices of the non-zero elements: an (n, ndim) int64 tensor, or one tensor per dim."""
    from tapegrad._tensor import _wrap

    idx = np.nonzero(np.asarray(input._data))
    if as_tuple:
        return tuple(_wrap(jnp.asarray(i, jnp.int64)) for i in idx)
    return _wrap(jnp.asarray(np.stack(idx, axis=1) if idx else np.zeros((0, 0)), jnp.int64))
