"""Storage shared by a tensor, its views, its ``detach()`` aliases and its ``.data`` aliases.

JAX arrays are immutable, so a write replaces ``Storage.array``; ``generation`` counts the
writes so views know when their cached array is stale. The autograd version counter is a
separate object (``VersionCounter``) because ``.data`` shares storage but not the counter.
"""

from __future__ import annotations

from tapegrad._tracing import capture as _capture

__all__ = ["DeferredStorage", "PendingStorage", "Storage", "VersionCounter"]


class Storage:
    __slots__ = ("array", "generation")
    # A gradient storage that shares its buffer with others (made by tapegrad.compile): reading
    # the tensor through ``Tensor.grad`` calls ``pin()`` first, so later steps leave it alone.
    pin_on_read = False

    def __init__(self, array) -> None:
        self.array = array
        self.generation = 0

    def write(self, array) -> None:
        on_write = _capture.on_write  # set while this thread traces a compiled function
        if on_write is not None:
            on_write(self)
        self.array = array
        self.generation += 1


_slot_get = Storage.array.__get__
_slot_set = Storage.array.__set__


class DeferredStorage(Storage):
    """A storage whose array is the result of a kernel call that has not run yet.

    ``pending`` is ``(op, kernel, cdt, statics, arrays)``: the first read of ``array`` runs
    ``kernel(*arrays)`` (the very call the eager dispatcher would have made) and keeps the
    result. Until then a consumer may fuse the computation into its own kernel (see
    ``_registry.dispatch_fused``). The inputs are immutable arrays, so running later gives the
    same values as running now.
    """

    __slots__ = ("pending",)

    def __init__(self, pending: tuple) -> None:
        self.pending = pending
        self.generation = 0

    @property
    def array(self):
        pending = self.pending
        if pending is not None:
            _slot_set(self, pending[1](*pending[4]))
            self.pending = None
        return _slot_get(self)

    @array.setter
    def array(self, value) -> None:
        self.pending = None
        _slot_set(self, value)


class PendingStorage(Storage):
    """A storage whose array is one step of a deferred forward segment (``tapegrad._segment``)
    that has not run yet.

    ``shape``, ``dtype``, ``ndim`` and ``size`` are the array's, known without running it, so
    the dispatcher can chain more ops onto it and a tensor can answer ``.shape``. The first read
    of ``array`` runs the whole segment (``Segment.flush``), which fills every pending storage
    of it; a write runs it first, so the segment never overwrites a newer value.
    """

    __slots__ = ("__weakref__", "aval", "dtype", "index", "segment", "shape")

    def __init__(self, segment, index: int, aval) -> None:
        self.segment = segment
        self.index = index  # the step of ``segment`` that computes this array
        self.aval = aval
        self.shape = aval.shape
        self.dtype = aval.dtype
        self.generation = 0

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def array(self):
        segment = self.segment
        if segment is not None:
            segment.flush()
        return _slot_get(self)

    @array.setter
    def array(self, value) -> None:
        segment = self.segment
        if segment is not None:
            segment.flush()
        _slot_set(self, value)

    def devices(self) -> set:
        """The devices of the array, as ``jax.Array.devices()``: those of the first array the
        step reads (directly or through earlier steps), without running anything."""
        segment = self.segment
        if segment is not None:
            found = segment.devices_of(self)
            if found is not None:
                return found
        return self.array.devices()


class VersionCounter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0
