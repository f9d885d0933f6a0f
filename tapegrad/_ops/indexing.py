"""Indexing reads: ints, slices, None, Ellipsis (views) and integer / boolean index tensors."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import Tracer

from tapegrad._ops._registry import defop, dispatch
from tapegrad._ops._util import check_traced_range
from tapegrad._ops.pointwise import _not_implemented
from tapegrad._ops.shape import STRIDE_RULES, rule_basic_index
from tapegrad._tensor import Tensor
from tapegrad._tracing import host_value

# An index is parsed into ("i", n) | ("s", start, stop, step) | None (new axis), and for
# advanced indexing "T" (an index tensor) | ("b", value) (a bool scalar). It reaches its kernel
# as a structure, ("i",) | ("s", length, step) | None | "T" | ("b", value), and the ints' and
# slices' starts as runtime values, so ``data[i:i + 8]``, ``x[t, i]`` and ``x[t, a:b] = v``
# compile once for every ``i``, ``a``.


def _basic_fn(x, index, starts):
    d = 0  # the dim of the current result the next item indexes
    k = 0
    for item in index:
        if item is None:
            x = jnp.expand_dims(x, d)
            d += 1
            continue
        start = starts[k]
        k += 1
        if item[0] == "i":
            x = lax.dynamic_index_in_dim(x, start, d, keepdims=False)
            continue
        length, step = item[1], item[2]
        span = (length - 1) * step + 1 if length else 0
        x = lax.dynamic_slice_in_dim(x, start, span, d)
        if step != 1:
            x = lax.slice_in_dim(x, 0, span, step, d)
        d += 1
    return x


def _structure(static: tuple) -> tuple[tuple, tuple]:
    """A parsed index as (structure, starts), the starts checked in bounds already: ints become
    ``("i",)`` and slices ``("s", length, step)``; tensors ("T"), new axes and bool scalars
    stay as they are."""
    struct, starts = [], []
    for item in static:
        if item is None or item == "T" or item[0] == "b":
            struct.append(item)
        elif item[0] == "i":
            struct.append(("i",))
            starts.append(item[1])
        else:
            struct.append(("s", len(range(item[1], item[2], item[3])), item[3]))
            starts.append(item[1])
    return tuple(struct), tuple(starts)


def _declare_index_view(name: str, node: str):
    return defop(name, node=node, dtypes="keep", linear=True, view=True, values=("starts",))(
        _basic_fn
    )


_BASIC_OPS = {
    "i": _declare_index_view("index_select_view", "SelectBackward0"),
    "s": _declare_index_view("index_slice_view", "SliceBackward0"),
    None: _declare_index_view("index_unsqueeze_view", "UnsqueezeBackward0"),
    "alias": _declare_index_view("index_alias_view", "AliasBackward0"),
}
STRIDE_RULES.update({op.name: rule_basic_index for op in _BASIC_OPS.values()})


def _region(shape: tuple, index: tuple, starts: tuple) -> tuple[list, list, list]:
    """The box an index's ints and slices cut out of a tensor of ``shape``: the starts of a
    ``lax.dynamic_slice`` (runtime values), its sizes, and the dims the ints select (size one,
    dropped once cut)."""
    begin, sizes, ints = [0] * len(shape), list(shape), []
    d = 0  # the dim of the tensor the next item indexes
    k = 0
    for item in index:
        if item is None or item[0] == "b":
            continue
        if item != "T":
            begin[d] = starts[k]
            k += 1
            if item[0] == "i":
                sizes[d] = 1
                ints.append(d)
            else:
                length, step = item[1], item[2]
                sizes[d] = (length - 1) * step + 1 if length else 0
        d += 1
    return begin, sizes, ints


def _tensor_key(x, index: tuple, index_arrays: tuple) -> tuple:
    """``x`` (with a new axis per bool scalar) and the key indexing it once the index's ints
    and slices were cut: the index tensors, None for new axes, the slices' steps."""
    key = []
    arrays = iter(index_arrays)
    dim = 0  # the dim of ``x`` the next key item indexes
    for item in index:
        if item == "T":
            key.append(next(arrays))
        elif item is None:
            key.append(None)
            continue
        elif item[0] == "i":
            continue
        elif item[0] == "b":
            # A bool scalar indexes a new axis of size one with [0] (True) or [] (False).
            x = jnp.expand_dims(x, dim)
            key.append(jnp.zeros((1 if item[1] else 0,), jnp.int64))
        else:
            key.append(slice(None, None, item[2]))
        dim += 1
    return x, tuple(key)


def _advanced_fn(x, *index_arrays, index, starts):
    # PyTorch's order: ints select and slices narrow first, then the tensors index what is left
    # (so ``x[1, :, t]`` keeps the slice's dim in front, where numpy would move it).
    if starts:
        begin, sizes, ints = _region(x.shape, index, starts)
        x = lax.dynamic_slice(x, begin, sizes)
        if ints:
            x = jnp.squeeze(x, tuple(ints))
    x, key = _tensor_key(x, index, index_arrays)
    return x[key]


_index_op = defop("index", node="IndexBackward0", dtypes="keep", edges=(0,), values=("starts",))(
    _advanced_fn
)

_FILL = slice(None)  # the dims an index leaves out (or an Ellipsis spans), told apart by identity
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
        if isinstance(item, (list, np.ndarray)):
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


ZERO_DIM_INT = (
    "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in C++ "
    "to convert a 0-dim tensor to a number"
)


def _expand_ellipses(items: list, ndim: int) -> tuple[list, list]:
    """The index items with the dims an Ellipsis spans (or the index leaves out) as full slices,
    each with its position in the user's index (None for those fills)."""
    used = sum(_consumes(i) for i in items)
    if used > ndim:
        raise IndexError(TOO_MANY.format(ndim))
    out, positions = [], []
    fill = ndim - used
    for pos, item in enumerate(items):
        if item is Ellipsis:
            # PyTorch lets each Ellipsis span the unindexed dims; only the first has any left.
            out += [_FILL] * fill
            positions += [None] * fill
            fill = 0
        else:
            out.append(item)
            positions.append(pos)
    out += [_FILL] * fill
    positions += [None] * fill
    return out, positions


def getitem(x: Tensor, index, *, _parse_only: bool = False):
    """``x[index]`` as PyTorch reads it."""
    shape = x._data.shape
    ndim = len(shape)
    if isinstance(index, str):
        raise TypeError(f"new(): invalid data type '{type(index).__name__}'")
    if ndim == 0 and not isinstance(index, tuple):
        if isinstance(index, slice):
            raise IndexError("slice() cannot be applied to a 0-dim tensor.")
        if isinstance(index, int) and not isinstance(index, bool):
            raise IndexError(ZERO_DIM_INT)
    items, positions = _expand_ellipses(_expand_index(index), ndim)

    static = []
    tensors = []
    advanced = False
    dim = 0
    last = "alias"
    for item, pos in zip(items, positions, strict=True):
        if item is None:
            static.append(None)
            last = None
            continue
        if isinstance(item, bool):
            from tapegrad._creation import tensor

            item = tensor(item)
        if isinstance(item, Tensor) and item.ndim == 0 and _is_integer(item):
            item = item.item()  # PyTorch reads a 0-d integer tensor as an int index
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
            # PyTorch slices ``x[a:b]`` always, but skips the no-op slices of a tuple index.
            explicit_single = item is not _FILL and not isinstance(index, tuple)
            if (start, stop, step) != (0, size, 1) or explicit_single:
                last = "s"
            dim += 1
            continue
        if hasattr(item, "__index__") and not isinstance(item, float):
            i = item.__index__()
            size = shape[dim]
            if not -size <= i < size:
                # PyTorch names the item's position in the index, not the dim it indexes.
                raise IndexError(f"index {i} is out of bounds for dimension {pos} with size {size}")
            static.append(("i", i % size))
            last = "i"
            dim += 1
            continue
        raise IndexError(INDEX_TYPES.format(type(item).__name__))

    static = tuple(static)
    if _parse_only:
        return static, tensors, advanced
    struct, starts = _structure(static)
    if advanced:
        return dispatch(_index_op, (x, *tensors), (("index", struct), ("starts", starts)))
    if last == "alias" and any(s is None for s in static):
        last = None
    return dispatch(_BASIC_OPS[last], (x,), (("index", struct), ("starts", starts)))


def _index_put_fn(x, values, *index_arrays, index, starts):
    # As in reading: the ints and slices cut a box out of ``x`` (ints drop their dims), the
    # tensors index the box, and the written box goes back where it was cut.
    begin, sizes, ints = _region(x.shape, index, starts)
    box = lax.dynamic_slice(x, begin, sizes) if starts else x
    inner, key = _tensor_key(jnp.squeeze(box, tuple(ints)) if ints else box, index, index_arrays)
    # Positions written more than once keep one of the values (PyTorch leaves which undefined).
    inner = inner.at[key].set(jnp.broadcast_to(values.astype(x.dtype), inner[key].shape))
    if not starts:
        return inner
    return lax.dynamic_update_slice(x, inner.reshape(box.shape), begin)


_index_put_op = defop(
    "index_put",
    node="IndexPutBackward0",
    dtypes="keep",
    saves=lambda m: [],
    edges=(0, 1),
    values=("starts",),
)(_index_put_fn)


def index_put(x: Tensor, index, values) -> Tensor:
    """The tensor ``x`` with ``values`` written at ``x[index]`` (out of place)."""
    static, tensors, _ = getitem(x, index, _parse_only=True)
    if any(item is not None and item != "T" and item[0] == "b" for item in static):
        raise NotImplementedError("assignment through a bool scalar index is not supported")
    struct, starts = _structure(static)
    return dispatch(_index_put_op, (x, values, *tensors), (("index", struct), ("starts", starts)))


def _is_integer(t: Tensor) -> bool:
    return not t.dtype.is_floating_point and t.dtype.name not in ("bool", "uint8")


def _tensor_index(item: Tensor, shape: tuple, dim: int, tensors: list) -> list:
    name = item.dtype.name
    if name in ("bool", "uint8"):
        mask = host_value(item._data, "shape", "Indexing with a boolean mask").astype(bool)
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
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    size = shape[dim]
    # PyTorch's index kernel moves the indexed dims to the front: it names the index
    # tensor's position among the index tensors.
    position = len(tensors)

    def message(value: int) -> str:
        return f"index {value} is out of bounds for dimension {position} with size {size}"

    if isinstance(item._data, Tracer):  # under tapegrad.compile: checked after the call
        check_traced_range(item._data, -size, size, IndexError, message)
    else:
        idx = np.asarray(item._data)
        bad = idx[(idx < -size) | (idx >= size)]
        if bad.size:
            raise IndexError(message(int(bad[0])))
    tensors.append(item)
    return ["T"]


def nonzero(input: Tensor, *, as_tuple: bool = False):
    """Indices of the non-zero elements: an (n, ndim) int64 tensor, or one tensor per dim."""
    from tapegrad._tensor import _wrap

    idx = np.nonzero(host_value(input._data, "shape", "nonzero()"))
    if as_tuple:
        return tuple(_wrap(jnp.asarray(i, jnp.int64)) for i in idx)
    return _wrap(jnp.asarray(np.stack(idx, axis=1) if idx else np.zeros((0, 0)), jnp.int64))


def _masked_fill_fn(x, mask, value):
    return jnp.where(mask, value.astype(x.dtype), x)


_masked_fill_op = defop(
    "masked_fill", node="MaskedFillBackward0", dtypes="keep", saves=lambda m: [], edges=(0,)
)(_masked_fill_fn)
_masked_fill_tensor_op = defop(
    "masked_fill_tensor",
    node="MaskedFillBackward1",
    dtypes="keep",
    saves=lambda m: [],
    edges=(0, 2),
)(_masked_fill_fn)


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """``input`` with ``value`` where ``mask`` is True (``mask`` broadcasts to ``input``)."""
    if not isinstance(mask, Tensor) or mask.dtype.name != "bool":
        got = type(mask).__name__ if not isinstance(mask, Tensor) else _c_name(mask.dtype)
        raise RuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {got}"
        )
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value.ndim} dimension(s)."
            )
        return dispatch(_masked_fill_tensor_op, (input, mask, value))
    from tapegrad._creation import tensor

    return dispatch(_masked_fill_op, (input, mask, tensor(value)))


def _c_name(d) -> str:
    return {"float32": "float", "float64": "double", "int64": "long int", "int32": "int"}.get(
        d.name, d.name
    )


def _index_add_fn(x, index, source, dim, scaled, alpha):
    # ``alpha`` is a runtime value; whether it scales at all (alpha != 1) is static.
    key = (slice(None),) * dim + (index,)
    src = source.astype(x.dtype)
    return x.at[key].add((src * alpha).astype(x.dtype) if scaled else src)


_index_add_op = defop(
    "index_add",
    node="IndexAddBackward0",
    dtypes="keep",
    saves=lambda m: [],
    edges=(0, 2),
    values=("alpha",),
)(_index_add_fn)


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """``input`` with ``alpha * source`` added at ``index`` along ``dim`` (out of place)."""
    from tapegrad._ops._util import normalize_dim

    d = normalize_dim(dim, input.ndim)
    if index.ndim > 1 or index.dtype.name not in ("int64", "int32"):
        raise IndexError("index_add_(): Expected a long or int tensor for index")
    size = input._data.shape[d] if input.ndim else 1

    def message(value: int) -> str:
        return f"index out of range in self: index {value} for dimension {d} of size {size}"

    if isinstance(index._data, Tracer):  # under tapegrad.compile: checked after the call
        check_traced_range(index._data, -size, size, IndexError, message, pick="extreme")
    else:
        idx = np.asarray(index._data)
        if idx.size and (idx.min() < -size or idx.max() >= size):
            raise IndexError(message(int(idx.min()) if idx.min() < -size else int(idx.max())))
    statics = (("dim", d), ("scaled", alpha != 1), ("alpha", alpha))
    return dispatch(_index_add_op, (input, index, source), statics)


# ----- gather / scatter ----------------------------------------------------------------------
def _grids(index, dim: int) -> tuple:
    """Index arrays addressing, for every element of ``index``, its position with the ``dim``
    coordinate replaced by the element's value (PyTorch's scatter/gather addressing)."""
    index = index.reshape(-1) if index.ndim == 0 else index
    grids = list(jnp.indices(index.shape, sparse=True))
    grids[dim] = index
    return tuple(grids)


def _head(src, shape: tuple):
    src = src.reshape(-1) if src.ndim == 0 else src
    return src[tuple(slice(0, n) for n in shape or (1,))]


def _zero_dim_as_1d(fn):
    """PyTorch treats a 0-d self (or index) of scatter as 1-d."""

    def wrapped(x, *args, **statics):
        if x.ndim == 0:
            return fn(x.reshape(1), *args, **statics).reshape(())
        return fn(x, *args, **statics)

    return wrapped


@_zero_dim_as_1d
def _scatter_fn(x, index, src, dim, reduce):
    at = x.at[_grids(index, dim)]
    src = _head(src, index.shape).astype(x.dtype)
    if reduce == "add":
        return at.add(src)
    if reduce == "multiply":
        return at.multiply(src)
    return at.set(src)


@_zero_dim_as_1d
def _scatter_value_fn(x, index, value, dim, reduce):
    at = x.at[_grids(index, dim)]
    value = value.astype(x.dtype)
    if reduce == "add":
        return at.add(value)
    if reduce == "multiply":
        return at.multiply(value)
    return at.set(value)


_INDEX_SAVED = lambda mask: [1]  # noqa: E731  PyTorch's node saves the index only

_scatter_op = defop(
    "scatter", node="ScatterBackward0", dtypes="keep", saves=_INDEX_SAVED, edges=(0, 2)
)(_scatter_fn)
_scatter_value_op = defop(
    "scatter_value", node="ScatterBackward1", dtypes="keep", saves=_INDEX_SAVED, edges=(0,)
)(_scatter_value_fn)
_scatter_reduce_op = defop(
    "scatter_reduce_legacy", node="NotImplemented", dtypes="keep", edges=(0, 2)
)(_not_implemented("scatter", _scatter_fn))
_scatter_value_reduce_op = defop(
    "scatter_value_reduce_legacy", node="NotImplemented", dtypes="keep", edges=(0,)
)(_not_implemented("scatter", _scatter_value_fn))
_scatter_add_op = defop(
    "scatter_add", node="ScatterAddBackward0", dtypes="keep", saves=_INDEX_SAVED, edges=(0, 2)
)(lambda x, index, src, dim: _scatter_fn(x, index, src, dim, "add"))


@defop("gather", node="GatherBackward0", dtypes="keep", saves=_INDEX_SAVED, edges=(0,))
def _gather_op(x, index, dim):
    if x.ndim == 0:
        return jnp.broadcast_to(x, index.shape)
    return x[_grids(index, dim)].reshape(index.shape)


def _check_index(name: str, input: Tensor, dim: int, index: Tensor, src: Tensor | None) -> int:
    from jax.core import Tracer

    from tapegrad._ops._util import normalize_dim

    d = normalize_dim(dim, input.ndim)
    if index.dtype.name not in ("int64", "int32"):
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index")
    if src is not None and src.dtype is not input.dtype:
        raise RuntimeError(f"{name}(): Expected self.dtype to be equal to src.dtype")
    shape, ishape = input._data.shape, index._data.shape
    if index.numel() == 0:
        return d
    if max(len(ishape), 1) != max(len(shape), 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    if src is not None and src.ndim != len(ishape):
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    sshape = src._data.shape if src is not None else None
    for i, n in enumerate(ishape):
        too_big_self = i != d and n > (shape[i] if shape else 1)
        if too_big_self or (sshape is not None and n > sshape[i]):
            if name == "gather":
                raise RuntimeError(
                    f"Size does not match at dimension {i} expected index {list(ishape)} to be "
                    f"no larger than self {list(shape)} apart from dimension {d}"
                )
            raise RuntimeError(
                f"Expected index {list(ishape)} to be no larger than self {list(shape)} apart "
                f"from dimension {d} and to be no larger size than src {list(sshape or ())}"
            )
    idx = index._data
    size = shape[d] if shape else 1

    def message(value: int) -> str:
        return f"index {value} is out of bounds for dimension {d} with size {size}"

    if isinstance(idx, Tracer):  # under tapegrad.compile: checked after the call
        check_traced_range(idx, 0, size, RuntimeError, message)
    else:
        bad = np.asarray(idx)
        bad = bad[(bad < 0) | (bad >= size)]
        if bad.size:
            raise RuntimeError(message(int(bad.flat[0])))
    return d


_SCATTER_REDUCE_WARNING = (
    "The reduce argument of torch.scatter with Tensor src is deprecated and will be removed in "
    "a future PyTorch release. Use torch.scatter_reduce instead for more reduction options."
)


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce=None):
    """Out-of-place ``scatter_``: writes ``src`` (a tensor, or a number ``value``) into a copy
    of ``input`` at the positions ``index`` gives along ``dim``."""
    if src is None:
        src = value
    if reduce is not None and reduce not in ("add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    if isinstance(src, Tensor):
        d = _check_index("scatter", input, dim, index, src)
        if reduce is not None:
            import warnings

            warnings.warn(_SCATTER_REDUCE_WARNING, UserWarning, stacklevel=2)
        op = _scatter_op if reduce is None else _scatter_reduce_op
        return dispatch(op, (input, index, src), (("dim", d), ("reduce", reduce)))
    d = _check_index("scatter", input, dim, index, None)
    op = _scatter_value_op if reduce is None else _scatter_value_reduce_op
    return dispatch(op, (input, index, src), (("dim", d), ("reduce", reduce)))


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """Out-of-place ``scatter_add_``: adds ``src`` into a copy of ``input`` at ``index``."""
    d = _check_index("scatter_add", input, dim, index, src)
    return dispatch(_scatter_add_op, (input, index, src), (("dim", d),))


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """Gathers values along ``dim``: ``out[i][j] = input[index[i][j]][j]`` for ``dim=0``."""
    d = _check_index("gather", input, dim, index, None)
    return dispatch(_gather_op, (input, index), (("dim", d),))
