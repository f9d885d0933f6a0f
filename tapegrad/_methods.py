"""Attach the op table's functions to ``Tensor`` as methods and Python operators.

Each method is the same function as ``tapegrad.<name>``: one entry, every spelling.
"""

from __future__ import annotations

import jax

from tapegrad import _dtype as dt
from tapegrad._creation import full, make, ones, tensor, zeros
from tapegrad._device import device as _device
from tapegrad._device import to_jax_device
from tapegrad._ops import indexing, inplace, linalg, pointwise, reduction, shape
from tapegrad._ops._registry import defop, dispatch
from tapegrad._tensor import Tensor

# ----- dtype and device conversion --------------------------------------------------------


@defop("to", node="ToCopyBackward0", dtypes="keep", linear=True)
def _to_dtype_op(x, dtype):
    return dt.cast(x, dtype)


@defop("clone", node="CloneBackward0", dtypes="keep", linear=True)
def _clone_op(x):
    return x


def _cast(self: Tensor, dtype: dt.dtype, copy: bool = False) -> Tensor:
    """``self`` converted to ``dtype`` (``ToCopyBackward0``); ``self`` itself when it already has
    that dtype, unless ``copy``."""
    if self.dtype is dtype and not copy:
        return self
    return dispatch(_to_dtype_op, (self,), (("dtype", dtype.numpy),))


TO_SIGNATURES = (
    " * (torch.device device = None, torch.dtype dtype = None, bool non_blocking = False, "
    "bool copy = False, *, torch.memory_format memory_format = None)\n"
    " * (torch.dtype dtype, bool non_blocking = False, bool copy = False, *, "
    "torch.memory_format memory_format = None)\n"
    " * (Tensor tensor, bool non_blocking = False, bool copy = False, *, "
    "torch.memory_format memory_format = None)\n"
)


def _to_error(args, kwargs) -> TypeError:
    # PyTorch's formatting: keywords sorted, and a trailing ", " when there are only keywords.
    named = [f"{k}={type(kwargs[k]).__name__}" for k in sorted(kwargs)]
    if args:
        got = ", ".join([type(a).__name__ for a in args] + named)
    else:
        got = "".join(f"{n}, " for n in named)
    return TypeError(
        f"to() received an invalid combination of arguments - got ({got}), but "
        f"expected one of:\n{TO_SIGNATURES}"
    )


_PY_DTYPES = (float, int, bool)


def _parse_to(args, kwargs):
    """PyTorch's three ``to`` signatures: (device, dtype, non_blocking, copy),
    (dtype, non_blocking, copy) and (tensor, non_blocking, copy)."""
    options = dict(kwargs)
    dtype = options.pop("dtype", None)
    device = options.pop("device", None)
    options.pop("non_blocking", None)
    options.pop("memory_format", None)
    copy = options.pop("copy", False)
    if options:
        raise _to_error(args, kwargs)
    rest = list(args)
    if rest and isinstance(rest[0], Tensor):
        other = rest.pop(0)
        dtype, device = other.dtype, other.device
    elif rest and (isinstance(rest[0], dt.dtype) or rest[0] in _PY_DTYPES):
        dtype = rest.pop(0)
    elif rest and isinstance(rest[0], (str, _device, int)) and not isinstance(rest[0], bool):
        device = rest.pop(0)
        if rest and (isinstance(rest[0], dt.dtype) or rest[0] in _PY_DTYPES):
            dtype = rest.pop(0)
    if len(rest) > 2 or not all(isinstance(a, bool) for a in rest):
        raise _to_error(args, kwargs)
    if len(rest) == 2:
        copy = rest[1]
    return dt.canonical(dtype, "to"), device, copy


def to(self: Tensor, *args, **kwargs) -> Tensor:
    """Returns the tensor with the given dtype and/or device: ``self`` itself when nothing
    changes (unless ``copy=True``), otherwise a converted copy (``ToCopyBackward0``).

    ``t.to(dtype)``, ``t.to(device)``, ``t.to(device, dtype)``, ``t.to(other)``; floats convert to
    integers by truncation, as in PyTorch.
    """
    dtype, device, copy = _parse_to(args, kwargs)
    out = self
    if dtype is not None and dtype is not self.dtype:
        out = _cast(out, dtype)
    if device is not None:
        jdev = to_jax_device(device)
        if jdev not in out._data.devices():
            if out._requires_grad:
                raise NotImplementedError(
                    "moving a tensor that requires grad between devices is not supported yet; "
                    "move it before setting requires_grad"
                )
            out = make(jax.device_put(out._data, jdev))
    if copy and out is self:
        out = _cast(self, self.dtype, copy=True)
    return out


def clone(input: Tensor, *, memory_format=None) -> Tensor:
    """Returns a copy of ``input``; the copy is differentiable (``CloneBackward0``)."""
    return dispatch(_clone_op, (input,))


def _to_method(dtype: dt.dtype):
    def convert(self: Tensor, memory_format=None) -> Tensor:
        return _cast(self, dtype)

    return convert


def type_as(self: Tensor, other: Tensor) -> Tensor:
    """``self`` converted to ``other``'s dtype (``self`` itself when they already agree)."""
    return _cast(self, other.dtype)


def _new_factory(fn):
    def new(self: Tensor, *size, dtype=None, device=None, requires_grad=False):
        return fn(*size, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)

    return new


def new_full(self: Tensor, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(
        size, fill_value, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad
    )


def new_tensor(self: Tensor, data, *, dtype=None, device=None, requires_grad=False):
    return tensor(data, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)


# ----- operators ---------------------------------------------------------------------------


def _reflected(fn):
    def op(self, other):
        return fn(self, other)

    return op


def _rtruediv(self: Tensor, other) -> Tensor:
    return pointwise.mul(pointwise.reciprocal(self), other)


def _rfloordiv(self: Tensor, other) -> Tensor:
    # The scalar stays a wrapped number so it promotes as one (``2.5 // int_tensor`` is float).
    return pointwise.floor_divide(other, self)


def _rmod(self: Tensor, other) -> Tensor:
    return pointwise.remainder(other, self)


def _rpow(self: Tensor, other) -> Tensor:
    return pointwise.pow(other, self)


def _rmatmul(self: Tensor, other) -> Tensor:
    return linalg.matmul(other, self)


def _iop(fn):
    def iop(self: Tensor, other):
        return inplace.inplace(self, fn, other)

    return iop


def _masked_fill_(self: Tensor, mask: Tensor, value) -> Tensor:
    """Fills elements of this tensor with ``value`` where ``mask`` is True, in place."""
    inplace.check_indexed_write(self, "masked_fill_")
    return inplace.apply_inplace(self, indexing.masked_fill(self, mask, value))


def _unary_inplace(fn):
    def iop(self: Tensor, *args, **kwargs):
        return inplace.inplace(self, fn, *args, **kwargs)

    iop.__name__ = fn.__name__ + "_"
    return iop


def _size_method(self: Tensor, dim=None):
    return Tensor.size(self, dim)


_METHODS = {
    # pointwise
    "add": pointwise.add,
    "sub": pointwise.sub,
    "subtract": pointwise.sub,
    "mul": pointwise.mul,
    "multiply": pointwise.mul,
    "div": pointwise.div,
    "divide": pointwise.div,
    "true_divide": pointwise.div,
    "floor_divide": pointwise.floor_divide,
    "remainder": pointwise.remainder,
    "pow": pointwise.pow,
    "maximum": pointwise.maximum,
    "minimum": pointwise.minimum,
    "clamp": pointwise.clamp,
    "clip": pointwise.clamp,
    "eq": pointwise.eq,
    "ne": pointwise.ne,
    "lt": pointwise.lt,
    "le": pointwise.le,
    "gt": pointwise.gt,
    "ge": pointwise.ge,
    "logical_not": pointwise.logical_not,
    "bitwise_not": pointwise.bitwise_not,
    "isnan": pointwise.isnan,
    "isfinite": pointwise.isfinite,
    "round": pointwise.round,
    "softplus": pointwise.softplus,
    "where": lambda self, condition, other: pointwise.where(condition, self, other),
    # reductions
    "sum": reduction.sum,
    "all": reduction.all,
    "any": reduction.any,
    "mean": reduction.mean,
    "prod": reduction.prod,
    "amax": reduction.amax,
    "amin": reduction.amin,
    "max": reduction.max,
    "min": reduction.min,
    "argmax": reduction.argmax,
    "argmin": reduction.argmin,
    "var": reduction.var,
    "std": reduction.std,
    "logsumexp": reduction.logsumexp,
    "norm": reduction.norm,
    "softmax": reduction.softmax,
    "log_softmax": reduction.log_softmax,
    # linear algebra
    "matmul": linalg.matmul,
    "mm": linalg.mm,
    "mv": linalg.mv,
    "dot": linalg.dot,
    "bmm": linalg.bmm,
    # shape
    "view": shape.view,
    "reshape": shape.reshape,
    "flatten": shape.flatten,
    "unflatten": shape.unflatten,
    "transpose": shape.transpose,
    "swapaxes": shape.transpose,
    "t": shape.t,
    "permute": shape.permute,
    "unsqueeze": shape.unsqueeze,
    "squeeze": shape.squeeze,
    "expand": shape.expand,
    "expand_as": shape.expand_as,
    "repeat": shape.repeat,
    "split": shape.split,
    "chunk": shape.chunk,
    "unbind": shape.unbind,
    "narrow": shape.narrow,
    "select": shape.select,
    "diagonal": shape.diagonal,
    "nonzero": indexing.nonzero,
    "masked_fill": indexing.masked_fill,
    "masked_fill_": _masked_fill_,
    "index_add": indexing.index_add,
    "scatter": indexing.scatter,
    "scatter_": _unary_inplace(indexing.scatter),
    "scatter_add": indexing.scatter_add,
    "scatter_add_": _unary_inplace(indexing.scatter_add),
    "gather": indexing.gather,
    "index_add_": _unary_inplace(indexing.index_add),
    "view_as": lambda self, other: shape.view(self, *other.shape),
    "reshape_as": lambda self, other: shape.reshape(self, *other.shape),
    "contiguous": shape.contiguous,
    "is_contiguous": shape.is_contiguous,
    # conversion and copies
    "to": to,
    "clone": clone,
    "float": _to_method(dt.float32),
    "double": _to_method(dt.float64),
    "half": _to_method(dt.float16),
    "bfloat16": _to_method(dt.bfloat16),
    "long": _to_method(dt.int64),
    "int": _to_method(dt.int32),
    "short": _to_method(dt.int16),
    "bool": _to_method(dt.bool_),
    "byte": _to_method(dt.uint8),
    "char": _to_method(dt.int8),
    "type_as": type_as,
    "cpu": lambda self, memory_format=None: to(self, "cpu"),
    "cuda": lambda self, device=None, non_blocking=False, memory_format=None: to(
        self, "cuda" if device is None else device
    ),
    "new_zeros": _new_factory(zeros),
    "new_ones": _new_factory(ones),
    "new_empty": _new_factory(zeros),
    "new_full": new_full,
    "new_tensor": new_tensor,
    # in place
    "fill_": inplace.fill_,
    "zero_": inplace.zero_,
    "copy_": inplace.copy_,
    "normal_": inplace.normal_,
    "uniform_": inplace.uniform_,
    "add_": _unary_inplace(pointwise.add),
    "sub_": _unary_inplace(pointwise.sub),
    "mul_": _unary_inplace(pointwise.mul),
    "div_": _unary_inplace(pointwise.div),
    "pow_": _unary_inplace(pointwise.pow),
    "clamp_": _unary_inplace(pointwise.clamp),
    # operators
    "__add__": pointwise.add,
    "__radd__": _reflected(pointwise.add),
    "__sub__": pointwise.sub,
    "__rsub__": pointwise.rsub,
    "__mul__": pointwise.mul,
    "__rmul__": _reflected(pointwise.mul),
    "__truediv__": pointwise.div,
    "__rtruediv__": _rtruediv,
    "__floordiv__": pointwise.floor_divide,
    "__rfloordiv__": _rfloordiv,
    "__mod__": pointwise.remainder,
    "__rmod__": _rmod,
    "__pow__": pointwise.pow,
    "__rpow__": _rpow,
    "__matmul__": linalg.matmul,
    "__rmatmul__": _rmatmul,
    "__neg__": pointwise.neg,
    "__pos__": lambda self: self,
    "__abs__": pointwise.abs,
    "__invert__": pointwise.bitwise_not,
    "__and__": pointwise.bitwise_and,
    "__rand__": _reflected(pointwise.bitwise_and),
    "__or__": pointwise.bitwise_or,
    "__ror__": _reflected(pointwise.bitwise_or),
    "__xor__": pointwise.bitwise_xor,
    "__rxor__": _reflected(pointwise.bitwise_xor),
    "__eq__": pointwise.eq,
    "__ne__": pointwise.ne,
    "__lt__": pointwise.lt,
    "__le__": pointwise.le,
    "__gt__": pointwise.gt,
    "__ge__": pointwise.ge,
    "__getitem__": indexing.getitem,
    "__setitem__": lambda self, index, value: _setitem(self, index, value),
    "__iadd__": _iop(pointwise.add),
    "__isub__": _iop(pointwise.sub),
    "__imul__": _iop(pointwise.mul),
    "__itruediv__": _iop(pointwise.div),
    "__ipow__": _iop(pointwise.pow),
    "__imatmul__": _iop(linalg.matmul),
}

for _name in pointwise.UNARY_OPS:
    _fn = getattr(pointwise, _name)
    _METHODS[_name] = _fn
    _METHODS[_name + "_"] = _unary_inplace(_fn)
for _name in ("gelu", "silu", "leaky_relu"):
    _METHODS.setdefault(_name, getattr(pointwise, _name))
_METHODS["negative"] = pointwise.neg
_METHODS["absolute"] = pointwise.abs
_METHODS["negative_"] = _METHODS["neg_"]
_METHODS["absolute_"] = _METHODS["abs_"]
_METHODS["clip_"] = _METHODS["clamp_"]


def _setitem(self: Tensor, index, value) -> None:
    """``x[index] = value``: a copy into the view for basic indices (CopySlices when grad is
    involved), PyTorch's ``index_put_`` for integer and boolean index tensors."""
    if not isinstance(value, Tensor):
        value = tensor(value, dtype=self.dtype)
    _, _, advanced = indexing.getitem(self, index, _parse_only=True)
    if advanced:
        inplace.check_indexed_write(self, "index_put_")
        inplace.apply_inplace(self, indexing.index_put(self, index, value))
        return
    target = indexing.getitem(self, index)
    inplace.copy_(target, _setitem_value(value, target.shape))


def _setitem_value(value: Tensor, target: tuple) -> Tensor:
    # PyTorch drops the value's leading size-1 dims, then expands it to the target's shape;
    # on a mismatch, let expand raise PyTorch's error.
    vshape = tuple(value.shape)
    while len(vshape) > len(target) and vshape[0] == 1:
        vshape = vshape[1:]
    lead = len(target) - len(vshape)
    if lead < 0 or any(v not in (1, s) for v, s in zip(vshape, target[lead:], strict=True)):
        shape.expand(value.detach().reshape(vshape), target)
    return value if len(vshape) == value.ndim else value.reshape(vshape)


def install() -> None:
    for name, fn in _METHODS.items():
        setattr(Tensor, name, fn)
    Tensor.T = property(shape.numpy_T)
    Tensor.mT = property(shape.mT)
    Tensor.__hash__ = lambda self: id(self)


install()
