"""Shape ops. Views (view, reshape, t, transpose, permute, (un)squeeze, flatten, expand, split,
chunk, unbind, narrow, select, diagonal) share their input's storage; repeat, cat and stack copy.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from tapegrad._ops._registry import defop, dispatch
from tapegrad._ops._util import normalize_dim, normalize_size
from tapegrad._tensor import Tensor


def _view_op(name: str, node: str, n_out: int = 1):
    return defop(name, node=node, dtypes="keep", linear=True, view=True, n_out=n_out)


def _reshape_fn(x, shape):
    return jnp.reshape(x, shape)


_view = _view_op("view", "ViewBackward0")(_reshape_fn)
_alias = _view_op("alias", "AliasBackward0")(lambda x: x)


def _infer_size(shape: tuple, numel: int) -> tuple:
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for s in shape:
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s}")
    known = math.prod(s for s in shape if s != -1)
    if neg:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def view(input: Tensor, *shape) -> Tensor:
    """Returns a tensor with the same data and a different shape, sharing storage."""
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)) and not hasattr(
        shape[0], "__index__"
    ):
        from tapegrad._dtype import dtype as _dtype

        if isinstance(shape[0], _dtype):
            raise RuntimeError("view(dtype) is not supported by tapegrad; use .to(dtype)")
    size = _infer_size(normalize_size(shape), input.numel())
    return dispatch(_view, (input,), (("shape", size),))


def reshape(input: Tensor, *shape) -> Tensor:
    """Returns a tensor with the same data and the given shape (a view)."""
    return view(input, *shape)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Flattens dims ``start_dim`` to ``end_dim`` into one."""
    shape = input._data.shape
    if not shape:
        return view(input, 1)
    s = normalize_dim(start_dim, len(shape))
    e = normalize_dim(end_dim, len(shape))
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    new = shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :]
    return dispatch(_view, (input,), (("shape", new),))


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """Expands dim ``dim`` into ``sizes``."""
    shape = input._data.shape
    d = normalize_dim(dim, len(shape))
    sizes = _infer_size(tuple(sizes), shape[d])
    return dispatch(_view, (input,), (("shape", shape[:d] + sizes + shape[d + 1 :]),))


@_view_op("transpose", "TransposeBackward0")
def _transpose(x, dim0, dim1):
    return jnp.swapaxes(x, dim0, dim1)


@_view_op("t", "TBackward0")
def _t(x):
    return x.T


@_view_op("permute", "PermuteBackward0")
def _permute(x, dims):
    return jnp.transpose(x, dims)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swaps dims ``dim0`` and ``dim1`` (a view)."""
    n = input.ndim
    return dispatch(
        _transpose, (input,), (("dim0", normalize_dim(dim0, n)), ("dim1", normalize_dim(dim1, n)))
    )


swapaxes = transpose


def t(input: Tensor) -> Tensor:
    """Transposes a tensor of at most 2 dims (a view)."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return dispatch(_t, (input,))


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
    return dispatch(_permute, (input,), (("dims", dims),))


def numpy_T(input: Tensor) -> Tensor:
    """``x.T``: reverses all dimensions."""
    if input.ndim == 2:
        return dispatch(_permute, (input,), (("dims", (1, 0)),))
    return dispatch(_permute, (input,), (("dims", tuple(reversed(range(input.ndim)))),))


def mT(input: Tensor) -> Tensor:  # noqa: N802 - PyTorch's name
    if input.ndim < 2:
        raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.")
    return transpose(input, -2, -1)


@_view_op("unsqueeze", "UnsqueezeBackward0")
def _unsqueeze(x, dim):
    return jnp.expand_dims(x, dim)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Returns a view with a dimension of size one inserted at ``dim``."""
    d = normalize_dim(dim, input.ndim + 1)
    return dispatch(_unsqueeze, (input,), (("dim", d),))


def _squeeze_fn(x, dims):
    dims = tuple(d for d in dims if x.shape[d] == 1)
    return jnp.squeeze(x, dims) if dims else x


_squeeze_all = _view_op("squeeze", "SqueezeBackward0")(_squeeze_fn)
_squeeze_dim = _view_op("squeeze_dim", "SqueezeBackward1")(_squeeze_fn)
_squeeze_dims = _view_op("squeeze_dims", "SqueezeBackward2")(_squeeze_fn)


def squeeze(input: Tensor, dim=None) -> Tensor:
    """Returns a view with the dims of size one removed (only ``dim`` when given)."""
    n = input.ndim
    if dim is None:
        return dispatch(_squeeze_all, (input,), (("dims", tuple(range(n))),))
    if isinstance(dim, (tuple, list)):
        dims = tuple(normalize_dim(d, n) for d in dim)
        return dispatch(_squeeze_dims, (input,), (("dims", dims),))
    return dispatch(_squeeze_dim, (input,), (("dims", (normalize_dim(dim, n),) if n else ()),))


@_view_op("expand", "ExpandBackward0")
def _expand(x, shape):
    return jnp.broadcast_to(x, shape)


def expand(input: Tensor, *sizes) -> Tensor:
    """Returns a view with singleton dims expanded to a larger size (-1 keeps a size)."""
    sizes = normalize_size(sizes)
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand(torch.{'FloatTensor'}{{{list(shape)}}}, size={list(sizes)}): the number of "
            "sizes provided "
            f"({len(sizes)}) must be greater or equal to the number of dimensions in the tensor "
            f"({len(shape)})"
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
    return dispatch(_expand, (input,), (("shape", tuple(out)),))


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    return expand(input, *other.shape)


@defop("repeat", node="RepeatBackward0", dtypes="keep", linear=True)
def _repeat(x, repeats):
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
    return dispatch(_repeat, (input,), (("repeats", sizes),))


def _cat_fn(*xs, dim):
    return jnp.concatenate(xs, axis=dim)


def _stack_fn(*xs, dim):
    return jnp.stack(xs, axis=dim)


_cat = defop("cat", node="CatBackward0", linear=True)(_cat_fn)
_stack = defop("stack", node="StackBackward0", linear=True)(_stack_fn)


def _tensor_list(tensors, name: str) -> tuple:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"{name}(): argument 'tensors' (position 1) must be tuple of Tensors, not "
            f"{type(tensors).__name__}"
        )
    if not tensors:
        raise RuntimeError(f"{name}(): expected a non-empty list of Tensors")
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
    return dispatch(_cat, ts, (("dim", d),))


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
    return dispatch(_stack, ts, (("dim", d),))


def _split_fn(x, sections, dim):
    out = []
    start = 0
    for n in sections:
        out.append(x[(slice(None),) * dim + (slice(start, start + n),)])
        start += n
    return tuple(out)


_SPLIT_OPS: dict = {}


def _split_op(n: int):
    op = _SPLIT_OPS.get(n)
    if op is None:
        op = _SPLIT_OPS[n] = defop(
            f"split_{n}", node="SplitBackward0", dtypes="keep", linear=True, view=True, n_out=n
        )(_split_fn)
    return op


def _split_sections(input: Tensor, sections: tuple, dim: int) -> tuple:
    return dispatch(_split_op(len(sections)), (input,), (("sections", sections), ("dim", dim)))


def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Splits into chunks of ``split_size`` (the last may be smaller) or of the given sizes."""
    d = normalize_dim(dim, tensor.ndim)
    size = tensor._data.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={step}")
        sections = tuple(min(step, size - s) for s in range(0, size, step)) or (0,)
    else:
        sections = tuple(int(s) for s in split_size_or_sections)
        if sum(sections) != size:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
                f"size at dimension {d}), but got split_sizes={list(sections)}"
            )
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


_UNBIND_OPS: dict = {}


def unbind(input: Tensor, dim: int = 0) -> tuple:
    """Removes a dimension, returning a tuple of all slices along it (views)."""
    d = normalize_dim(dim, input.ndim)
    n = input._data.shape[d]
    op = _UNBIND_OPS.get(n)
    if op is None:
        op = _UNBIND_OPS[n] = defop(
            f"unbind_{n}", node="UnbindBackward0", dtypes="keep", linear=True, view=True, n_out=n
        )(_unbind_fn)
    return dispatch(op, (input,), (("dim", d),))


@_view_op("narrow", "SliceBackward0")
def _narrow(x, dim, start, length):
    return x[(slice(None),) * dim + (slice(start, start + length),)]


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """Returns a view of ``length`` elements along ``dim`` from ``start``."""
    d = normalize_dim(dim, input.ndim)
    size = input._data.shape[d]
    if start < 0:
        start += size
    if not 0 <= start <= size or length < 0 or start + length > size:
        raise RuntimeError(
            f"start ({start}) + length ({length}) exceeds dimension size ({size})."
        )
    return dispatch(_narrow, (input,), (("dim", d), ("start", start), ("length", length)))


@_view_op("select", "SelectBackward0")
def _select(x, dim, index):
    return x[(slice(None),) * dim + (index,)]


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """Returns the slice at ``index`` along ``dim`` (a view, one dim fewer)."""
    d = normalize_dim(dim, input.ndim)
    size = input._data.shape[d]
    if not -size <= index < size:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(input.shape)} at "
            f"dimension {d}"
        )
    return dispatch(_select, (input,), (("dim", d), ("index", index % size)))


@_view_op("diagonal", "DiagonalBackward0")
def _diagonal(x, offset, dim1, dim2):
    return jnp.diagonal(x, offset, dim1, dim2)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """Returns a view of the diagonal with respect to ``dim1`` and ``dim2``."""
    n = input.ndim
    a, b = normalize_dim(dim1, n), normalize_dim(dim2, n)
    if a == b:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return dispatch(_diagonal, (input,), (("offset", offset), ("dim1", a), ("dim2", b)))

