"""In-place ops: compute the out-of-place result, then write it into the tensor's storage.

The write goes through the view's index map when the tensor is a view, bumps the shared
version counter, and moves the tensor's history to the new node, as PyTorch's in-place ops do.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tapegrad import _dtype as dt
from tapegrad._grad_mode import state as _mode
from tapegrad._ops._registry import defop, dispatch
from tapegrad._storage import Storage
from tapegrad._tensor import Tensor, _new

LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
INFERENCE_INPLACE = (
    "Inplace update to inference tensor outside InferenceMode is not allowed.You can make a "
    "clone to get a normal tensor before doing inplace update.See "
    "https://github.com/pytorch/rfcs/pull/17 for more details."
)
VIEW_OF_LEAF_INPLACE = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)


@jax.jit
def _scatter(base, index_map, values):
    flat = base.reshape(-1).at[index_map.reshape(-1)].set(values.reshape(-1))
    return flat.reshape(base.shape)


def _can_cast(src: dt.dtype, dst: dt.dtype) -> bool:
    return src._category <= dst._category


def check_inplace(self: Tensor) -> None:
    """PyTorch's refusals to modify, while grad mode is on, a leaf that requires grad or a view
    of one; and to modify an inference tensor outside inference mode."""
    if self._is_inference and not _mode.inference:
        raise RuntimeError(INFERENCE_INPLACE)
    if not _mode.grad_enabled:
        return
    base = self._base
    if base is not None and base._requires_grad and base._grad_fn is None:
        raise RuntimeError(VIEW_OF_LEAF_INPLACE)
    if self._requires_grad and self._grad_fn is None and base is None:
        raise RuntimeError(LEAF_INPLACE)


def write(self: Tensor, array) -> None:
    """Replace the tensor's values (same shape and dtype) and bump its version."""
    st = self._storage
    v = self._view
    if v is None:
        st.write(array)
    else:
        st.write(_scatter(st.array, v.index_map(st.array.shape), array))
        v.array = array
        v.generation = st.generation
    self._version_counter().value += 1


@defop("copy_slices", node="CopySlices", dtypes="keep", saves=lambda mask: [], edges=(0, 1))
def _copy_slices(base, values, index_map):
    flat = base.reshape(-1).at[index_map.reshape(-1)].set(values.reshape(-1))
    return flat.reshape(base.shape)


@defop("regenerate_view", node="AsStridedBackward0", dtypes="keep", linear=True)
def _regenerate_view(base, chain):
    for op, statics, index in chain:
        out = op.forward_fn(None, statics)(base)
        base = out if index is None else out[index]
    return base


def _write_into_view(view: Tensor, result: Tensor) -> Tensor:
    """PyTorch's CopySlices: writing ``result`` into ``view`` gives its base a node that takes
    the written region's gradient from ``result`` and the rest from the base's old history;
    the view's own history is regenerated from the base (``AsStridedBackward0``)."""
    from tapegrad._tensor import _wrap

    base = view._base
    info = view._view
    index_map = _wrap(info.index_map(base._storage.array.shape))
    new_base = dispatch(_copy_slices, (base, result, index_map))
    base._storage.write(new_base._data)
    view._version_counter().value += 1
    if new_base._grad_fn is not None:
        base._grad_fn = new_base._grad_fn
        base._output_nr = 0
        base._requires_grad = True
        regenerated = dispatch(_regenerate_view, (base,), (("chain", info.chain),))
        view._grad_fn = regenerated._grad_fn
        view._output_nr = 0
        view._requires_grad = True
    return view


def apply_inplace(self: Tensor, result: Tensor) -> Tensor:
    """Write the out-of-place ``result`` into ``self`` and take over its history."""
    shape = self._data.shape
    rshape = result._data.shape
    if rshape != shape:
        raise RuntimeError(
            f"output with shape {list(shape)} doesn't match the broadcast shape {list(rshape)}"
        )
    sd, rd = self.dtype, result.dtype
    if rd is not sd:
        if not _can_cast(rd, sd):
            raise RuntimeError(
                f"result type {dt.legacy_name(rd)} can't be cast to the desired output type "
                f"{dt.legacy_name(sd)}"
            )
        result = result.to(sd)
    if (
        self._view is not None
        and _mode.grad_enabled
        and (result._requires_grad or self._base._requires_grad)
    ):
        return _write_into_view(self, result)
    node = result._grad_fn
    old_array = self._data
    write(self, result._data)
    if node is not None:
        # The node must compute from self's old value, which the write just replaced: it keeps
        # a frozen copy of it (with self's old history) instead of self. A saved output is now
        # self at its new version.
        saved = node._saved
        if saved is not None and any(o is self for o in saved):
            frozen = _frozen(self, old_array)
            node._saved = tuple(frozen if o is self else o for o in saved)
        versions = node._versions
        if versions:
            vc = self._version_counter()
            node._versions = [
                (-1, vc, vc.value) if e[0] < 0 else e
                for e in versions
                if e[0] < 0 or saved[e[0]] is not self
            ]
        old = self._grad_fn
        if self._retains_grad and old is not None and old._retain:
            # retain_grad follows the tensor to its new history (PyTorch's rebase_history).
            old._retain.pop(self._output_nr, None)
            node._add_retain_grad(result._output_nr, self)
        self._grad_fn = node
        self._output_nr = result._output_nr
        self._requires_grad = True
    return self


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
    return apply_inplace(self, fn(self, *args, **kwargs))


@defop("fill", node="FillBackward0", dtypes="keep", linear=True)
def _fill(x, value):
    return jnp.full(x.shape, value, x.dtype)


@defop("zero", node="ZeroBackward0", dtypes="keep", linear=True)
def _zero(x):
    return jnp.zeros(x.shape, x.dtype)


@defop("copy", node="CopyBackwards", linear=True, cast=())
def _copy(x, src):
    return jnp.broadcast_to(src.astype(x.dtype), x.shape)


def fill_(self: Tensor, value) -> Tensor:
    """Fills the tensor with ``value`` in place."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(
                "fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value.ndim} dimensions."
            )
        value = value.item()
    check_inplace(self)
    if isinstance(value, float) and not self.dtype.is_floating_point:
        value = int(value)
    return apply_inplace(self, dispatch(_fill, (self,), (("value", value),)))


def zero_(self: Tensor) -> Tensor:
    """Fills the tensor with zeros in place."""
    check_inplace(self)
    return apply_inplace(self, dispatch(_zero, (self,)))


def copy_(self: Tensor, src: Tensor, non_blocking: bool = False) -> Tensor:
    """Copies ``src`` into this tensor in place, broadcasting and casting as needed."""
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    shape, src_shape = self._data.shape, src._data.shape
    try:
        target = jnp.broadcast_shapes(shape, src_shape)
    except ValueError:
        from tapegrad._ops._errors import broadcast_error

        raise broadcast_error([shape, src_shape]) from None
    if target != shape:
        raise RuntimeError(
            f"output with shape {list(shape)} doesn't match the broadcast shape {list(target)}"
        )
    check_inplace(self)
    result = dispatch(_copy, (self, src))
    return apply_inplace(self, result)


def _random_fill_fn(x, noise):
    return noise.astype(x.dtype)


# The result does not depend on the tensor's old values: a zero gradient, as in PyTorch.
_normal_fill = defop("normal_fill", node="NormalBackward0", dtypes="keep", linear=True, edges=(0,))(
    _random_fill_fn
)
_uniform_fill = defop(
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
    return _random_fill_(self, _normal_fill, "normal", "normal_kernel_cpu", std, mean)


def uniform_(self: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fills the tensor in place with samples from the uniform distribution on ``[a, b)``."""
    if a > b:
        raise RuntimeError(
            f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}"
        )
    return _random_fill_(self, _uniform_fill, "uniform", "check_uniform_bounds", b - a, a)
