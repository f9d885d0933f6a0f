"""Tensor creation: ``tensor``, ``as_tensor``, ``from_numpy``, ``ones``, ``zeros``, ``full``,
``empty``, their ``*_like`` forms, ``arange``, ``linspace`` and ``eye``.

Dtype inference, value conversion, sizes and error messages follow PyTorch's
``torch/csrc/utils/tensor_new.cpp`` and ``aten/src/ATen/native/RangeFactories.cpp``.
"""

from __future__ import annotations

import math
import operator
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tapegrad import _dtype as dt
from tapegrad._device import device as _device
from tapegrad._device import to_jax_device
from tapegrad._kernel_cache import bounded_jit
from tapegrad._tensor import SCALAR_CONVERSION, Tensor, _wrap

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
INT64_OVERFLOW = "Overflow when unpacking long long"
TO_INDEX = "only integer tensors of a single element can be converted to an index"

DeviceLike = str | _device | int | None

_SEQUENCES = (list, tuple, range)
_ARRAYS = (np.ndarray, jax.Array)
_PY_SCALARS = frozenset((float, int, bool))
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# jit-compiled once per (shape, dtype pair): PyTorch's conversion of one array to another dtype.
_cast = bounded_jit(dt.cast, static_argnums=1)


def _check_dtype(dtype, fn: str = "tensor") -> dt.dtype | None:
    return dt.canonical(dtype, fn)


def make(array, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Wrap ``array`` (a jax array, or a NumPy array to transfer; placed on ``device``) as a new
    leaf tensor."""
    if device is not None:
        array = jax.device_put(array, to_jax_device(device))
    elif isinstance(array, np.ndarray):
        # Not jnp.asarray: in this JAX that compiles a kernel for every new shape (~20 ms).
        array = jax.device_put(array)
    t = _wrap(array)
    if requires_grad:
        if not dt.from_numpy_dtype(array.dtype).is_floating_point:
            raise RuntimeError(FACTORY_REQUIRES_GRAD)
        t._requires_grad = True
    return t


# ----- tensor(data): dtype inference, sizes, value conversion --------------------------------
def _infer_dtype(obj: Any) -> dt.dtype:
    """PyTorch's ``infer_scalar_type``: Python floats are the default dtype, ints int64, bools
    bool; tensors, NumPy and JAX values keep their dtype; sequences promote their items."""
    kind = type(obj)
    if kind is float:
        return dt.get_default_dtype()
    if kind is int:
        return dt.int64
    if kind is bool:
        return dt.bool_
    if isinstance(obj, Tensor):
        return obj.dtype
    if isinstance(obj, (np.generic, *_ARRAYS)):  # before float: np.float64 subclasses float
        return dt.from_numpy_dtype(obj.dtype)
    if isinstance(obj, bool):
        return dt.bool_
    if isinstance(obj, int):
        return dt.int64
    if isinstance(obj, float):
        return dt.get_default_dtype()
    if isinstance(obj, complex):
        raise TypeError("tapegrad has no complex dtypes")
    if isinstance(obj, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{type(obj).__name__}'")
    if isinstance(obj, _SEQUENCES):
        if len(obj) == 0:
            return dt.get_default_dtype()
        kinds = set(map(type, obj))
        if kinds <= _PY_SCALARS:  # fast path: a flat list of Python numbers
            if float in kinds:
                return dt.get_default_dtype()
            return dt.int64 if int in kinds else dt.bool_
        result = None
        for item in obj:
            d = _infer_dtype(item)
            result = d if result is None else dt.promote_types(result, d)
        return result
    raise RuntimeError(f"Could not infer dtype of {type(obj).__name__}")


def _compute_sizes(data: Any) -> list[int]:
    """The shape of ``data``, read along its first elements as PyTorch does."""
    sizes: list[int] = []
    obj = data
    while True:
        if isinstance(obj, _SEQUENCES):
            sizes.append(len(obj))
            if not obj:
                return sizes
            obj = obj[0]
        elif isinstance(obj, _ARRAYS):
            sizes.extend(obj.shape)
            return sizes
        else:
            return sizes


def _flatten(obj: Any, sizes: list[int], dim: int, out: list) -> None:
    """Append the leaves of ``obj`` (dimension ``dim`` of ``sizes``) to ``out``, checking that
    every sequence has the length the first elements gave."""
    if dim == len(sizes):
        out.append(obj)
        return
    if isinstance(obj, _ARRAYS):
        shape = obj.shape
        for k, n in enumerate(sizes[dim:]):
            if k >= len(shape):
                raise TypeError("not a sequence")
            if shape[k] != n:
                raise ValueError(
                    f"expected sequence of length {n} at dim {dim + k} (got {shape[k]})"
                )
        arr = np.asarray(obj)
        if arr.dtype.kind == "V" or arr.dtype.name == "bfloat16":
            arr = arr.astype(np.float32)
        out.extend(arr.ravel().tolist())
        return
    if not isinstance(obj, _SEQUENCES):
        raise TypeError("not a sequence")
    n = sizes[dim]
    if len(obj) != n:
        raise ValueError(f"expected sequence of length {n} at dim {dim} (got {len(obj)})")
    if dim == len(sizes) - 1:
        out.extend(obj)
        return
    for item in obj:
        _flatten(item, sizes, dim + 1, out)


def _python_scalar(x: Any, target: dt.dtype):
    """One leaf of ``tensor(data)`` as a Python bool, int or float, or PyTorch's TypeError."""
    kind = type(x)
    if kind in _PY_SCALARS:
        return x
    integral = not target.is_floating_point and target is not dt.bool_
    if isinstance(x, Tensor):
        if integral and x.dtype.is_floating_point:
            raise TypeError(TO_INDEX)
        if x.numel() != 1:
            raise TypeError(TO_INDEX) if integral else ValueError(SCALAR_CONVERSION)
        return x.item()
    if isinstance(x, (np.generic, np.ndarray)) and np.ndim(x) == 0:
        if integral and not isinstance(x, (float, np.integer)):
            # PyTorch reads integers through __index__, which NumPy's bools and floats (except
            # float64, a Python float) lack.
            raise TypeError(f"'{_type_name(x)}' object cannot be interpreted as an integer")
        return x.item()
    for base in (bool, int, float):
        if isinstance(x, base):
            return base(x)
    if isinstance(x, complex):
        raise TypeError("tapegrad has no complex dtypes")
    if target.is_floating_point:
        raise TypeError(f"must be real number, not {type(x).__name__}")
    raise TypeError(f"'{_type_name(x)}' object cannot be interpreted as an integer")


def _type_name(x: Any) -> str:
    """The type's name as CPython's ``tp_name`` gives it: ``numpy.float32``, ``NoneType``."""
    kind = type(x)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def _overflow(target: dt.dtype) -> RuntimeError:
    return RuntimeError(f"value cannot be converted to type {target.name} without overflow")


def scalars_to_numpy(flat: list, target: dt.dtype) -> np.ndarray:
    """Python numbers (and one-element tensors, NumPy scalars) as a 1-D array of ``target``,
    converted one by one as PyTorch's ``store_scalar`` does: floats truncate towards zero into
    integers, with PyTorch's overflow errors; negative ints wrap into uint8."""
    if not set(map(type, flat)) <= _PY_SCALARS:
        flat = [_python_scalar(x, target) for x in flat]
    if target is dt.bool_:
        return np.fromiter(map(bool, flat), np.bool_, len(flat))
    if target.is_floating_point:
        with np.errstate(over="ignore"):  # PyTorch gives inf where a value exceeds float16
            return np.array(flat, np.float64).astype(target.numpy)
    info = np.iinfo(target.numpy)
    if float in set(map(type, flat)):
        # c10::checked_convert: NaN, infinities and values beyond the type's range overflow.
        lo, hi = float(info.min), float(info.max)
        upper = 2.0**63 if target is dt.int64 else math.inf
        ints = []
        for x in flat:
            if type(x) is float:
                if not (lo <= x <= hi and x < upper):
                    raise _overflow(target)
                x = int(x)
            ints.append(x)
        flat = ints
    if flat:
        low, high = min(flat), max(flat)
        if low < _INT64_MIN or high > _INT64_MAX:
            raise ValueError(INT64_OVERFLOW)
        # Negative values wrap into unsigned types down to -max, as c10::overflows allows.
        floor = -info.max if info.min == 0 else info.min
        if low < floor or high > info.max:
            raise _overflow(target)
    return np.array(flat, np.int64).astype(target.numpy)


# The C++ type names PyTorch's ``Scalar::to<T>()`` prints in its overflow errors.
_CPP_NAMES = {
    "bool": "bool",
    "uint8": "uint8_t",
    "int8": "int8_t",
    "int16": "int16_t",
    "int32": "int",
    "int64": "int64_t",
    "float16": "c10::Half",
    "bfloat16": "c10::BFloat16",
    "float32": "float",
    "float64": "double",
}


def scalar_to(value: bool | int | float, target: dt.dtype):
    """PyTorch's ``Scalar::to<T>()`` (as ``fill_`` and ``full`` use it): a NumPy scalar of
    ``target``, with floats truncated into integers and c10's overflow check."""
    if target is dt.bool_:
        return np.bool_(value)
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        if not target.is_floating_point:
            raise ValueError(INT64_OVERFLOW)
        value = float(value)
    overflow = RuntimeError(
        f"value cannot be converted to type {_CPP_NAMES[target.name]} without overflow"
    )
    if target.is_floating_point:
        finfo = jnp.finfo(target.numpy)
        if isinstance(value, float) and math.isfinite(value) and abs(value) > float(finfo.max):
            raise overflow
        return target.numpy.type(value)
    info = np.iinfo(target.numpy)
    if isinstance(value, float):
        if not (info.min <= value <= info.max and value < 2.0**63):
            raise overflow
        value = int(value)
    floor = -info.max if info.min == 0 else info.min
    if not floor <= value <= info.max:
        raise overflow
    return np.array(value, np.int64).astype(target.numpy)[()]


def _from_array(data, dtype: dt.dtype | None) -> jax.Array:
    """A NumPy or JAX array as a jax array of its own dtype, converted to ``dtype`` if given."""
    source = dt.from_numpy_dtype(data.dtype)
    array = jax.device_put(np.array(data) if isinstance(data, np.ndarray) else data)
    if dtype is not None and dtype is not source:
        array = _cast(array, dtype.numpy)
    return array


def _new_from_data(data: Any, dtype: dt.dtype | None) -> jax.Array:
    if isinstance(data, _ARRAYS):
        return _from_array(data, dtype)
    target = dtype if dtype is not None else _infer_dtype(data)
    sizes = _compute_sizes(data)
    flat: list = []
    _flatten(data, sizes, 0, flat)
    return scalars_to_numpy(flat, target).reshape(sizes)


def tensor(
    data: Any,
    *,
    dtype: dt.dtype | None = None,
    device: DeviceLike = None,
    requires_grad: bool = False,
) -> Tensor:
    """Constructs a tensor with no autograd history by copying ``data``.

    Args:
        data: A Python number, a (nested) list or tuple, a NumPy array or scalar, a JAX array or a
            tensor. Python floats become the default dtype (float32), ints int64 and bools bool;
            arrays, NumPy scalars and tensors keep their dtype, and a list takes the promotion of
            its items' dtypes (``[np.float64(1.5), 2]`` is float64).
        dtype: Convert to this dtype instead (floats truncate into integer dtypes).
        device: Place the tensor there (``"cpu"``, ``"cuda"``, a ``device``).
        requires_grad: Make the new leaf require grad (floating point dtypes only).

    Returns:
        A new leaf tensor. Copying a tensor warns, as in PyTorch: use ``t.detach().clone()``.
    """
    dtype = _check_dtype(dtype)
    if isinstance(data, Tensor):
        warnings.warn(COPY_CONSTRUCT, UserWarning, stacklevel=2)
        array = data._data
        if dtype is not None and dtype is not data.dtype:
            array = _cast(array, dtype.numpy)
        return make(array, device, requires_grad)
    return make(_new_from_data(data, dtype), device, requires_grad)


def as_tensor(data: Any, dtype: dt.dtype | None = None, device: DeviceLike = None) -> Tensor:
    """Converts ``data`` to a tensor; a tensor already of ``dtype`` and ``device`` is returned
    as it is (the same object), otherwise converted with ``Tensor.to`` (keeping its graph)."""
    dtype = _check_dtype(dtype, "as_tensor")
    if isinstance(data, Tensor):
        out = data
        if dtype is not None and dtype is not data.dtype:
            out = out.to(dtype)
        if device is not None and _device(device) != data.device:
            out = out.to(device)
        return out
    return make(_new_from_data(data, dtype), device)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """Creates a tensor from a NumPy array, keeping its dtype.

    Unlike PyTorch the tensor does not share memory with the array: JAX arrays are immutable.
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    return make(_from_array(ndarray, None))


# ----- sizes ----------------------------------------------------------------------------------
def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def parse_size(fn: str, size: tuple) -> tuple[int, ...]:
    """The shape given to a factory as varargs (``ones(2, 3)``) or one sequence
    (``ones((2, 3))``, ``ones([2, 3])``, ``ones(Size([2, 3]))``), with PyTorch's TypeErrors."""
    if not size:
        raise TypeError(f'{fn}() missing 1 required positional arguments: "size"')
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    elif len(size) == 1 and _as_int(size[0]) is None:
        raise TypeError(
            f"{fn}(): argument 'size' (position 1) must be tuple of ints, not "
            f"{type(size[0]).__name__}"
        )
    elif any(isinstance(s, (tuple, list)) for s in size):
        raise TypeError(f"{fn}() takes 1 positional argument but {len(size)} were given")
    shape = []
    for pos, s in enumerate(size, 1):
        n = _as_int(s)
        if n is None:
            raise TypeError(
                f"{fn}(): argument 'size' failed to unpack the object at pos {pos} with error "
                f'"type must be tuple of ints,but got {type(s).__name__}"'
            )
        shape.append(n)
    return _check_shape(fn, tuple(shape))


def parse_size_arg(fn: str, size: Any, position: int) -> tuple[int, ...]:
    """The shape given as one argument that must be a sequence (``full``, ``randint``)."""
    if not isinstance(size, (tuple, list)):
        raise TypeError(
            f"{fn}(): argument 'size' (position {position}) must be tuple of ints, not "
            f"{type(size).__name__}"
        )
    shape = []
    for pos, s in enumerate(size):
        n = _as_int(s)
        if n is None:
            raise TypeError(
                f"{fn}(): argument 'size' (position {position}) must be tuple of ints, but found "
                f"element of type {type(s).__name__} at pos {pos}"
            )
        shape.append(n)
    return _check_shape(fn, tuple(shape))


def _check_shape(fn: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    for s in shape:
        if s < 0:
            if fn == "zeros":
                raise RuntimeError("zeros: Dimension size must be non-negative.")
            raise RuntimeError(
                f"Trying to create tensor with negative dimension {s}: {list(shape)}"
            )
    return shape


# ----- factories ------------------------------------------------------------------------------
# Up to this many elements a constant tensor is filled on the host and transferred: jnp.full
# compiles a kernel for every new shape (~20 ms), a transfer of a small array costs microseconds.
_HOST_FILL_LIMIT = 1 << 16


def _factory(fill, shape: tuple, dtype: dt.dtype | None, device, requires_grad) -> Tensor:
    dtype = dtype or dt.get_default_dtype()
    if math.prod(shape) <= _HOST_FILL_LIMIT or jax.default_backend() == "cpu":
        return make(np.full(shape, fill, dtype=dtype.numpy), device, requires_grad)
    return make(jnp.full(shape, fill, dtype=dtype.jax), device, requires_grad)


def zeros(*size, dtype=None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor filled with 0, of shape ``size`` (varargs, a tuple, a list or a Size)."""
    shape = parse_size("zeros", size)
    return _factory(0, shape, _check_dtype(dtype, "zeros"), device, requires_grad)


def ones(*size, dtype=None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor filled with 1, of shape ``size`` (varargs, a tuple, a list or a Size)."""
    shape = parse_size("ones", size)
    return _factory(1, shape, _check_dtype(dtype, "ones"), device, requires_grad)


def empty(*size, dtype=None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Returns an uninitialised tensor of shape ``size`` (tapegrad fills it with zeros)."""
    shape = parse_size("empty", size)
    return _factory(0, shape, _check_dtype(dtype, "empty"), device, requires_grad)


def _fill_value(fn: str, fill_value: Any):
    """``fill_value`` as a Python number, with PyTorch's TypeError for non-numbers."""
    if isinstance(fill_value, Tensor) or (
        isinstance(fill_value, (np.generic, np.ndarray)) and np.ndim(fill_value) == 0
    ):
        fill_value = fill_value.item()
    if not isinstance(fill_value, (bool, int, float)):
        raise TypeError(
            f"{fn}(): argument 'fill_value' (position 2) must be Number, not "
            f"{type(fill_value).__name__}"
        )
    return fill_value


def _fill_dtype(fill_value) -> dt.dtype:
    if isinstance(fill_value, bool):
        return dt.bool_
    if isinstance(fill_value, int):
        return dt.int64
    return dt.get_default_dtype()


def full(size, fill_value, *, dtype=None, device: DeviceLike = None, requires_grad: bool = False):
    """Returns a tensor of shape ``size`` (a tuple, list or Size) filled with ``fill_value``; the
    dtype follows the value (bool, int64 or the default float dtype) unless given."""
    shape = parse_size_arg("full", size, 1)
    fill_value = _fill_value("full", fill_value)
    dtype = _check_dtype(dtype, "full") or _fill_dtype(fill_value)
    return _factory(scalar_to(fill_value, dtype), shape, dtype, device, requires_grad)


def _like(input: Tensor, dtype, device, fn: str):
    d = _check_dtype(dtype, fn) or input.dtype
    if device is None and input.device.type != "cpu":
        device = input.device
    return d, device


def zeros_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor of zeros with the shape (and by default dtype/device) of ``input``."""
    d, dev = _like(input, dtype, device, "zeros_like")
    return _factory(0, input.shape, d, dev, requires_grad)


def ones_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor of ones with the shape (and by default dtype/device) of ``input``."""
    d, dev = _like(input, dtype, device, "ones_like")
    return _factory(1, input.shape, d, dev, requires_grad)


def empty_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Returns an uninitialised (zero-filled) tensor shaped like ``input``."""
    d, dev = _like(input, dtype, device, "empty_like")
    return _factory(0, input.shape, d, dev, requires_grad)


def full_like(
    input: Tensor, fill_value, *, dtype=None, device=None, requires_grad: bool = False
) -> Tensor:
    """Returns a tensor shaped like ``input`` filled with ``fill_value``."""
    d, dev = _like(input, dtype, device, "full_like")
    fill = scalar_to(_fill_value("full_like", fill_value), d)
    return _factory(fill, input.shape, d, dev, requires_grad)


# ----- ranges ---------------------------------------------------------------------------------
def _number(fn: str, name: str, position: int, value: Any):
    if isinstance(value, Tensor):
        return value.item()
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        return value.item()
    if not isinstance(value, (bool, int, float)):
        raise TypeError(
            f"{fn}(): argument '{name}' (position {position}) must be Number, not "
            f"{type(value).__name__}"
        )
    return value


def _not_implemented(kernel: str, dtype: dt.dtype) -> NotImplementedError:
    return NotImplementedError(f"\"{kernel}\" not implemented for '{dt.legacy_name(dtype)}'")


def _to_int64(value) -> int:
    """PyTorch's ``Scalar.to<int64_t>()``: truncation, with its overflow error."""
    if (isinstance(value, float) and not math.isfinite(value)) or not (_INT64_MIN <= value < 2**63):
        raise RuntimeError("value cannot be converted to type int64_t without overflow")
    return int(value)


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _add_round_to_odd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b`` rounded to odd: truncated, with the last bit set when inexact."""
    s, err = _two_sum(a, b)
    bits = s.view(np.int64 if s.dtype == np.float64 else np.int32)
    fix = (err != 0) & ((bits & 1) == 0)
    return np.where(fix, np.nextafter(s, np.where(err > 0, np.inf, -np.inf).astype(s.dtype)), s)


def _split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = 134217729.0 * x  # 2**27 + 1: Veltkamp's split of a double into two 26-bit halves
    hi = t - (t - x)
    return hi, x - hi


def fma(a, b, c, kind) -> np.ndarray:
    """``a * b + c`` with a single rounding to float32 or float64, as the FMA instruction that
    PyTorch's compiled kernels contract ``start + step * i`` into (Boldo and Melquiond's
    emulation through rounding to odd)."""
    with np.errstate(over="ignore", invalid="ignore"):
        a, b, c = (np.asarray(v, np.float64) for v in (a, b, c))
        if kind is np.float32:  # the product of two floats is exact in float64
            return _add_round_to_odd(a * b, c).astype(np.float32)
        ph = a * b
        (ah, al), (bh, bl) = _split(a), _split(b)
        pl = ((ah * bh - ph) + ah * bl + al * bh) + al * bl
        th, tl = _two_sum(c, ph)
        return th + _add_round_to_odd(tl, pl)


# PyTorch's x86 builds run arange's kernel with AVX2 vectors of 32 bytes (8 floats, 4 doubles).
_VECTOR_BYTES = 32


def _arange_float(start, step, n: int, acc, kind) -> np.ndarray:
    """PyTorch's CPU arange kernel for float dtypes: ``cpu_serial_kernel_vec`` fills blocks of
    two vectors with ``Vectorized::arange(T(start + step * i0), step)`` (lane ``j`` is
    ``base + j * step`` in the accumulate type) and the remaining tail with
    ``start + step * i``; the compiler contracts both into FMAs. (Above 32768 values PyTorch
    splits the range between threads, which moves the blocks; values then differ by at most an
    ulp.)"""
    lanes = _VECTOR_BYTES // np.dtype(kind).itemsize
    idx = np.arange(n, dtype=np.int64)
    with np.errstate(over="ignore", invalid="ignore"):
        out = fma(step, idx.astype(acc), start, acc)
        covered = n - n % (2 * lanes)
        if covered:
            first = idx[:covered] - idx[:covered] % lanes
            base = fma(step, first.astype(acc), start, acc).astype(kind).astype(acc)
            out[:covered] = fma((idx[:covered] - first).astype(acc), step, base, acc)
        return out.astype(kind)


def arange(
    start=0, end=None, step=1, *, dtype=None, device: DeviceLike = None, requires_grad=False
) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``: int64 when all are integers,
    otherwise the default float dtype.

    As PyTorch's CPU kernel: the number of values is ``ceil((end - start) / step)`` computed in
    float64 (in exact integer arithmetic for int64), and value ``i`` is ``start + i * step``
    computed in float64 for float32/float64 (float32 for float16/bfloat16). Integer dtypes
    truncate ``start`` and ``step`` first, so ``arange(0, 2, 0.5, dtype=int32)`` is all zeros.
    """
    if end is None:
        start, end = 0, start
        names = (("end", 1),)
        values = (end,)
    else:
        names = (("start", 1), ("end", 2), ("step", 3))
        values = (start, end, step)
    for (name, pos), v in zip(names, values, strict=False):
        _number("arange", name, pos, v)
    start, end, step = (_number("arange", "step", 3, v) for v in (start, end, step))
    dtype = _check_dtype(dtype, "arange")
    if dtype is None:
        integral = all(isinstance(v, int) for v in (start, end, step))
        dtype = dt.int64 if integral else dt.get_default_dtype()
    if dtype is dt.bool_:
        raise _not_implemented("arange_cpu", dtype)
    for v in (start, end, step):
        if isinstance(v, int) and not _INT64_MIN <= v <= _INT64_MAX:
            raise RuntimeError("value cannot be converted to type int64_t without overflow")
    fstart, fend, fstep = float(start), float(end), float(step)
    if fstep == 0:
        raise RuntimeError("step must be nonzero")
    if not (math.isfinite(fstart) and math.isfinite(fend)):
        raise RuntimeError(f"unsupported range: {fstart:g} -> {fend:g}")
    if not ((fstep > 0 and fend >= fstart) or (fstep < 0 and fend <= fstart)):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dtype.is_floating_point:
        acc = np.float64 if dtype.itemsize >= 4 else np.float32
        size_d = math.ceil((fend - fstart) / fstep)
        if size_d > _INT64_MAX:
            raise RuntimeError("invalid size, possible overflow?")
        values = _arange_float(acc(start), acc(step), size_d, acc, dtype.numpy.type)
    else:
        istart, iend, istep = _to_int64(start), _to_int64(end), _to_int64(step)
        if dtype is dt.int64:
            if istep == 0:
                raise ValueError("step must be nonzero")
            sign = 1 if istep > 0 else -1
            size = max(_trunc_div(iend - istart + istep - sign, istep), 0)
        else:
            size_d = (fend - fstart) / fstep
            if size_d > _INT64_MAX:
                raise RuntimeError("invalid size, possible overflow?")
            size = math.ceil(size_d)
        with np.errstate(over="ignore"):
            values = np.int64(istart) + np.int64(istep) * np.arange(size, dtype=np.int64)
        values = values.astype(dtype.numpy)
    return make(values, device, requires_grad)


def linspace(
    start, end, steps: int, *, dtype=None, device: DeviceLike = None, requires_grad=False
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive.

    As PyTorch's CPU kernel: ``step = (end - start) / (steps - 1)`` in the output dtype (float64
    for integer dtypes, which truncate ``start`` and ``end`` first); the first half of the
    values count up from ``start``, the second half down from ``end``, so both ends are exact.
    """
    start = _number("linspace", "start", 1, start)
    end = _number("linspace", "end", 2, end)
    n = _as_int(steps)
    if n is None:
        raise TypeError(
            f"linspace(): argument 'steps' (position 3) must be int, not {type(steps).__name__}"
        )
    if n < 0:
        raise RuntimeError("number of steps must be non-negative")
    dtype = _check_dtype(dtype, "linspace") or dt.get_default_dtype()
    if dtype is dt.bool_:
        raise _not_implemented("linspace_cpu", dtype)
    if n <= 1:  # PyTorch fills a single value with fill_(start)
        values = np.array([scalar_to(start, dtype)][:n], dtype.numpy)
    elif dtype.is_floating_point:
        kind = dtype.numpy.type
        first, last = scalar_to(start, dtype), scalar_to(end, dtype)
        idx = np.arange(n, dtype=np.int64)
        with np.errstate(over="ignore", invalid="ignore"):
            step = (last - first) / kind(n - 1)
            if dtype.itemsize >= 4:  # float32/float64: the compiler fuses these into FMAs
                up = fma(step, idx.astype(kind), first, kind)
                down = fma(-step, (n - 1 - idx).astype(kind), last, kind)
            else:  # float16/bfloat16 round after every operation
                up = first + step * idx.astype(kind)
                down = last - step * (n - 1 - idx).astype(kind)
        values = np.where(idx < n // 2, up, down).astype(kind)
    else:
        first, last = (int(scalar_to(v, dtype)) for v in (start, end))
        step = (float(last) - float(first)) / (n - 1)
        idx = np.arange(n, dtype=np.int64)
        up = fma(step, idx.astype(np.float64), float(first), np.float64)
        down = fma(-step, (n - 1 - idx).astype(np.float64), float(last), np.float64)
        values = np.trunc(np.where(idx < n // 2, up, down)).astype(np.int64).astype(dtype.numpy)
    return make(values, device, requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A 2-D tensor of shape ``(n, m)`` (``m`` defaults to ``n``) with ones on the diagonal."""
    rows = _as_int(n)
    if rows is None:
        raise TypeError(f"eye(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    cols = rows if m is None else _as_int(m)
    if cols is None:
        raise TypeError(f"eye(): argument 'm' (position 2) must be int, not {type(m).__name__}")
    if rows < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {rows}")
    if cols < 0:
        raise RuntimeError(f"m must be greater or equal to 0, got {cols}")
    dtype = _check_dtype(dtype, "eye") or dt.get_default_dtype()
    return make(np.eye(rows, cols, dtype=dtype.numpy), device, requires_grad)


def scalar_tensor(value, like: Tensor) -> Tensor:
    return make(jnp.asarray(value, dtype=like.dtype.jax))
