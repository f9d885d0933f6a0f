"""tapegrad's dtype objects and PyTorch's type-promotion rules."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "dtype",
    "get_default_dtype",
    "promote_types",
    "result_type",
    "set_default_dtype",
]


class dtype:
    """A tensor element type, printed as PyTorch prints it (``torch.float32``).

    The ``torch.`` prefix is deliberate: tapegrad prints tensors and dtypes character for
    character as PyTorch does, so tutorials' outputs match.
    """

    __slots__ = (
        "_category",
        "_rank",
        "is_complex",
        "is_floating_point",
        "is_signed",
        "itemsize",
        "jax",
        "name",
        "numpy",
    )

    def __init__(self, name: str, np_dtype, category: int, rank: int) -> None:
        self.name = name
        self.numpy = np.dtype(np_dtype)
        self.jax = self.numpy
        self.itemsize = self.numpy.itemsize
        self.is_floating_point = category == _FLOAT
        self.is_complex = False
        self.is_signed = name not in ("uint8", "bool")
        self._category = category
        self._rank = rank

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))

    def to_real(self) -> dtype:
        return self

    def to_complex(self) -> dtype:
        raise RuntimeError(
            f"Unknown Complex ScalarType for {_LEGACY_NAMES[self.name]}"
            if not self.is_floating_point
            else "tapegrad has no complex dtypes"
        )


_BOOL, _INT, _FLOAT = 0, 1, 2

bool_ = dtype("bool", np.bool_, _BOOL, 0)
uint8 = dtype("uint8", np.uint8, _INT, 1)
int8 = dtype("int8", np.int8, _INT, 2)
int16 = dtype("int16", np.int16, _INT, 3)
int32 = dtype("int32", np.int32, _INT, 4)
int64 = dtype("int64", np.int64, _INT, 5)
float16 = dtype("float16", jnp.float16, _FLOAT, 6)
bfloat16 = dtype("bfloat16", jnp.bfloat16, _FLOAT, 6)
float32 = dtype("float32", np.float32, _FLOAT, 7)
float64 = dtype("float64", np.float64, _FLOAT, 8)

ALL_DTYPES = (bool_, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
_NAMES = {d.name: d for d in ALL_DTYPES}
_FROM_NUMPY = {d.numpy: d for d in ALL_DTYPES}
# PyTorch's aliases, exported from tapegrad's top level.
ALIASES = {
    "half": float16,
    "float": float32,
    "double": float64,
    "short": int16,
    "int": int32,
    "long": int64,
}


# The C++ names PyTorch's kernels print in "... not implemented for 'Long'" errors.
_LEGACY_NAMES = {
    "bool": "Bool",
    "uint8": "Byte",
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "float16": "Half",
    "bfloat16": "BFloat16",
    "float32": "Float",
    "float64": "Double",
}
# Python types PyTorch accepts wherever it takes a dtype (``torch.ones(2, dtype=float)``).
_PYTHON_TYPES = {float: float64, int: int64, bool: bool_}


def _by_name(name: str) -> dtype:
    return _NAMES[name]


def legacy_name(d: dtype) -> str:
    """PyTorch's C++ name of ``d`` (``Long`` for int64), as its kernel errors print it."""
    return _LEGACY_NAMES[d.name]


def canonical(d, fn: str) -> dtype | None:
    """``d`` as a tapegrad dtype: ``None`` stays None and Python's ``float``/``int``/``bool`` map to
    float64/int64/bool as in PyTorch; anything else is PyTorch's TypeError for function ``fn``."""
    if d is None or isinstance(d, dtype):
        return d
    if d in _PYTHON_TYPES:
        return _PYTHON_TYPES[d]
    raise TypeError(f"{fn}(): argument 'dtype' must be torch.dtype, not {type(d).__name__}")


def cast(x, to: np.dtype):
    """Converts the jax array ``x`` to dtype ``to`` as PyTorch's CPU kernels do.

    Floats become integers by truncation through a 32-bit integer (64-bit for int64), so values
    that fit wrap around as in C (``-1.5`` becomes 255 as uint8); values out of that range, NaN
    and infinities become the integer's minimum, as x86's conversion instructions give. XLA's own
    conversion saturates instead. Floats become bools by their bits, so subnormals are True.
    """
    to = np.dtype(to)
    src = np.dtype(x.dtype)
    if src.kind == "f" and to == np.bool_:
        # Any set bit but the sign's is True: XLA's CPU comparisons flush subnormals to zero.
        bits = lax.bitcast_convert_type(x, np.dtype(f"uint{src.itemsize * 8}"))
        return (bits << 1) != 0
    if src.kind != "f" or to.kind not in "iu":
        return lax.convert_element_type(x, to)
    wide = np.dtype(np.int64 if to == np.int64 else np.int32)
    bits = wide.itemsize * 8
    if src.itemsize < 4:
        x = lax.convert_element_type(x, np.float32)
    lo, hi = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1)
    bad = jnp.isnan(x) | (x < lo) | (x >= hi)
    safe = jnp.where(bad, 0, x)
    y = jnp.where(bad, np.iinfo(wide).min, lax.convert_element_type(safe, wide))
    return lax.convert_element_type(y, to)


def from_numpy_dtype(np_dtype) -> dtype:
    """The tapegrad dtype of a NumPy/JAX dtype; TypeError for types tapegrad does not have."""
    try:
        return _FROM_NUMPY[np.dtype(np_dtype)]
    except (KeyError, TypeError):
        try:
            name = "numpy." + np.dtype(np_dtype).type.__name__
        except TypeError:
            name = str(np_dtype)
        raise TypeError(
            f"can't convert np.ndarray of type {name}. The only supported types are: "
            "float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, and bool."
        ) from None


def _promote_pair(a: dtype, b: dtype) -> dtype:
    if a is b:
        return a
    if a._category != b._category:
        return a if a._category > b._category else b
    if a._category == _FLOAT:
        if a._rank == b._rank:  # float16 with bfloat16
            return float32
        return a if a._rank > b._rank else b
    if a._category == _INT:
        if uint8 in (a, b):  # uint8 with a signed type needs the next wider signed type
            other = b if a is uint8 else a
            return int16 if other is int8 else other
        return a if a._rank > b._rank else b
    return a


_PROMOTE = {(a, b): _promote_pair(a, b) for a in ALL_DTYPES for b in ALL_DTYPES}


def promote_types(type1: dtype, type2: dtype) -> dtype:
    """The smallest dtype to which both ``type1`` and ``type2`` can be cast (PyTorch's table)."""
    try:
        return _PROMOTE[type1, type2]
    except (KeyError, TypeError):
        return _PROMOTE[canonical(type1, "promote_types"), canonical(type2, "promote_types")]


class _DefaultDtype:
    # Process-wide, as in PyTorch: a thread sees the default dtype another thread set.
    value = float32


_default = _DefaultDtype()


def get_default_dtype() -> dtype:
    """The default floating point dtype (``float32`` unless changed by ``set_default_dtype``)."""
    return _default.value


def set_default_dtype(d: dtype) -> None:
    """Set the default floating point dtype (float32, float64, float16 or bfloat16).

    It is the dtype of Python floats in ``tensor`` and in promotion, and of the float factories
    (``ones``, ``rand``, ``arange`` with float arguments, ...).
    """
    if not isinstance(d, dtype):
        raise TypeError(
            "invalid dtype object: only floating-point types are supported as the default type"
        )
    if not d.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    _default.value = d
    _RESULT_CACHE.clear()
    for callback in _DEFAULT_DTYPE_LISTENERS:
        callback()


# Callbacks run after the default dtype changes: caches of results that depend on it (the
# dtype of Python floats) register here to be cleared.
_DEFAULT_DTYPE_LISTENERS: list = []


def on_default_dtype_change(callback):
    """Register ``callback()`` to run whenever ``set_default_dtype`` changes the default dtype
    (usable as a decorator); a cache keyed on operand types must clear itself then."""
    _DEFAULT_DTYPE_LISTENERS.append(callback)
    return callback


def _combine(higher: dtype | None, lower: dtype | None) -> dtype | None:
    # PyTorch's combine_categories: a higher-priority participant wins unless a lower-priority
    # one is of a higher category (then bool/int participants are promoted to it).
    if higher is None:
        return lower
    if lower is None or higher._category == _FLOAT:
        return higher
    if higher is bool_ or lower._category == _FLOAT:
        return promote_types(higher, lower)
    return higher


_RESULT_CACHE: dict = {}


def _scalar_dtype(value) -> dtype:
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    if isinstance(value, float):
        return get_default_dtype()
    raise TypeError(f"unsupported scalar type {type(value).__name__}")


def result_type_from_keys(keys: tuple) -> dtype:
    """``keys`` holds ``(dtype, is_zero_dim)`` for tensors and a Python type for scalars."""
    try:
        return _RESULT_CACHE[keys]
    except KeyError:
        pass
    dim_r = zero_r = wrapped_r = None
    for k in keys:
        if isinstance(k, tuple):
            d, zero = k
            if zero:
                zero_r = d if zero_r is None else promote_types(zero_r, d)
            else:
                dim_r = d if dim_r is None else promote_types(dim_r, d)
        else:
            d = _scalar_dtype(k(0) if k is not bool else False)
            wrapped_r = d if wrapped_r is None else promote_types(wrapped_r, d)
    out = _combine(dim_r, _combine(zero_r, wrapped_r))
    _RESULT_CACHE[keys] = out
    return out


def result_type(*operands) -> dtype:
    """PyTorch's ``result_type``: the dtype of an arithmetic op on ``operands``."""
    keys = []
    for o in operands:
        if hasattr(o, "_promotion_key"):
            keys.append(o._promotion_key())
        elif isinstance(o, (bool, int, float)):
            keys.append(type(o))
        else:
            raise TypeError(f"result_type() received an invalid operand of type {type(o).__name__}")
    return result_type_from_keys(tuple(keys))
