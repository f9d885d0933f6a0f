"""The global random key: ``manual_seed``, ``rand``, ``randn``, ``randint`` and their ``_like``s.

One JAX PRNG key is the global generator's state; every draw splits it, so the same seed gives
the same numbers (they are not PyTorch's numbers: the generators differ).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from tapegrad import _dtype as dt
from tapegrad._creation import DeviceLike, make
from tapegrad._ops._util import normalize_size
from tapegrad._tensor import Tensor

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
    def __init__(self) -> None:
        self.seed = DEFAULT_SEED
        self.key = jax.random.PRNGKey(DEFAULT_SEED)


default_generator = _Generator()


def manual_seed(seed: int) -> _Generator:
    """Sets the seed of the global random key; the same seed gives the same numbers."""
    seed = int(seed)
    default_generator.seed = seed
    default_generator.key = jax.random.PRNGKey(seed % (1 << 64))
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


def get_rng_state() -> Tensor:
    """The global key as a uint32 tensor."""
    return make(default_generator.key)


def set_rng_state(new_state: Tensor) -> None:
    """Restores the global key from ``get_rng_state()``."""
    default_generator.key = jnp.asarray(new_state._data, jnp.uint32)


def next_key() -> jax.Array:
    """Split the global key and return a fresh subkey."""
    default_generator.key, sub = _split(default_generator.key)
    return sub


@jax.jit
def _split(key):
    k = jax.random.split(key)
    return k[0], k[1]


@functools.lru_cache(maxsize=None)
def _sampler(kind: str, shape: tuple, dtype, low=None, high=None):
    def draw(key):
        key, sub = jax.random.split(key)
        if kind == "uniform":
            x = jax.random.uniform(sub, shape, dtype)
        elif kind == "normal":
            x = jax.random.normal(sub, shape, dtype)
        else:
            x = jax.random.randint(sub, shape, low, high, dtype)
        return key, x

    return jax.jit(draw)


def _draw(kind: str, shape: tuple, dtype: dt.dtype, low=None, high=None):
    key, x = _sampler(kind, shape, dtype.jax, low, high)(default_generator.key)
    default_generator.key = key
    return x


def _float_dtype(dtype, fn: str) -> dt.dtype:
    dtype = dtype or dt.get_default_dtype()
    if not dtype.is_floating_point:
        raise RuntimeError(f'"{fn}" not implemented for \'{dtype.name}\'')
    return dtype


def rand(*size, dtype=None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Uniform random numbers on ``[0, 1)`` of shape ``size``."""
    dtype = _float_dtype(dtype, "check_uniform_bounds")
    return make(_draw("uniform", normalize_size(size), dtype), device, requires_grad)


def randn(*size, dtype=None, device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
    """Standard normal random numbers of shape ``size``."""
    dtype = _float_dtype(dtype, "normal_kernel_cpu")
    return make(_draw("normal", normalize_size(size), dtype), device, requires_grad)


def randint(*args, size=None, dtype=None, device: DeviceLike = None, requires_grad=False):
    """Random integers in ``[low, high)``: ``randint(high, size)`` or ``randint(low, high, size)``."""
    if size is None:
        *bounds, size = args
    else:
        bounds = list(args)
    if len(bounds) == 1:
        low, high = 0, bounds[0]
    elif len(bounds) == 2:
        low, high = bounds
    else:
        raise TypeError("randint() expects (high, size) or (low, high, size)")
    if low >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    dtype = dtype or dt.int64
    x = _draw("randint", normalize_size((size,)), dt.int64, int(low), int(high))
    return make(x.astype(dtype.jax), device, requires_grad)


def rand_like(input: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform random numbers shaped like ``input``."""
    return rand(input.shape, dtype=dtype or input.dtype, device=device, requires_grad=requires_grad)


def randn_like(input: Tensor, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal random numbers shaped like ``input``."""
    return randn(input.shape, dtype=dtype or input.dtype, device=device, requires_grad=requires_grad)
