"""Views: tensors that share their base's storage and read it through a chain of view ops."""

from __future__ import annotations

import jax
from jax.core import Tracer

from tapegrad._kernel_cache import KERNELS

__all__ = ["ViewInfo"]


def apply_chain(base, struct: tuple, vals: tuple):
    """Run a view chain's ops on ``base`` (jax code): ``struct`` holds each step's
    ``(op, statics, output index)``, ``vals`` each step's runtime values."""
    for (op, statics, index), v in zip(struct, vals, strict=True):
        out = op.forward_fn(None, statics)(base, *v)
        base = out if index is None else out[index]
    return base


def _chain_kernel(struct: tuple, base_shape: tuple):
    """One jitted kernel per chain structure and base shape: the steps' values (a slice's
    start) are its arguments, so views at every offset share it."""
    return KERNELS.jitted(
        ("view_chain", struct, base_shape), lambda base, vals: apply_chain(base, struct, vals)
    )


class ViewInfo:
    """How a view derives its array from the storage's array, with a cache of the result.

    ``chain`` holds one ``(op, statics, output index, values)`` step per view op."""

    __slots__ = ("array", "chain", "generation", "index")

    def __init__(self, chain: tuple, array, generation: int) -> None:
        self.chain = chain
        self.array = array
        self.generation = generation
        self.index = None  # (base shape, index map), made by the first write into the view

    def split(self) -> tuple[tuple, tuple]:
        """The chain's structure (what its kernel depends on) and its steps' values."""
        return (
            tuple(step[:3] for step in self.chain),
            tuple(step[3] for step in self.chain),
        )

    def _run(self, base):
        from tapegrad._ops._registry import _value_arg

        struct, vals = self.split()
        return _chain_kernel(struct, base.shape)(base, _value_arg(vals))

    def read(self, storage):
        if self.generation != storage.generation:
            array = self._run(storage.array)
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
        if any(isinstance(v, Tracer) for v in jax.tree_util.tree_leaves(self.split()[1])):
            # Offsets traced by tapegrad.compile (inputs of its program): part of the trace.
            return self._run(jnp.arange(size).reshape(base_shape))
        with jax.ensure_compile_time_eval():  # depends on shapes only: concrete, cacheable
            index = self._run(jnp.arange(size).reshape(base_shape))
        self.index = (base_shape, index)
        return index
