"""Deferred forward segments: runs of eager ops computed as one cached XLA program.

A jit call costs ~20 us of JAX dispatch on a small CPU, several times a PyTorch op. So an
eager op whose operands are concrete does not run at once: ``dispatch`` appends it as a step
to its thread's open ``Segment`` and returns a tensor whose storage is a ``PendingStorage``.
Its shape and dtype are known (the op's abstract evaluation, cached per signature, which also
raises any shape or dtype error at the op, as running it would). The segment runs when one of
its results is read (``.item()``, printing, a view, an in-place write, backward reading a
saved tensor, an op that cannot be deferred), when it reaches ``MAX_STEPS``, or before a
compiled call.

A segment whose structure (ops, compute dtypes, statics, how steps feed each other, input
shapes, which results are still referenced) repeats runs as ONE jitted program cached in
``KERNELS``; a structure seen for the first time runs step by step with the ops' own kernels,
so one-off code compiles nothing new. Every step's result passes through ``_opaque`` inside
the program, so XLA cannot contract or simplify across two ops: results are the step-by-step
kernels' bit for bit.
"""

from __future__ import annotations

import os
import threading
import weakref

import jax
from jax._src.core import trace_state_clean

from tapegrad._kernel_cache import KERNELS, mentions
from tapegrad._storage import PendingStorage, _slot_set

__all__ = ["MAX_STEPS", "Segment", "current", "enabled", "flush_all", "forget", "wake"]

# Whether eligible eager ops are deferred at all (``tapegrad.config.deferred_forward``).
enabled = [os.environ.get("TAPEGRAD_DEFERRED_FORWARD", "1") != "0"]
MAX_STEPS = 128  # compile time grows faster than linearly with a program's size
# A structure of at least ``_MIN_STEPS`` steps is compiled at its second flush, or at once
# when a structure differing only in its shapes was compiled before (a new batch size). A
# shorter one always runs step by step: it would save a dispatch or two per run for a compile
# of ~50 ms.
_COMPILE_AFTER = 2
_MIN_STEPS = 4
_SHORT_LIMIT = 4
_PROBE_AFTER = 1024
_SEEN: dict = {}
_COMPILED_SHAPELESS: dict = {}
_MAX_SEEN = 4096

_local = threading.local()
_open: weakref.WeakSet = weakref.WeakSet()  # every thread's segment, for flush_all
_zero_bits = None


class Segment:
    """One thread's pending steps. ``steps[k]`` is ``(op, cdt, statics, refs)``: ``refs`` index
    ``inputs`` (``r >= 0``) or an earlier step's result (``r < 0`` is step ``-r - 1``)."""

    __slots__ = (
        "__weakref__",
        "active",
        "ids",
        "inputs",
        "kernels",
        "lock",
        "outs",
        "short",
        "sigs",
        "skipped",
        "steps",
    )

    def __init__(self) -> None:
        self.lock = threading.RLock()
        # Deferring a lone op only adds work (~15 us): after ``_SHORT_LIMIT`` flushes in a row
        # of single steps the thread runs its ops at once (``active`` False) until the next
        # backward() or ``_PROBE_AFTER`` undeferred ops.
        self.active = True
        self.short = 0
        self.skipped = 0
        self._reset()

    def wants(self) -> bool:
        """Whether this thread's next op is deferred."""
        if self.active:
            return True
        self.skipped += 1
        if self.skipped >= _PROBE_AFTER:
            self.active = True
            self.short = 0
        return self.active

    def _reset(self) -> None:
        self.steps: list = []
        self.kernels: list = []  # each step's own jit kernel, for a step-by-step run
        self.outs: list = []  # a weak reference to each step's PendingStorage
        self.inputs: list = []
        self.sigs: list = []  # each input's part of the key: a tuple, or a number's type
        self.ids: dict = {}  # id(array) -> its index in inputs

    def append(self, op, cdt, statics: tuple, kernel, operands: list, sigs: list, aval):
        """Add one step computing ``kernel(*operands)`` and return its PendingStorage.
        ``operands`` are arrays, Python numbers, value tuples or PendingStorages of this
        segment; ``sigs[i]`` is what the segment's key holds of ``operands[i]`` if it is an
        input: a tuple for an array, a type for a number."""
        with self.lock:
            inputs, ids = self.inputs, self.ids
            refs = []
            for a, sig in zip(operands, sigs, strict=True):
                if type(a) is PendingStorage:
                    if a.segment is self:
                        refs.append(-a.index - 1)
                        continue
                    a = a.array  # flushed by another thread in the meantime
                if sig is int or sig is float or sig is bool or type(sig) is not tuple:
                    refs.append(len(inputs))  # a number: its own input (no identity to share)
                    inputs.append(a)
                    self.sigs.append(sig)
                    continue
                i = ids.get(id(a))
                if i is None:
                    i = ids[id(a)] = len(inputs)
                    inputs.append(a)
                    self.sigs.append(sig)
                refs.append(i)
            steps = self.steps
            st = PendingStorage(self, len(steps), aval)
            steps.append((op, cdt, statics, tuple(refs)))
            self.kernels.append(kernel)
            self.outs.append(weakref.ref(st))
            full = len(steps) >= MAX_STEPS
        if full:
            self.flush()
        return st

    def flush(self) -> None:
        """Run every pending step and fill the storages still referenced."""
        with self.lock:
            steps = self.steps
            if not steps:
                return
            if len(steps) == 1:
                self.short += 1
                if self.short >= _SHORT_LIMIT:
                    self.active = False
                    self.skipped = 0
            else:
                self.short = 0
            steps, kernels, inputs, sigs, storages = self._take()
            try:
                _run(steps, kernels, inputs, sigs, storages)
            finally:
                _settle(storages)

    def flush_into(
        self, tail_key: tuple, tail_shapeless: tuple, make_tail, tail_args: tuple, now: bool
    ):
        """Run the pending steps and a consumer of their results as ONE program, once that
        pair repeats (or at once if ``now``): ``make_tail()`` gives
        ``tail(zero, results, *tail_args)``, traced after the steps with ``results`` the
        steps' values (the backward replay, whose saved tensors are pending). Returns the
        tail's outputs, or None when the pair is not compiled (yet): the steps have then run
        step by step (their program alone would be compiled for nothing) and the caller runs
        its tail."""
        with self.lock:
            if len(self.steps) < _MIN_STEPS:
                self.flush()
                return None
            steps, kernels, inputs, sigs, storages = self._take()
            try:
                alive = tuple(i for i, st in enumerate(storages) if st is not None)
                steps_t, sigs_t = tuple(steps), tuple(sigs)
                key = ("segment", steps_t, sigs_t, alive, tail_key)
                program = KERNELS.get(key)
                if program is None and _worth_compiling(
                    key, (steps_t, _dtypes(sigs_t), alive, tail_shapeless), now
                ):
                    program = KERNELS.put(key, jax.jit(_program(steps_t, alive, make_tail())))
                if program is not None:
                    try:
                        results, tail_out = _call(program, _zero(), inputs, *tail_args)
                    except Exception:  # e.g. out of memory: the parts on their own, as before
                        program = None
                if program is None:
                    results = _call(_step_by_step, steps, kernels, inputs, alive)
                    tail_out = None
                for i, a in zip(alive, results, strict=True):
                    _slot_set(storages[i], a)
                return tail_out
            finally:
                _settle(storages)

    def devices_of(self, st: PendingStorage) -> set | None:
        """The devices of the first array input the step computing ``st`` reads, directly or
        through earlier steps; None if it reads none (or the step has run meanwhile)."""
        with self.lock:
            if st.segment is not self:
                return None
            steps, inputs = self.steps, self.inputs
            todo = [st.index]
            while todo:
                for r in steps[todo.pop()][3]:
                    if r < 0:
                        todo.append(-r - 1)
                    elif hasattr(inputs[r], "devices"):
                        return inputs[r].devices()
        return None

    def _take(self) -> tuple:
        """The pending steps (the lock held), leaving the segment empty."""
        taken = (self.steps, self.kernels, self.inputs, self.sigs, [r() for r in self.outs])
        self._reset()
        return taken


def _settle(storages: list) -> None:
    for st in storages:
        if st is not None:
            st.segment = None


def current() -> Segment:
    """This thread's open segment."""
    try:
        return _local.segment
    except AttributeError:
        seg = _local.segment = Segment()
        _open.add(seg)
        return seg


def wake() -> None:
    """Defer this thread's ops again (backward() calls it: a training step's forward comes
    next, the run that deferral batches)."""
    seg = current()
    seg.active = True
    seg.short = 0


def forget(ids: set) -> None:
    """Drop the structures that hold an op whose ``id`` is in ``ids`` (a collected compiled
    module's); their programs live in ``KERNELS`` (``KernelCache.forget``)."""
    for table in (_SEEN, _COMPILED_SHAPELESS):
        for key in list(table):
            if mentions(key, ids):
                table.pop(key, None)


def flush_all() -> None:
    """Run every thread's pending steps (before a compiled call donates buffers they read)."""
    for seg in list(_open):
        seg.flush()


def _run(steps: list, kernels: list, inputs: list, sigs: list, storages: list) -> None:
    alive = tuple(i for i, st in enumerate(storages) if st is not None)
    if not alive:
        return
    program = None
    if len(steps) >= _MIN_STEPS:
        steps_t, sigs_t = tuple(steps), tuple(sigs)
        key = ("segment", steps_t, sigs_t, alive)
        program = KERNELS.get(key)
        if program is None and _worth_compiling(key, (steps_t, _dtypes(sigs_t), alive)):
            program = KERNELS.put(key, jax.jit(_program(steps_t, alive)))
    if program is not None:
        results = _call(program, _zero(), inputs)
    else:
        results = _call(_step_by_step, steps, kernels, inputs, alive)
    for i, a in zip(alive, results, strict=True):
        _slot_set(storages[i], a)


def _call(fn, *args):
    if trace_state_clean():
        return fn(*args)
    with jax.ensure_compile_time_eval():  # another thread's trace is running: stay concrete
        return fn(*args)


def _step_by_step(steps: list, kernels: list, inputs: list, alive: tuple) -> list:
    results = []
    for (_, _, _, refs), kernel in zip(steps, kernels, strict=True):
        results.append(kernel(*[inputs[r] if r >= 0 else results[-r - 1] for r in refs]))
    return [results[i] for i in alive]


def _zero():
    global _zero_bits
    if _zero_bits is None:
        import jax.numpy as jnp

        _zero_bits = jnp.zeros((), jnp.uint64)
    return _zero_bits


def _dtypes(sigs: tuple) -> tuple:
    """``sigs`` less the arrays' shapes."""
    return tuple(s[1] if type(s) is tuple and s[0] != "values" else s for s in sigs)


def _worth_compiling(key: tuple, shapeless: tuple, now: bool = False) -> bool:
    """Whether a structure has repeated enough (or is a known one at new shapes) to compile."""
    if shapeless in _COMPILED_SHAPELESS:
        return True
    seen = _SEEN.get(key, 0) + 1
    if seen >= _COMPILE_AFTER or now:
        _SEEN.pop(key, None)
        if len(_COMPILED_SHAPELESS) > _MAX_SEEN:
            _COMPILED_SHAPELESS.clear()
        _COMPILED_SHAPELESS[shapeless] = None
        return True
    if len(_SEEN) > _MAX_SEEN:
        _SEEN.clear()
    _SEEN[key] = seen
    return False


def _program(steps: tuple, alive: tuple, tail=None):
    """The function computing ``steps`` and returning the results at ``alive`` (and, with a
    ``tail``, what the tail makes of all the results)."""
    from tapegrad._ops._registry import _opaque

    fns = [(op.forward_fn(cdt, statics), refs) for op, cdt, statics, refs in steps]

    def run(zero, inputs, *tail_args):
        results = []
        for fn, refs in fns:
            out = fn(*[inputs[r] if r >= 0 else results[-r - 1] for r in refs])
            results.append(_opaque(out, zero))
        kept = tuple(results[i] for i in alive)
        return kept if tail is None else (kept, tail(zero, results, *tail_args))

    return run
