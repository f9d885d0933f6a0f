"""dropout: zero elements with probability ``p`` (a Bernoulli mask drawn from the global JAX
key, so ``manual_seed`` makes it reproducible) and scale the rest by ``1 / (1 - p)``; the
result is ``input * noise``, PyTorch's ``MulBackward0``."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from tapegrad._dtype import legacy_name
from tapegrad._kernel_cache import bounded_jit
from tapegrad._ops import inplace as _inplace
from tapegrad._ops.pointwise import mul
from tapegrad._random import next_key
from tapegrad._tensor import Tensor, _wrap


@functools.partial(bounded_jit, static_argnums=(2, 3))
def _noise(key, keep, shape, dtype):
    mask = jax.random.bernoulli(key, keep, shape)
    return mask.astype(dtype) / jnp.asarray(keep, dtype)


@functools.cache
def _zero(dtype) -> jax.Array:
    with jax.ensure_compile_time_eval():  # cached: must not be a tracer of one compile
        return jnp.zeros((), dtype)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """During training, randomly zeroes some elements of the input tensor with probability
    ``p`` and scales the others by ``1 / (1 - p)``; returns ``input`` itself when not training
    or when ``p == 0``."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if p == 0 or not training or input.numel() == 0:
        return input
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            f"result type Float can't be cast to the desired output type {legacy_name(input.dtype)}"
        )
    jdt = input._data.dtype
    if p == 1:
        noise = _wrap(_zero(jdt))  # PyTorch multiplies by a 0-d zero: -0.0 where input < 0
    else:
        noise = _wrap(_noise(next_key(), 1.0 - float(p), tuple(input.shape), jdt))
    if inplace:
        return _inplace.inplace(input, mul, noise)
    return mul(input, noise)
