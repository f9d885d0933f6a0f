"""Shape ops. Views (view, reshape, t, transpose, permute, (un)squeeze, flatten, expand, split,
chunk, unbind, narrow, select, diagonal) share their input's storage; repeat, cat and stack copy.

tapegrad's arrays have no strides, but PyTorch's behaviour depends on them: ``view`` refuses a
non-contiguous layout and ``reshape``/``flatten`` copy it. ``layout`` recomputes the strides
PyTorch would give a view from the chain of view ops that made it (``STRIDE_RULES``).
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections import OrderedDict

import jax
import jax.numpy as jnp
from jax import lax

from tapegrad._ops._registry import defop, dispatch, make_op
from tapegrad._ops._util import normalize_dim, normalize_size
from tapegrad._tensor import Tensor


def _declare_view(name: str, node: str, n_out: int = 1):
    return defop(name, node=node, dtypes="keep", linear=True, view=True, n_out=n_out)


def _reshape_fn(x, shape):
    return jnp.reshape(x, shape)


_view_op = _declare_view("view", "ViewBackward0")(_reshape_fn)
_alias_op = _declare_view("alias", "AliasBackward0")(lambda x: x)
_reshape_alias_op = _declare_view("reshape_alias", "ReshapeAliasBackward0")(_reshape_fn)
# reshape of a layout no view can express: a contiguous copy, then a view of the copy.
_reshape_clone_op = defop("reshape_clone", node="CloneBackward0", dtypes="keep", linear=True)(
    lambda x: x
)
_unsafe_view_op = defop("unsafe_view", node="UnsafeViewBackward0", dtypes="keep", linear=True)(
    _reshape_fn
)

VIEW_NOT_COMPATIBLE = (
    "view size is not compatible with input tensor's size and stride (at least one dimension "
    "spans across two contiguous subspaces). Use .reshape(...) instead."
)


# ----- strides: PyTorch's layout of a view --------------------------------------------------
def contiguous_strides(shape: tuple) -> tuple:
    strides = []
    acc = 1
    for s in reversed(shape):
        strides.append(acc)
        acc *= max(s, 1)
    return tuple(reversed(strides))


def compute_stride(oldshape: tuple, oldstride: tuple, newshape: tuple) -> tuple | None:
    """PyTorch's ``computeStride``: the strides viewing ``oldshape`` as ``newshape``, or None."""
    if not oldshape:
        return (1,) * len(newshape)
    numel = math.prod(oldshape)
    if numel == 0:
        return (
            tuple(oldstride) if tuple(oldshape) == tuple(newshape) else contiguous_strides(newshape)
        )
    newstride = [0] * len(newshape)
    view_d = len(newshape) - 1
    chunk_base_stride = oldstride[-1]
    tensor_numel = 1
    view_numel = 1
    for tensor_d in range(len(oldshape) - 1, -1, -1):
        tensor_numel *= oldshape[tensor_d]
        if tensor_d == 0 or (
            oldshape[tensor_d - 1] != 1
            and oldstride[tensor_d - 1] != tensor_numel * chunk_base_stride
        ):
            while view_d >= 0 and (view_numel < tensor_numel or newshape[view_d] == 1):
                newstride[view_d] = view_numel * chunk_base_stride
                view_numel *= newshape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base_stride = oldstride[tensor_d - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return None
    return tuple(newstride)


def _drop(seq: list, d: int) -> list:
    return seq[:d] + seq[d + 1 :]


def _rule_unsqueeze(shape, strides, dim):
    st = strides[dim] * shape[dim] if dim < len(shape) else 1
    return [*shape[:dim], 1, *shape[dim:]], [*strides[:dim], st, *strides[dim:]]


def _rule_squeeze(shape, strides, dims):
    keep = [d for d in range(len(shape)) if not (d in dims and shape[d] == 1)]
    return [shape[d] for d in keep], [strides[d] for d in keep]


def _rule_expand(sh, st, shape):
    lead = len(shape) - len(sh)
    return list(shape), [0] * lead + [
        0 if sh[i] == 1 and shape[lead + i] != 1 else st[i] for i in range(len(sh))
    ]


def _rule_view(sh, st, shape):
    strides = compute_stride(tuple(sh), tuple(st), tuple(shape))
    return list(shape), list(strides if strides is not None else contiguous_strides(shape))


def _rule_diagonal(shape, strides, offset, dim1, dim2):
    n1, n2 = shape[dim1], shape[dim2]
    size = max(min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2), 0)
    keep = [d for d in range(len(shape)) if d not in (dim1, dim2)]
    return (
        [shape[d] for d in keep] + [size],
        [strides[d] for d in keep] + [strides[dim1] + strides[dim2]],
    )


def rule_basic_index(shape, strides, index, starts=()):
    """A basic index's structure ``(("i",) | ("s", length, step) | None, ...)`` (indexing.py)."""
    out_shape, out_strides, d = [], [], 0
    for item in index:
        if item is None:
            out_shape.append(1)
            out_strides.append(strides[d] * shape[d] if d < len(shape) else 1)
        elif item[0] == "i":
            d += 1
        else:
            out_shape.append(item[1])
            out_strides.append(strides[d] * item[2])
            d += 1
    return out_shape + shape[d:], out_strides + strides[d:]


def _rule_split(shape, strides, index, sections, dim):
    shape = list(shape)
    shape[dim] = sections[index]
    return shape, strides


def _rule_unbind(shape, strides, index, dim):
    return _drop(shape, dim), _drop(strides, dim)


def _swap(seq: list, a: int, b: int) -> list:
    seq = list(seq)
    seq[a], seq[b] = seq[b], seq[a]
    return seq


# op name -> rule(shape, strides, **statics) -> (shape, strides), shapes and strides as lists.
STRIDE_RULES = {
    "view": _rule_view,
    "reshape_alias": _rule_view,
    "alias": lambda sh, st: (sh, st),
    "transpose": lambda sh, st, dim0, dim1: (_swap(sh, dim0, dim1), _swap(st, dim0, dim1)),
    "t": lambda sh, st: (sh[::-1], st[::-1]),
    "permute": lambda sh, st, dims: ([sh[d] for d in dims], [st[d] for d in dims]),
    "unsqueeze": _rule_unsqueeze,
    "squeeze": _rule_squeeze,
    "squeeze_dim": _rule_squeeze,
    "squeeze_dims": _rule_squeeze,
    "expand": _rule_expand,
    "narrow": lambda sh, st, dim, start, length: ([*sh[:dim], length, *sh[dim + 1 :]], st),
    "select": lambda sh, st, dim, index: (_drop(sh, dim), _drop(st, dim)),
    "diagonal": _rule_diagonal,
}
# ops with several outputs, by the name they share up to "_<number of outputs>":
# rule(shape, strides, output index, **statics)
MULTI_STRIDE_RULES = {"split": _rule_split, "splitws": _rule_split, "unbind": _rule_unbind}


def layout(input: Tensor) -> tuple[tuple, tuple]:
    """The shape and the strides (in elements) PyTorch would give ``input``."""
    v = input._view
    if v is None:
        shape = input._data.shape
        return shape, contiguous_strides(shape)
    shape = list(input._storage.array.shape)
    strides = list(contiguous_strides(tuple(shape)))
    for op, statics, index, vals in v.chain:
        kw = dict(statics)
        kw.update(zip(op.values, vals, strict=True))
        rule = STRIDE_RULES.get(op.name) if index is None else None
        if rule is None:  # one of several pieces (split into one piece: index None, piece 0)
            multi = MULTI_STRIDE_RULES.get(op.name.rsplit("_", 1)[0])
            rule = None if multi is None else functools.partial(multi, index=index or 0)
        if rule is not None:
            shape, strides = rule(shape, strides, **kw)
            continue
        # A view op without a rule: assume it leaves a contiguous result.
        fn = op.forward_fn(None, statics)
        out = jax.eval_shape(lambda a, f=fn, v=vals: f(a, *v), jax.ShapeDtypeStruct(shape, "f4"))
        shape = list((out if index is None else out[index]).shape)
        strides = list(contiguous_strides(tuple(shape)))
    return tuple(shape), tuple(strides)


def _is_contiguous(shape: tuple, strides: tuple) -> bool:
    if math.prod(shape) == 0:
        return True
    expected = 1
    for size, stride in zip(reversed(shape), reversed(strides), strict=True):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True


def is_contiguous(input: Tensor, memory_format=None) -> bool:
    """Whether PyTorch would store ``input`` contiguously (False for most transposed views)."""
    return input._view is None or _is_contiguous(*layout(input))


def contiguous(input: Tensor, memory_format=None) -> Tensor:
    """``input`` itself when contiguous, else a contiguous copy (``CloneBackward0``)."""
    if is_contiguous(input):
        return input
    return dispatch(_reshape_clone_op, (input,))


def _viewable(input: Tensor, size: tuple) -> bool:
    return input._view is None or compute_stride(*layout(input), size) is not None


def _infer_size(shape: tuple, numel: int) -> tuple:
    """PyTorch's ``infer_size``: ``shape`` with its one -1 resolved, checked against ``numel``."""
    if -1 not in shape and min(shape, default=0) >= 0 and math.prod(shape) == numel:
        return tuple(shape)  # the common case, checked cheaply
    infer_dim = None
    newsize = 1
    for dim, s in enumerate(shape):
        if s == -1:
            if infer_dim is not None:
                raise RuntimeError("only one dimension can be inferred")
            infer_dim = dim
        elif s >= 0:
            newsize *= s
        else:
            raise RuntimeError(f"invalid shape dimension {s} at index {dim} of shape {list(shape)}")
    if numel == newsize or (infer_dim is not None and newsize > 0 and numel % newsize == 0):
        if infer_dim is None:
            return tuple(shape)
        if newsize == 0:
            raise RuntimeError(
                f"cannot reshape tensor of 0 elements into shape {list(shape)} because the "
                "unspecified dimension size -1 can be any value and is ambiguous"
            )
        return tuple(numel // newsize if d == infer_dim else s for d, s in enumerate(shape))
    raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")


def view(input: Tensor, *shape) -> Tensor:
    """Returns a tensor with the same data and a different shape, sharing storage."""
    if (
        len(shape) == 1
        and not isinstance(shape[0], (int, tuple, list))
        and not hasattr(shape[0], "__index__")
    ):
        from tapegrad._dtype import dtype as _dtype

        if isinstance(shape[0], _dtype):
            raise RuntimeError("view(dtype) is not supported by tapegrad; use .to(dtype)")
    size = _infer_size(normalize_size(shape), input.numel())
    if not _viewable(input, size):
        raise RuntimeError(VIEW_NOT_COMPATIBLE)
    return dispatch(_view_op, (input,), (("shape", size),))


def _reshape(input: Tensor, size: tuple) -> Tensor:
    # PyTorch: a contiguous input is viewed (ViewBackward0), a strided one whose layout allows
    # the new shape is aliased (ReshapeAliasBackward0), any other is copied first.
    if input._view is None:
        return dispatch(_view_op, (input,), (("shape", size),))
    shape, strides = layout(input)
    if _is_contiguous(shape, strides):
        return dispatch(_view_op, (input,), (("shape", size),))
    if compute_stride(shape, strides, size) is not None:
        return dispatch(_reshape_alias_op, (input,), (("shape", size),))
    copy = dispatch(_reshape_clone_op, (input,))
    return dispatch(_unsafe_view_op, (copy,), (("shape", size),))


def reshape(input: Tensor, *shape) -> Tensor:
    """Returns a tensor with the given shape: a view when the layout allows one, else a copy."""
    return _reshape(input, _infer_size(normalize_size(shape), input.numel()))


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Flattens dims ``start_dim`` to ``end_dim`` into one."""
    shape = input._data.shape
    if not shape:
        return _reshape(input, (1,))
    s = normalize_dim(start_dim, len(shape))
    e = normalize_dim(end_dim, len(shape))
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    return _reshape(input, (*shape[:s], math.prod(shape[s : e + 1]), *shape[e + 1 :]))


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """Expands dim ``dim`` into ``sizes`` (a view)."""
    shape = input._data.shape
    d = normalize_dim(dim, len(shape))
    sizes = normalize_size((sizes,))
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    try:
        sizes = _infer_size(sizes, shape[d])
    except RuntimeError:
        raise RuntimeError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {d} "
            f"({shape[d]}) in the input tensor"
        ) from None
    return dispatch(_view_op, (input,), (("shape", shape[:d] + sizes + shape[d + 1 :]),))


@_declare_view("transpose", "TransposeBackward0")
def _transpose_op(x, dim0, dim1):
    return jnp.swapaxes(x, dim0, dim1)


@_declare_view("t", "TBackward0")
def _t_op(x):
    return x.T


@_declare_view("permute", "PermuteBackward0")
def _permute_op(x, dims):
    return jnp.transpose(x, dims)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swaps dims ``dim0`` and ``dim1`` (a view)."""
    n = input.ndim
    return dispatch(
        _transpose_op,
        (input,),
        (("dim0", normalize_dim(dim0, n)), ("dim1", normalize_dim(dim1, n))),
    )


swapaxes = transpose


def t(input: Tensor) -> Tensor:
    """Transposes a tensor of at most 2 dims (a view)."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return dispatch(_t_op, (input,))


def permute(input: Tensor, *dims) -> Tensor:
    """Returns a view with its dimensions permuted."""
    dims = normalize_size(dims)
    n = input.ndim
    if len(dims) != n:
        raise RuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {n} is not equal to "
            f"len(dims) = {len(dims)}"
        )
    dims = tuple(normalize_dim(d, n) for d in dims)
    if len(set(dims)) != n:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return dispatch(_permute_op, (input,), (("dims", dims),))


T_DEPRECATED = (
    "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated "
    "and it will throw an error in a future release. Consider `x.mT` to transpose batches of "
    "matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a "
    "tensor."
)
T_0D_DEPRECATED = (
    "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases."
)


WARNED_ONCE: set = set()


def warn_once(message: str, stacklevel: int = 3) -> None:
    """PyTorch's ``TORCH_WARN_ONCE``: a UserWarning the first time in the process only."""
    if message not in WARNED_ONCE:
        WARNED_ONCE.add(message)
        warnings.warn(message, UserWarning, stacklevel=stacklevel)


def numpy_T(input: Tensor) -> Tensor:
    """``x.T``: reverses all dimensions (PyTorch warns, once, unless ``x`` is 2-D)."""
    if input.ndim != 2:
        warn_once(T_0D_DEPRECATED if input.ndim == 0 else T_DEPRECATED)
    if input.ndim == 2:
        return dispatch(_permute_op, (input,), (("dims", (1, 0)),))
    return dispatch(_permute_op, (input,), (("dims", tuple(reversed(range(input.ndim)))),))


def mT(input: Tensor) -> Tensor:
    if input.ndim < 2:
        raise RuntimeError(
            "tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor."
        )
    return transpose(input, -2, -1)


@_declare_view("unsqueeze", "UnsqueezeBackward0")
def _unsqueeze_op(x, dim):
    return jnp.expand_dims(x, dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Returns a view with a dimension of size one inserted at ``dim``."""
    d = normalize_dim(dim, input.ndim + 1)
    return dispatch(_unsqueeze_op, (input,), (("dim", d),))


def _squeeze_fn(x, dims):
    dims = tuple(d for d in dims if x.shape[d] == 1)
    return jnp.squeeze(x, dims) if dims else x


_squeeze_all_op = _declare_view("squeeze", "SqueezeBackward0")(_squeeze_fn)
_squeeze_dim_op = _declare_view("squeeze_dim", "SqueezeBackward1")(_squeeze_fn)
_squeeze_dims_op = _declare_view("squeeze_dims", "SqueezeBackward2")(_squeeze_fn)


def squeeze(input: Tensor, dim=None) -> Tensor:
    """Returns a view with the dims of size one removed (only ``dim`` when given)."""
    n = input.ndim
    if dim is None:
        return dispatch(_squeeze_all_op, (input,), (("dims", tuple(range(n))),))
    if isinstance(dim, (tuple, list)):
        dims = tuple(normalize_dim(d, n) for d in dim)
        return dispatch(_squeeze_dims_op, (input,), (("dims", dims),))
    return dispatch(_squeeze_dim_op, (input,), (("dims", (normalize_dim(dim, n),) if n else ()),))


@_declare_view("expand", "ExpandBackward0")
def _expand_op(x, shape):
    return jnp.broadcast_to(x, shape)


_LEGACY_TYPES = {
    "float32": "torch.FloatTensor",
    "float64": "torch.DoubleTensor",
    "float16": "torch.HalfTensor",
    "bfloat16": "CPUBFloat16Type",
    "int64": "torch.LongTensor",
    "int32": "torch.IntTensor",
    "int16": "torch.ShortTensor",
    "int8": "torch.CharTensor",
    "uint8": "torch.ByteTensor",
    "bool": "CPUBoolType",
}


def _legacy_type(dtype) -> str:
    return _LEGACY_TYPES[dtype.name]


def expand(input: Tensor, *sizes) -> Tensor:
    """Returns a view with singleton dims expanded to a larger size (-1 keeps a size)."""
    sizes = normalize_size(sizes)
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand({_legacy_type(input.dtype)}{{{list(shape)}}}, size={list(sizes)}): the "
            f"number of sizes provided ({len(sizes)}) must be greater or equal to the number of "
            f"dimensions in the tensor ({len(shape)})"
        )
    lead = len(sizes) - len(shape)
    out = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(
                    f"The expanded size of the tensor ({s}) isn't allowed in a leading, "
                    "non-existing dimension 0"
                )
            out.append(s)
            continue
        have = shape[i - lead]
        if s == -1:
            s = have
        elif have != 1 and s != have:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({have}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                f"{list(shape)}"
            )
        out.append(s)
    return dispatch(_expand_op, (input,), (("shape", tuple(out)),))


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    return expand(input, *other.shape)


@defop("repeat", node="RepeatBackward0", dtypes="keep", linear=True)
def _repeat_op(x, repeats):
    x = jnp.reshape(x, (1,) * (len(repeats) - x.ndim) + x.shape)
    return jnp.tile(x, repeats)


def repeat(input: Tensor, *sizes) -> Tensor:
    """Repeats the tensor along each dimension (copies, unlike ``expand``)."""
    sizes = normalize_size(sizes)
    if len(sizes) < input.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of "
            "tensor"
        )
    return dispatch(_repeat_op, (input,), (("repeats", sizes),))


def _cat_fn(*xs, dim):
    return jnp.concatenate(xs, axis=dim)


def _stack_fn(*xs, dim):
    return jnp.stack(xs, axis=dim)


_cat_op = defop("cat", node="CatBackward0", linear=True)(_cat_fn)
_stack_op = defop("stack", node="StackBackward0", linear=True)(_stack_fn)


def _tensor_list(tensors, name: str) -> tuple:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"{name}(): argument 'tensors' (position 1) must be tuple of Tensors, not "
            f"{type(tensors).__name__}"
        )
    if not tensors:
        if name == "stack":
            raise RuntimeError("stack expects a non-empty TensorList")
        raise ValueError(f"torch.{name}(): expected a non-empty list of Tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(
                f"expected Tensor as element {tensors.index(t)} in argument 0, but got "
                f"{type(t).__name__}"
            )
    return tuple(tensors)


def cat(tensors, dim: int = 0) -> Tensor:
    """Concatenates tensors along an existing dimension ``dim``."""
    ts = _tensor_list(tensors, "cat")
    # PyTorch skips legacy empty 1-D tensors of shape (0,).
    ts = tuple(t for t in ts if not (t.ndim == 1 and t._data.shape[0] == 0)) or ts[:1]
    first = ts[0]
    if first.ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = normalize_dim(dim, first.ndim)
    ref = first._data.shape
    for i, t in enumerate(ts):
        s = t._data.shape
        if len(s) != len(ref):
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {len(ref)} and {len(s)}"
            )
        for k in range(len(ref)):
            if k != d and s[k] != ref[k]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size "
                    f"{ref[k]} but got size {s[k]} for tensor number {i} in the list."
                )
    return dispatch(_cat_op, ts, (("dim", d),))


concat = cat
concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    """Stacks tensors of equal shape along a new dimension ``dim``."""
    ts = _tensor_list(tensors, "stack")
    ref = ts[0]._data.shape
    for i, t in enumerate(ts):
        if t._data.shape != ref:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(ref)} at entry 0 and "
                f"{list(t._data.shape)} at entry {i}"
            )
    d = normalize_dim(dim, len(ref) + 1)
    return dispatch(_stack_op, ts, (("dim", d),))


def _split_fn(x, sections, dim):
    out = []
    start = 0
    for n in sections:
        out.append(x[(slice(None),) * dim + (slice(start, start + n),)])
        start += n
    return tuple(out)


# split/unbind into n pieces: one op per n (its number of outputs), made on first use and kept
# here, not in the op table; the least recently used go past _MAX_PIECE_OPS.
_SPLIT_OPS: OrderedDict = OrderedDict()
_MAX_PIECE_OPS = 256


def _cached_piece(cache: OrderedDict, key, make):
    op = cache.get(key)
    if op is None:
        op = cache[key] = make()
        if len(cache) > _MAX_PIECE_OPS:
            cache.popitem(last=False)
    else:
        with contextlib.suppress(KeyError):  # another thread may have evicted it
            cache.move_to_end(key)
    return op


def _first(fn):
    # An op with one output returns an array, not a 1-tuple (the registry's contract).
    return lambda x, **kw: fn(x, **kw)[0]


def _split_pieces(n: int, with_sizes: bool):
    # split(int) and chunk tape SplitBackward0; split(list of sizes) SplitWithSizesBackward0.
    name = "splitws" if with_sizes else "split"
    node = "SplitWithSizesBackward0" if with_sizes else "SplitBackward0"
    return _cached_piece(
        _SPLIT_OPS,
        (n, with_sizes),
        lambda: make_op(
            f"{name}_{n}",
            _split_fn if n > 1 else _first(_split_fn),
            node=node,
            dtypes="keep",
            linear=True,
            view="multi",
            n_out=n,
        ),
    )


def _split_sections(input: Tensor, sections: tuple, dim: int, with_sizes: bool = False) -> tuple:
    op = _split_pieces(len(sections), with_sizes)
    out = dispatch(op, (input,), (("sections", sections), ("dim", dim)))
    return out if len(sections) > 1 else (out,)


def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Splits into chunks of ``split_size`` (the last may be smaller) or of the given sizes."""
    d = normalize_dim(dim, tensor.ndim)
    size = tensor._data.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step < 0:
            raise RuntimeError(
                f"split expects split_size be non-negative, but got split_size={step}"
            )
        if step == 0 and size != 0:
            raise RuntimeError(
                f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}"
            )
        sections = tuple(min(step, size - s) for s in range(0, size, step)) if step else ()
        sections = sections or (0,)
    else:
        sections = tuple(int(s) for s in split_size_or_sections)
        if sum(sections) != size:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
                f"size at dimension {d}), but got split_sizes={list(sections)}"
            )
        return _split_sections(tensor, sections, d, with_sizes=True)
    return _split_sections(tensor, sections, d)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Splits into ``chunks`` pieces of equal size (the last may be smaller)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = normalize_dim(dim, input.ndim)
    size = input._data.shape[d]
    step = -(-size // chunks) if size else 1
    return split(input, step, d)


def _unbind_fn(x, dim):
    return tuple(jnp.moveaxis(x, dim, 0))


_UNBIND_OPS: OrderedDict = OrderedDict()


def unbind(input: Tensor, dim: int = 0) -> tuple:
    """Removes a dimension, returning a tuple of all slices along it (views)."""
    d = normalize_dim(dim, input.ndim)
    n = input._data.shape[d]
    if n == 0:
        return ()
    op = _cached_piece(
        _UNBIND_OPS,
        n,
        lambda: make_op(
            f"unbind_{n}",
            _unbind_fn if n > 1 else _first(_unbind_fn),
            node="UnbindBackward0",
            dtypes="keep",
            linear=True,
            view="multi",
            n_out=n,
        ),
    )
    out = dispatch(op, (input,), (("dim", d),))
    return out if n > 1 else (out,)


@defop("narrow", node="SliceBackward0", dtypes="keep", linear=True, view=True, values=("start",))
def _narrow_op(x, dim, length, start):
    return lax.dynamic_slice_in_dim(x, start, length, dim)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """Returns a view of ``length`` elements along ``dim`` from ``start``."""
    d = normalize_dim(dim, input.ndim)
    size = input._data.shape[d]
    if start < 0:
        start += size
    if not 0 <= start <= size or length < 0 or start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return dispatch(_narrow_op, (input,), (("dim", d), ("start", start), ("length", length)))


@defop("select", node="SelectBackward0", dtypes="keep", linear=True, view=True, values=("index",))
def _select_op(x, dim, index):
    return lax.dynamic_index_in_dim(x, index, dim, keepdims=False)


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """Returns the slice at ``index`` along ``dim`` (a view, one dim fewer)."""
    d = normalize_dim(dim, input.ndim)
    size = input._data.shape[d]
    if not -size <= index < size:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(input.shape)} at "
            f"dimension {d}"
        )
    return dispatch(_select_op, (input,), (("dim", d), ("index", index % size)))


@_declare_view("diagonal", "DiagonalBackward0")
def _diagonal_op(x, offset, dim1, dim2):
    return jnp.diagonal(x, offset, dim1, dim2)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """Returns a view of the diagonal with respect to ``dim1`` and ``dim2``."""
    n = input.ndim
    a, b = normalize_dim(dim1, n), normalize_dim(dim2, n)
    if a == b:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return dispatch(_diagonal_op, (input,), (("offset", offset), ("dim1", a), ("dim2", b)))
