"""In-place ops: compute the out-of-place result, then write it into the tensor's storage.

The write goes through the view's index map when the tensor is a view, bumps the shared
version counter, and moves the tensor's history to the new node, as PyTorch's in-place ops do.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp

from tapegrad import _dtype as dt
from tapegrad import _segment
from tapegrad._grad_mode import state as _mode
from tapegrad._kernel_cache import bounded_jit
from tapegrad._ops._registry import defop, dispatch
from tapegrad._storage import Storage
from tapegrad._tensor import Tensor, _new
from tapegrad._tracing import structure_version
from tapegrad._view import apply_chain

LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
INFERENCE_INPLACE = (
    "Inplace update to inference tensor outside InferenceMode is not allowed.You can make a "
    "clone to get a normal tensor before doing inplace update.See "
    "https://github.com/pytorch/rfcs/pull/17 for more details."
)
VIEW_OF_LEAF_INPLACE = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)
INTERNAL_OVERLAP = (
    "unsupported operation: more than one element of the written-to tensor refers to a single "
    "memory location. Please clone() the tensor before performing the operation."
)
_REBASE_ADVICE = {
    "multi": (
        " This view is the output of a function that returns multiple views. Such functions do "
        "not allow the output views to be modified inplace. You should replace the inplace "
        "operation by an out-of-place one."
    ),
    "no_grad": (
        " Given that this use case is ambiguous and error-prone, it is forbidden. You can "
        "clarify your code by moving both the view and the inplace either both inside the "
        "no_grad block (if you don't want the inplace to be tracked) or both outside (if you "
        "want the inplace to be tracked)."
    ),
    "inference": (
        " Given that this use case is ambiguous and error-prone, it is forbidden. You can "
        "clarify your code by moving both the view and the inplace either both inside the "
        "inference_mode block (if you don't want the inplace to be tracked) or both outside (if "
        "you want the inplace to be tracked)."
    ),
}


@bounded_jit
def _scatter(base, index_map, values):
    flat = base.reshape(-1).at[index_map.reshape(-1)].set(values.reshape(-1))
    return flat.reshape(base.shape)


def _can_cast(src: dt.dtype, dst: dt.dtype) -> bool:
    return src._category <= dst._category


def rebase_error(view: Tensor, indirect: bool) -> RuntimeError:
    """PyTorch's refusal to write into a view made by a multi-output op or in no_grad or
    inference mode (``indirect``: its base or another view of it was written)."""
    from tapegrad.autograd._errors import _short

    creation = view._creation
    node = view._grad_fn
    what = "its base or another view of its base has been" if indirect else "is being"
    if creation in ("no_grad", "inference") or node is None:
        if node is not None:
            prefix = (
                f"Output {view._output_nr} of {_short(node)} is a view of a view which was "
                "created in"
            )
        else:
            prefix = "A view was created in"
        if creation == "inference":
            msg = f"{prefix} inference mode and {what} modified inplace in normal mode."
        else:
            msg = f"{prefix} no_grad mode and {what} modified inplace with grad mode enabled."
    else:
        msg = f"Output {view._output_nr} of {_short(node)} is a view and {what} modified inplace."
    return RuntimeError(msg + _REBASE_ADVICE[creation])


_OVERLAPS: dict = {}
_MAX_OVERLAPS = 4096


def _overlaps(self: Tensor) -> bool:
    """True if the view has a stride-0 dim of size > 1 (an expanded view). It depends only
    on the view's chain and its base's shape, so it is computed once per pair."""
    key = (self._view.split()[0], self._storage.array.shape)
    found = _OVERLAPS.get(key)
    if found is None:
        from tapegrad._ops.shape import layout

        shape, strides = layout(self)
        if len(_OVERLAPS) >= _MAX_OVERLAPS:
            _OVERLAPS.clear()
        found = _OVERLAPS[key] = any(s == 0 and n > 1 for n, s in zip(shape, strides, strict=True))
    return found


def check_inplace(self: Tensor, overlap_ok: bool = False) -> None:
    """PyTorch's refusals, before anything changes: to modify an inference tensor outside
    inference mode; while grad mode is on, a leaf that requires grad, a view of one, or a view
    PyTorch marks unsafe (multi-output, made in no_grad); and, unless ``overlap_ok`` (fills),
    to write into a tensor whose elements share memory (an expanded view)."""
    if self._is_inference and not _mode.inference:
        raise RuntimeError(INFERENCE_INPLACE)
    base = self._base
    if _mode.grad_enabled:
        if base is not None:
            if self._creation is not None and self._requires_grad:
                raise rebase_error(self, indirect=False)
            if base._requires_grad and base._grad_fn is None:
                raise RuntimeError(VIEW_OF_LEAF_INPLACE)
        elif self._requires_grad and self._grad_fn is None:
            raise RuntimeError(LEAF_INPLACE)
    if not overlap_ok and self._view is not None and _overlaps(self):
        raise RuntimeError(INTERNAL_OVERLAP)


_EXPANDED_WRITE = (
    "Use of {} on expanded tensors is deprecated. Please clone() the tensor before performing "
    "this operation. This also applies to advanced indexing e.g. {}"
)


def check_indexed_write(self: Tensor, op: str) -> None:
    """``check_inplace`` for masked_fill_ and index_put_, which PyTorch still allows (with a
    deprecation warning) on expanded tensors."""
    check_inplace(self, overlap_ok=True)
    if self._view is not None and _overlaps(self):
        example = "tensor[mask] = scalar" if op == "masked_fill_" else "tensor[indices] = tensor"
        warnings.warn(_EXPANDED_WRITE.format(op, example), UserWarning, stacklevel=3)


def refresh_view(view: Tensor) -> None:
    """Regenerate the history of a view whose base was modified in place (not through this
    view) since the view's ``grad_fn`` was set: PyTorch's lazy ``AsStridedBackward0``."""
    vc = view._vc
    base = view._base
    if view._grad_fn is None and not base._requires_grad:
        return
    if view._creation is not None:
        raise rebase_error(view, indirect=True)
    prev = _mode.grad_enabled
    _mode.grad_enabled = True
    try:
        regenerated = _regenerate(base, view._view)
    finally:
        _mode.grad_enabled = prev
    view._attr_version = vc.value
    view._grad_fn = regenerated._grad_fn
    view._output_nr = 0


def write(self: Tensor, array, bump: bool = True) -> None:
    """Replace the tensor's values (same shape and dtype) and, unless ``bump`` is False (a
    write PyTorch's kernel makes without it, such as batch norm's running statistics), bump
    its version."""
    st = self._storage
    v = self._view
    if v is None:
        st.write(array)
    else:
        st.write(_scatter(st.array, v.index_map(st.array.shape), array))
        v.array = array
        v.generation = st.generation
    if bump:
        self._version_counter().value += 1


@defop("copy_slices", node="CopySlices", dtypes="keep", saves=lambda mask: [], edges=(0, 1))
def _copy_slices_op(base, values, index_map):
    flat = base.reshape(-1).at[index_map.reshape(-1)].set(values.reshape(-1))
    return flat.reshape(base.shape)


@defop("regenerate_view", node="AsStridedBackward0", dtypes="keep", linear=True, values=("vals",))
def _regenerate_view_op(base, chain, vals):
    return apply_chain(base, chain, vals)


def _regenerate(base: Tensor, info) -> Tensor:
    struct, vals = info.split()
    return dispatch(_regenerate_view_op, (base,), (("chain", struct), ("vals", vals)))


def _write_into_view(view: Tensor, result: Tensor) -> Tensor:
    """PyTorch's CopySlices: writing ``result`` into ``view`` gives its base a node that takes
    the written region's gradient from ``result`` and the rest from the base's old history;
    the view's own history is regenerated from the base (``AsStridedBackward0``)."""
    from tapegrad._tensor import _wrap

    base = view._base
    info = view._view
    index_map = _wrap(info.index_map(base._storage.array.shape))
    new_base = dispatch(_copy_slices_op, (base, result, index_map))
    base._storage.write(new_base._data)
    vc = view._version_counter()
    vc.value += 1
    if new_base._grad_fn is not None:
        base._grad_fn = new_base._grad_fn
        base._output_nr = 0
        base._requires_grad = True
        regenerated = _regenerate(base, info)
        view._grad_fn = regenerated._grad_fn
        view._output_nr = 0
        view._requires_grad = True
        view._attr_version = vc.value
        structure_version[0] += 1
    return view


def output_shape_error(shape: tuple, broadcast: tuple) -> RuntimeError:
    """PyTorch's error for an in-place result whose shape is not the tensor's own."""
    return RuntimeError(
        f"output with shape {list(shape)} doesn't match the broadcast shape {list(broadcast)}"
    )


def check_broadcast_into(shape: tuple, other: tuple) -> None:
    """PyTorch's errors, before anything runs, for writing a value of shape ``other`` into a
    tensor of ``shape`` in place (``copy_``, ``mul_``): it must broadcast to ``shape`` itself."""
    from tapegrad._ops._errors import broadcast_error

    err = broadcast_error([tuple(shape), tuple(other)])
    if err is not None:
        raise err
    full = jnp.broadcast_shapes(tuple(shape), tuple(other))
    if full != tuple(shape):
        raise output_shape_error(shape, full)


def apply_inplace(self: Tensor, result: Tensor) -> Tensor:
    """Write the out-of-place ``result`` into ``self`` and take over its history."""
    sa, ra = self._data, result._data
    shape, rshape = sa.shape, ra.shape
    if rshape != shape:
        raise output_shape_error(shape, rshape)
    if result._grad_fn is not None:
        _unsave_self(result._grad_fn, self)
    if ra.dtype != sa.dtype:
        sd, rd = self.dtype, result.dtype
        if not _can_cast(rd, sd):
            raise RuntimeError(
                f"result type {dt.legacy_name(rd)} can't be cast to the desired output type "
                f"{dt.legacy_name(sd)}"
            )
        result = result.to(sd)
    node = result._grad_fn
    base = self._base
    if base is not None and _mode.grad_enabled and (result._requires_grad or base._requires_grad):
        if self._creation is not None and result._requires_grad:
            raise rebase_error(self, indirect=False)
        _write_into_view(self, result)
        if node is not None:
            _resave_output(node, self)
        return self
    write(self, result._data)
    if node is not None:
        _resave_output(node, self)
        old = self._grad_fn
        if self._retains_grad and old is not None and old._retain:
            # retain_grad follows the tensor to its new history (PyTorch's rebase_history).
            old._retain.pop(self._output_nr, None)
            node._add_retain_grad(result._output_nr, self)
        self._grad_fn = node
        self._output_nr = result._output_nr
        if not self._requires_grad:
            self._requires_grad = True
            structure_version[0] += 1
    return self


def _unsave_self(node, self: Tensor) -> None:
    """Before ``self`` is overwritten by the result of ``node``'s op: the node must compute from
    self's old value, so it keeps a frozen copy of it (with self's old history) instead of self,
    and no longer checks self's version for it."""
    saved = node._saved
    if saved is None or not any(o is self for o in saved):
        return
    frozen = _frozen(self, self._data)
    node._saved = tuple(frozen if o is self else o for o in saved)
    versions = node._versions
    if versions:
        node._versions = [e for e in versions if e[0] < 0 or saved[e[0]] is not self]


def _resave_output(node, self: Tensor) -> None:
    """After the write: a saved output is now ``self`` at its new version."""
    versions = node._versions
    if versions and any(e[0] < 0 for e in versions):
        vc = self._version_counter()
        node._versions = [(-1, vc, vc.value) if e[0] < 0 else e for e in versions]


def _frozen(self: Tensor, array) -> Tensor:
    """A tensor holding ``array`` with ``self``'s current autograd identity."""
    f = _new(Tensor)
    f._storage = Storage(array)
    f._requires_grad = self._requires_grad
    f._grad_fn = self._grad_fn
    f._output_nr = self._output_nr
    if f._grad_fn is None and f._requires_grad:
        f._grad_acc = self._grad_acc
    return f


def inplace(self: Tensor, fn, *args, **kwargs) -> Tensor:
    """``self = fn(self, *args)`` in place, with PyTorch's checks done before anything changes."""
    check_inplace(self)
    # The result is written at once: deferring it would only add a segment's bookkeeping.
    seg = _segment.current()
    was = seg.active
    seg.active = False
    try:
        result = fn(self, *args, **kwargs)
    finally:
        seg.active = was
    return apply_inplace(self, result)


@defop("fill", node="FillBackward2", dtypes="keep", linear=True, values=("value",))
def _fill_op(x, value):
    return jnp.full(x.shape, value, x.dtype)


@defop("fill_tensor", node="FillBackward3", dtypes="keep", linear=True, cast=())
def _fill_tensor_op(x, value):
    return jnp.broadcast_to(value.astype(x.dtype), x.shape)


@defop("zero", node="ZeroBackward0", dtypes="keep", linear=True)
def _zero_op(x):
    return jnp.zeros(x.shape, x.dtype)


@defop("copy", node="CopyBackwards", linear=True, cast=())
def _copy_op(x, src):
    return jnp.broadcast_to(src.astype(x.dtype), x.shape)


def fill_(self: Tensor, value) -> Tensor:
    """Fills the tensor with ``value`` in place."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(
                "fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value.ndim} dimensions."
            )
        check_inplace(self, overlap_ok=True)
        return apply_inplace(self, dispatch(_fill_tensor_op, (self, value)))
    check_inplace(self, overlap_ok=True)
    if isinstance(value, float) and not self.dtype.is_floating_point:
        value = int(value)
    return apply_inplace(self, dispatch(_fill_op, (self,), (("value", value),)))


def zero_(self: Tensor) -> Tensor:
    """Fills the tensor with zeros in place."""
    check_inplace(self, overlap_ok=True)
    return apply_inplace(self, dispatch(_zero_op, (self,)))


def copy_(self: Tensor, src: Tensor, non_blocking: bool = False) -> Tensor:
    """Copies ``src`` into this tensor in place, broadcasting and casting as needed."""
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    check_broadcast_into(self._data.shape, src._data.shape)
    check_inplace(self)
    result = dispatch(_copy_op, (self, src))
    return apply_inplace(self, result)


def _random_fill_fn(x, noise):
    return noise.astype(x.dtype)


# The result does not depend on the tensor's old values: a zero gradient, as in PyTorch.
_normal_fill_op = defop(
    "normal_fill", node="NormalBackward0", dtypes="keep", linear=True, edges=(0,)
)(_random_fill_fn)
_uniform_fill_op = defop(
    "uniform_fill", node="UniformBackward0", dtypes="keep", linear=True, edges=(0,)
)(_random_fill_fn)


def _random_fill_(self: Tensor, op, kind: str, kernel: str, scale: float, shift: float):
    from tapegrad._random import _draw
    from tapegrad._tensor import _wrap

    d = self.dtype
    if not d.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{dt.legacy_name(d)}'")
    check_inplace(self)
    noise = _draw(kind, self._data.shape, d)
    if scale != 1.0 or shift != 0.0:
        noise = noise * scale + shift
    return apply_inplace(self, dispatch(op, (self, _wrap(noise))))


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fills the tensor in place with samples from ``N(mean, std**2)``."""
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _random_fill_(self, _normal_fill_op, "normal", "normal_kernel_cpu", std, mean)


def uniform_(self: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fills the tensor in place with samples from the uniform distribution on ``[a, b)``."""
    if a > b:
        raise RuntimeError(
            f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}"
        )
    return _random_fill_(self, _uniform_fill_op, "uniform", "check_uniform_bounds", b - a, a)
