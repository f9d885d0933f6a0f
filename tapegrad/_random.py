"""The global random key: ``manual_seed``, ``rand``, ``randn``, ``randint`` and their ``_like``s.

One JAX PRNG key is the global generator's state; every draw splits it, so the same seed gives
the same numbers (they are not PyTorch's numbers: the generators differ).
"""

from __future__ import annotations

import math
import operator
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from tapegrad import _dtype as dt
from tapegrad._creation import DeviceLike, make, parse_size, parse_size_arg
from tapegrad._kernel_cache import KERNELS
from tapegrad._tensor import Tensor
from tapegrad._tracing import capture as _capture

__all__ = [
    "get_rng_state",
    "initial_seed",
    "manual_seed",
    "rand",
    "rand_like",
    "randint",
    "randn",
    "randn_like",
    "seed",
    "set_rng_state",
]

DEFAULT_SEED = 67280421310721  # PyTorch's default CPU seed


class _Generator:
    """The global generator. While a thread traces a compiled function, that thread reads and
    advances the traced key of its capture context (``_tracing.capture.rng``) instead: other
    threads keep drawing from the real key."""

    def __init__(self) -> None:
        self.seed = DEFAULT_SEED
        self._key = jax.random.PRNGKey(DEFAULT_SEED)

    @property
    def key(self):
        rng = _capture.rng
        return self._key if rng is None else rng[0]

    @key.setter
    def key(self, value) -> None:
        rng = _capture.rng
        if rng is None:
            self._key = value
        else:
            rng[0] = value


default_generator = _Generator()


def _key(seed: int) -> jax.Array:
    # The seed's 64 bits as a signed int64, which JAX's threefry key takes whole.
    return jax.random.PRNGKey(seed - (1 << 64) if seed >= 1 << 63 else seed)


def manual_seed(seed: int) -> _Generator:
    """Sets the seed of the global random key; the same seed gives the same numbers.

    As in PyTorch the seed is taken modulo 2**64 (``manual_seed(-1)`` gives ``initial_seed()``
    2**64 - 1), and a seed outside ``[-2**63, 2**64)`` raises ValueError.
    """
    seed = int(seed)
    if not -(1 << 63) <= seed < 1 << 64:
        raise ValueError("Overflow when unpacking long long")
    seed %= 1 << 64
    default_generator.seed = seed
    default_generator.key = _key(seed)
    return default_generator


def seed() -> int:
    """Seeds the global key with a non-deterministic number and returns it."""
    import secrets

    s = secrets.randbits(63)
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed most recently set with ``manual_seed``."""
    return default_generator.seed


# get_rng_state()'s layout: the seed (uint64) then the JAX key (two uint32), little-endian.
_STATE_BYTES = 16


def get_rng_state() -> Tensor:
    """The global generator's state as a uint8 tensor (a ``torch.ByteTensor``), for
    ``set_rng_state``. Its size differs from PyTorch's 5056 bytes: the state is a JAX key."""
    key = np.asarray(jax.random.key_data(default_generator.key), dtype="<u4")
    seed = np.array([default_generator.seed], dtype="<u8")
    return make(np.frombuffer(seed.tobytes() + key.tobytes(), dtype=np.uint8).copy())


def set_rng_state(new_state: Tensor) -> None:
    """Restores the global generator from a state returned by ``get_rng_state()``."""
    if not isinstance(new_state, Tensor):
        raise TypeError(f"expected a torch.ByteTensor, but got {type(new_state).__name__}")
    if new_state.dtype is not dt.uint8:
        raise TypeError("RNG state must be a torch.ByteTensor")
    raw = np.asarray(new_state._data).tobytes()
    if len(raw) != _STATE_BYTES:
        raise RuntimeError(
            f"Expected a tapegrad generator state of size {_STATE_BYTES} but found the input RNG "
            f"state size to be {len(raw)}"
        )
    default_generator.seed = int(np.frombuffer(raw[:8], dtype="<u8")[0])
    key = np.frombuffer(raw[8:], dtype="<u4").astype(np.uint32)
    default_generator.key = jax.device_put(key)


def next_key() -> jax.Array:
    """Split the global key and return a fresh subkey."""
    default_generator.key, sub = _split(default_generator.key)
    return sub


@jax.jit
def _split(key):
    k = jax.random.split(key)
    return k[0], k[1]


# Draws are made in 1-D blocks of a power-of-two size, then cut to the requested shape by a
# small kernel: compiling the generator (threefry) for a new size costs ~150 ms, the cut ~25 ms,
# so many shapes share one generator kernel. Above this size a draw gets its own kernel.
_MAX_BLOCK = 1 << 20


def _block(n: int) -> int:
    return n if n > _MAX_BLOCK else max(16, 1 << (n - 1).bit_length())


def _sampler(kind: str, n: int, dtype):
    return KERNELS.jitted(("sampler", kind, n, dtype), _draw_fn(kind, n, dtype))


def _draw_fn(kind: str, n: int, dtype):
    def draw(key, low, high):
        key, sub = jax.random.split(key)
        if kind == "uniform":
            x = jax.random.uniform(sub, (n,), dtype)
        elif kind == "normal":
            x = jax.random.normal(sub, (n,), dtype)
        else:
            x = jax.random.randint(sub, (n,), low, high, dtype)
        return key, x

    return draw


def _cut(n: int, shape: tuple):
    return KERNELS.jitted(("sampler_cut", n, shape), lambda x: x[:n].reshape(shape))


def _draw(kind: str, shape: tuple, dtype: dt.dtype, low: int = 0, high: int = 1):
    n = math.prod(shape)
    block = _block(n)
    key, x = _sampler(kind, block, dtype.jax)(default_generator.key, np.int64(low), np.int64(high))
    default_generator.key = key
    return x if (block,) == shape else _cut(n, shape)(x)


def _float_dtype(dtype, kernel: str, fn: str) -> dt.dtype:
    dtype = dt.canonical(dtype, fn) or dt.get_default_dtype()
    if not dtype.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{dt.legacy_name(dtype)}'")
    return dtype


def rand(*size, dtype=None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Uniform random numbers on ``[0, 1)`` of shape ``size`` (varargs, a tuple, list or Size)."""
    shape = parse_size("rand", size)
    dtype = _float_dtype(dtype, "check_uniform_bounds", "rand")
    return make(_draw("uniform", shape, dtype), device, requires_grad)


def randn(*size, dtype=None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Standard normal random numbers of shape ``size`` (varargs, a tuple, list or Size)."""
    shape = parse_size("randn", size)
    dtype = _float_dtype(dtype, "normal_kernel_cpu", "randn")
    return make(_draw("normal", shape, dtype), device, requires_grad)


# The C++ type names PyTorch's random_ bounds checks print.
_CPP_NAMES = {
    "bool": "bool",
    "uint8": "unsigned char",
    "int8": "signed char",
    "int16": "short",
    "int32": "int",
    "int64": "long",
    "float16": "c10::Half",
    "bfloat16": "c10::BFloat16",
    "float32": "float",
    "float64": "double",
}


def _randint_bound(value, name: str, position: int) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(
            f"randint(): argument '{name}' (position {position}) must be int, not "
            f"{type(value).__name__}"
        )
    value = operator.index(value)
    if not -(1 << 63) <= value < 1 << 63:
        raise ValueError("Overflow when unpacking long long")
    return value


def _check_randint_range(low: int, high: int, dtype: dt.dtype) -> None:
    """PyTorch's ``check_from_to_in_range``: errors outside the dtype's range, and for float
    dtypes a warning beyond the integers they represent exactly."""
    if low >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    name = _CPP_NAMES[dtype.name]
    if dtype is dt.bool_:
        lo, hi = 0, 1
    else:
        info = jnp.finfo(dtype.numpy) if dtype.is_floating_point else np.iinfo(dtype.numpy)
        lo, hi = float(info.min), float(info.max)
    for value, what in ((low, "from"), (high - 1, "to - 1")):
        if not lo <= value <= hi:
            raise RuntimeError(f"{what} is out of bounds for {name}")
    if dtype.is_floating_point:
        digits = int(info.nmant) + 1
        for value, what in ((low, "from"), (high - 1, "to - 1")):
            if not -(1 << digits) <= value <= 1 << digits:
                warnings.warn(
                    f"{what} is out of bounds [-(2^{digits}), 2^{digits}]. Due to precision "
                    f"limitations {name} can support discrete uniform distribution only within "
                    "this range. This warning will become an error in version 1.7 release, "
                    "please fix the code in advance",
                    UserWarning,
                    stacklevel=3,
                )


def randint(*args, size=None, dtype=None, device: DeviceLike = None, requires_grad=False):
    """Random integers in ``[low, high)``: ``randint(high, size)`` or ``randint(low, high, size)``,
    int64 unless ``dtype`` says otherwise; ``size`` is a tuple, list or Size."""
    if size is None:
        if len(args) < 2:
            raise TypeError(f"randint() received an invalid combination of arguments: {args!r}")
        *bounds, size = args
        position = len(args)
    else:
        bounds = list(args)
        position = len(args) + 1
    if len(bounds) == 1:
        low, high = 0, _randint_bound(bounds[0], "high", 1)
    elif len(bounds) == 2:
        low = _randint_bound(bounds[0], "low", 1)
        high = _randint_bound(bounds[1], "high", 2)
    else:
        raise TypeError(f"randint() received an invalid combination of arguments: {args!r}")
    shape = parse_size_arg("randint", size, position)
    dtype = dt.canonical(dtype, "randint") or dt.int64
    _check_randint_range(low, high, dtype)
    x = _draw("randint", shape, dt.int64, low, high)
    return make(x.astype(dtype.jax), device, requires_grad)


def rand_like(input: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform random numbers on ``[0, 1)`` shaped like ``input`` (and of its dtype)."""
    dtype = _float_dtype(
        dt.canonical(dtype, "rand_like") or input.dtype, "check_uniform_bounds", "rand_like"
    )
    return rand(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal random numbers shaped like ``input`` (and of its dtype)."""
    dtype = _float_dtype(
        dt.canonical(dtype, "randn_like") or input.dtype, "normal_kernel_cpu", "randn_like"
    )
    return randn(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)
