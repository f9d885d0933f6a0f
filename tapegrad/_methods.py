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
def _to_dtype(x, dtype):
    return x.astype(dtype)


@defop("clone", node="CloneBackward0", dtypes="keep", linear=True)
def _clone(x):
    return x


def _cast(self: Tensor, dtype: dt.dtype) -> Tensor:
    if self.dtype is dtype:
        return self
    return dispatch(_to_dtype, (self,), (("dtype", dtype.jax),))


def _parse_to(args, kwargs):
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    kwargs.pop("non_blocking", None)
    copy = kwargs.pop("copy", False)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, dt.dtype):
            dtype = a
        elif isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, (str, _device, int)) and not isinstance(a, bool):
            device = a
        elif isinstance(a, bool):
            pass
        else:
            raise TypeError(f"to() received an invalid combination of arguments: {a!r}")
    return dtype, device, copy


def to(self: Tensor, *args, **kwargs) -> Tensor:
    """Returns the tensor with the given dtype and/or device (``self`` if nothing changes)."""
    dtype, device, copy = _parse_to(args, kwargs)
    out = self
    if dtype is not None:
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
        out = clone(self)
    return out


def clone(input: Tensor, *, memory_format=None) -> Tensor:
    """Returns a copy of ``input``; the copy is differentiable (``CloneBackward0``)."""
    return dispatch(_clone, (input,))


def _to_method(dtype: dt.dtype):
    def convert(self: Tensor, memory_format=None) -> Tensor:
        return _cast(self, dtype)

    return convert


def type_as(self: Tensor, other: Tensor) -> Tensor:
    return _cast(self, other.dtype)


def _new_factory(fn):
    def new(self: Tensor, *size, dtype=None, device=None, requires_grad=False):
        return fn(*size, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)

    return new


def new_full(self: Tensor, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(size, fill_value, dtype=dtype or self.dtype, device=device,
                requires_grad=requires_grad)


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
    from tapegrad._creation import scalar_tensor

    return pointwise.floor_divide(scalar_tensor(other, self), self)


def _rmod(self: Tensor, other) -> Tensor:
    from tapegrad._creation import scalar_tensor

    return pointwise.remainder(scalar_tensor(other, self), self)


def _rpow(self: Tensor, other) -> Tensor:
    return pointwise.pow(other, self)


def _rmatmul(self: Tensor, other) -> Tensor:
    return linalg.matmul(other, self)


def _iop(fn):
    def iop(self: Tensor, other):
        return inplace.inplace(self, fn, other)

    return iop


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
    "view_as": lambda self, other: shape.view(self, *other.shape),
    "reshape_as": lambda self, other: shape.view(self, *other.shape),
    "contiguous": lambda self, memory_format=None: self,
    "is_contiguous": lambda self, memory_format=None: True,
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

for _name in pointwise.UNARY:
    _fn = getattr(pointwise, _name)
    _METHODS[_name] = _fn
    _METHODS[_name + "_"] = _unary_inplace(_fn)
for _name in ("gelu", "silu", "leaky_relu"):
    _METHODS.setdefault(_name, getattr(pointwise, _name))
_METHODS["negative"] = pointwise.neg
_METHODS["absolute"] = pointwise.abs


def _setitem(self: Tensor, index, value) -> None:
    view = indexing.getitem(self, index)
    if view._view is None or view._storage is not self._storage:
        raise NotImplementedError(
            "assignment through integer or boolean index tensors is not supported yet"
        )
    if not isinstance(value, Tensor):
        value = tensor(value, dtype=self.dtype)
    inplace.copy_(view, value)
    if view._vc is not self._vc:  # pragma: no cover - views share the counter
        self._version_counter().value += 1


def install() -> None:
    for name, fn in _METHODS.items():
        setattr(Tensor, name, fn)
    Tensor.T = property(shape.numpy_T)
    Tensor.mT = property(shape.mT)
    Tensor.__hash__ = lambda self: id(self)


install()
