"""Views: tensors that share their base's storage and read it through a chain of view ops."""

from __future__ import annotations

import jax
from jax.core import Tracer

__all__ = ["ViewInfo"]

_CHAIN_KERNELS: dict = {}


def _chain_kernel(chain: tuple):
    k = _CHAIN_KERNELS.get(chain)
    if k is None:
        steps = [(op.forward_fn(None, statics), index) for op, statics, index in chain]

        def read(base):
            for f, index in steps:
                base = f(base) if index is None else f(base)[index]
            return base

        k = _CHAIN_KERNELS[chain] = jax.jit(read)
    return k


class ViewInfo:
    """How a view derives its array from the storage's array, with a cache of the result."""

    __slots__ = ("array", "chain", "generation", "index")

    def __init__(self, chain: tuple, array, generation: int) -> None:
        self.chain = chain
        self.array = array
        self.generation = generation
        self.index = None  # (base shape, index map), made by the first write into the view

    def read(self, storage):
        if self.generation != storage.generation:
            array = _chain_kernel(self.chain)(storage.array)
            if isinstance(array, Tracer):  # inside a trace (tapegrad.compile): never cached
                return array
            self.array = array
            self.generation = storage.generation
        return self.array

    def index_map(self, base_shape: tuple):
        """For each element of the view, its flat index in the base (for writes into views);
        computed once per base shape, since a view's chain never changes."""
        cached = self.index
        if cached is not None and cached[0] == base_shape:
            return cached[1]
        import jax.numpy as jnp

        size = 1
        for s in base_shape:
            size *= s
        with jax.ensure_compile_time_eval():  # depends on shapes only: concrete, cacheable
            index = _chain_kernel(self.chain)(jnp.arange(size).reshape(base_shape))
        self.index = (base_shape, index)
        return index
