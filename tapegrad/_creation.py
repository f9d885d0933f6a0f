"""Tensor creation: ``tensor``, ``as_tensor``, ``from_numpy``, ``ones``/``zeros``/``full``/``empty``,
their ``*_like`` forms, ``arange``, ``linspace`` and ``eye``."""

from __future__ import annotations

import math
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tapegrad import _dtype as dt
from tapegrad._device import device as _device
from tapegrad._device import to_jax_device
from tapegrad._ops._util import normalize_size
from tapegrad._tensor import Tensor, _wrap

__all__ = [
    "arange",
    "as_tensor",
    "empty",
    "empty_like",
    "eye",
    "from_numpy",
    "full",
    "full_like",
    "linspace",
    "ones",
    "ones_like",
    "tensor",
    "zeros",
    "zeros_like",
]

FACTORY_REQUIRES_GRAD = "Only Tensors of floating point and complex dtype can require gradients"
COPY_CONSTRUCT = (
    "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
    "sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor)."
)

DeviceLike = str | _device | int | None


def _check_dtype(dtype) -> dt.dtype | None:
    if dtype is None or isinstance(dtype, dt.dtype):
        return dtype
    raise TypeError(
        f"dtype must be a tapegrad dtype such as tapegrad.float32, not {type(dtype).__name__}"
    )


def make(array: jax.Array, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Wrap ``array`` (placed on ``device``) as a new leaf tensor."""
    if device is not None:
        array = jax.device_put(array, to_jax_device(device))
    t = _wrap(array)
    if requires_grad:
        if not dt.from_numpy_dtype(array.dtype).is_floating_point:
            raise RuntimeError(FACTORY_REQUIRES_GRAD)
        t._requires_grad = True
    return t


def _infer_numpy(data: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        return np.asarray(data._data)
    if isinstance(data, (list, tuple)):
        data = [np.asarray(d._data) if isinstance(d, Tensor) else d for d in data]
        if any(isinstance(d, np.ndarray) and d.ndim for d in data):
            pass
    arr = np.asarray(data)
    if arr.dtype == object:
        raise TypeError(f"Could not infer dtype of {type(data).__name__}")
    return arr


def _python_default(data: Any, arr: np.ndarray) -> dt.dtype:
    """PyTorch's inference: Python floats -> default dtype, ints -> int64, bools -> bool."""
    if isinstance(data, (np.ndarray, np.generic, jax.Array, Tensor)):
        return dt.from_numpy_dtype(arr.dtype)
    kind = arr.dtype.kind
    if kind == "f":
        return dt.get_default_dtype()
    if kind in "iu":
        return dt.int64
    if kind == "b":
        return dt.bool_
    if kind == "c":
        raise TypeError("tapegrad has no complex dtypes")
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def tensor(
    data: Any,
    *,
    dtype: dt.dtype | None = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
) -> Tensor:
    """Constructs a tensor with no autograd history by copying ``data``.

    ``data`` may be a Python number, a (nested) list or tuple, a NumPy array, a JAX array or a
    tensor. Python floats become the default dtype (float32), ints int64 and bools bool.
    """
    _check_dtype(dtype)
    if isinstance(data, Tensor):
        warnings.warn(COPY_CONSTRUCT, UserWarning, stacklevel=2)
        array = data._data if dtype is None else data._data.astype(dtype.jax)
        return make(array, device, requires_grad)
    if isinstance(data, jax.Array):
        return make(data if dtype is None else data.astype(dtype.jax), device, requires_grad)
    arr = _infer_numpy(data)
    target = dtype or _python_default(data, arr)
    return make(jnp.asarray(arr, dtype=target.jax), device, requires_grad)


def as_tensor(data: Any, dtype: dt.dtype | None = None, device: DeviceLike = None) -> Tensor:
    """Converts ``data`` to a tensor, returning ``data`` itself when it already is one of the
    requested dtype and device."""
    if isinstance(data, Tensor):
        if (dtype is None or data.dtype is dtype) and (
            device is None or data.device == _device(device) if not isinstance(device, int) else False
        ):
            return data
        out = data.to(dtype) if dtype is not None else data
        return out.to(device) if device is not None else out
    return tensor(data, dtype=dtype, device=device)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """Creates a tensor from a NumPy array, keeping its dtype.

    Unlike PyTorch the tensor does not share memory with the array: JAX arrays are immutable.
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    target = dt.from_numpy_dtype(ndarray.dtype)
    return make(jnp.asarray(ndarray, dtype=target.jax))


def _factory(fill, size: tuple, dtype, device, requires_grad) -> Tensor:
    _check_dtype(dtype)
    shape = normalize_size(size)
    for s in shape:
        if s < 0:
            raise RuntimeError(
                f"Trying to create tensor with negative dimension {s}: {list(shape)}"
            )
    dtype = dtype or dt.get_default_dtype()
    return make(jnp.full(shape, fill, dtype=dtype.jax), device, requires_grad)


def zeros(*size, dtype=None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor filled with 0, of shape ``size``."""
    return _factory(0, size, dtype, device, requires_grad)


def ones(*size, dtype=None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor filled with 1, of shape ``size``."""
    return _factory(1, size, dtype, device, requires_grad)


def empty(*size, dtype=None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Returns an uninitialised tensor of shape ``size`` (tapegrad fills it with zeros)."""
    return _factory(0, size, dtype, device, requires_grad)


def _fill_dtype(fill_value) -> dt.dtype:
    if isinstance(fill_value, bool):
        return dt.bool_
    if isinstance(fill_value, int):
        return dt.int64
    if isinstance(fill_value, Tensor):
        return fill_value.dtype
    return dt.get_default_dtype()


def full(size, fill_value, *, dtype=None, device: DeviceLike = None, requires_grad: bool = False):
    """Returns a tensor of shape ``size`` filled with ``fill_value``; the dtype follows the value
    (bool, int64 or the default float dtype) unless given."""
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    return _factory(fill_value, (size,), dtype or _fill_dtype(fill_value), device, requires_grad)


def _like(input: Tensor, dtype, device):
    d = dtype or input.dtype
    return d, device if device is not None else (None if input.device.type == "cpu" else input.device)


def zeros_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor of zeros with the shape (and by default dtype/device) of ``input``."""
    d, dev = _like(input, dtype, device)
    return _factory(0, (input.shape,), d, dev, requires_grad)


def ones_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor of ones with the shape (and by default dtype/device) of ``input``."""
    d, dev = _like(input, dtype, device)
    return _factory(1, (input.shape,), d, dev, requires_grad)


def empty_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Returns an uninitialised (zero-filled) tensor shaped like ``input``."""
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(
    input: Tensor, fill_value, *, dtype=None, device=None, requires_grad: bool = False
) -> Tensor:
    """Returns a tensor shaped like ``input`` filled with ``fill_value``."""
    d, dev = _like(input, dtype, device)
    return _factory(fill_value, (input.shape,), d, dev, requires_grad)


def arange(
    start=0, end=None, step=1, *, dtype=None, device: DeviceLike = None, requires_grad=False
) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``: int64 when all are ints,
    otherwise the default float dtype."""
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    all_int = all(isinstance(v, int) for v in vals)
    dtype = _check_dtype(dtype) or (dt.int64 if all_int else dt.get_default_dtype())
    n = math.ceil((end - start) / step)
    values = start + np.arange(n, dtype=np.int64 if all_int else np.float64) * step
    return make(jnp.asarray(values, dtype=dtype.jax), device, requires_grad)


def linspace(
    start, end, steps: int, *, dtype=None, device: DeviceLike = None, requires_grad=False
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dtype = _check_dtype(dtype) or dt.get_default_dtype()
    if steps == 1:
        values = np.array([start], np.float64)
    else:
        # PyTorch fills the first half forward from start and the second half back from end.
        work = np.float64 if dtype is dt.float64 else np.float32
        step = (work(end) - work(start)) / work(max(steps - 1, 1))
        i = np.arange(steps)
        half = steps // 2
        values = np.where(
            i < half, work(start) + step * i.astype(work), work(end) - step * (steps - 1 - i)
        )
    return make(jnp.asarray(values, dtype=dtype.jax), device, requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A 2-D tensor with ones on the diagonal and zeros elsewhere."""
    dtype = _check_dtype(dtype) or dt.get_default_dtype()
    return make(jnp.eye(n, n if m is None else m, dtype=dtype.jax), device, requires_grad)


def scalar_tensor(value, like: Tensor) -> Tensor:
    return make(jnp.asarray(value, dtype=like.dtype.jax))
