"""``tapegrad.compile`` (this module is ``tapegrad.compiler``): a whole function of tapegrad
code, or a module's forward, as one XLA program.

A compiled *function* (a training step: forward, ``loss.backward()``, ``optimizer.step()``,
manual ``no_grad`` updates, BatchNorm statistics, Dropout) runs the same tape code once on JAX
tracers inside one ``jax.jit``. Every piece of tapegrad state it can reach that is not an
argument is *lifted*: the storages of module parameters and buffers, of ``.grad`` tensors, of
optimizer state and of tensors it finds in its globals and closure, the optimizers'
hyperparameters and the global random key become inputs of the program; what the trace wrote
becomes outputs, and after each call those are written back into the same Tensor objects (and
``.grad`` / optimizer-state slots), so the code outside sees what eager execution would have
left. Lifted buffers that are replaced are donated, so parameters are not copied.

A compiled *module* (``tapegrad.compile(model)``) keeps training eagerly: its whole forward is
one node on the eager tape (``CompiledFunctionBackward``) whose backward is the jitted VJP of
that forward.
"""

from __future__ import annotations

import contextlib
import math
import operator
import threading
import types
import warnings
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tapegrad import _random, _segment, _tracing
from tapegrad._grad_mode import no_grad
from tapegrad._grad_mode import state as _mode
from tapegrad._kernel_cache import KERNELS, bounded_jit
from tapegrad._storage import Storage
from tapegrad._tensor import Tensor, _wrap
from tapegrad._tensor import _new as _new_tensor
from tapegrad._tracing import UntraceableError
from tapegrad._view import ViewInfo
from tapegrad.nn.modules.module import Module
from tapegrad.optim.lr_scheduler import LRScheduler
from tapegrad.optim.optimizer import KernelOptimizer, Optimizer

__all__ = ["CACHE_SIZE_LIMIT", "CompiledFunction", "CompiledModule", "UntraceableError", "compile"]

# As torch._dynamo.config.cache_size_limit: past this many programs for one function, warn and
# run it eagerly.
CACHE_SIZE_LIMIT = 8


def compile(
    model: Callable | Module | None = None,
    *,
    fullgraph: bool = True,
    dynamic: bool | None = None,
    backend: str | None = None,
    mode: str | None = None,
    options: dict | None = None,
    disable: bool = False,
) -> Any:
    """Compiles ``model`` (a function running tapegrad code, or an ``nn.Module``) into one XLA
    program per guard, as ``torch.compile`` does.

    Usable as ``tapegrad.compile(fn)``, ``@tapegrad.compile`` and ``@tapegrad.compile(...)``.

    Args:
        model: the function or module to compile; ``None`` to use ``compile(...)`` as a
            decorator with options.
        fullgraph: if True (the default), code that cannot be traced (``.item()``,
            ``.tolist()``, ``print`` of a tensor, a Python ``if`` on a tensor's value) raises
            ``UntraceableError`` naming the line; if False, the function falls back to eager
            execution with a warning.
        dynamic: accepted for ``torch.compile`` compatibility; shapes are always specialized.
        backend: accepted for ``torch.compile`` compatibility; XLA is the only backend.
        mode: accepted for ``torch.compile`` compatibility.
        options: accepted for ``torch.compile`` compatibility.
        disable: return ``model`` itself, uncompiled.

    Returns:
        A ``CompiledFunction``, or a ``CompiledModule`` for a module.
    """
    if model is None:

        def decorate(fn):
            return compile(fn, fullgraph=fullgraph, disable=disable)

        return decorate
    if disable:
        return model
    if isinstance(model, Module):
        return CompiledModule(model)
    if not callable(model):
        raise RuntimeError(f"tapegrad.compile expects a callable or an nn.Module, got {model!r}")
    return CompiledFunction(model, fullgraph=fullgraph)


# ----- what a function can reach ---------------------------------------------------------------
_LEAF_TYPES = (str, bytes, int, float, complex, bool, type(None), types.ModuleType, type)


def _global_names(code: types.CodeType) -> set:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


class _Reach:
    """The modules, optimizers, schedulers and loose tensors reachable from a function: its
    closure, the globals its code names, a bound ``self``, and attributes of the objects found
    (a few levels deep), as ``torch.compile`` guards on what a frame reads."""

    def __init__(self) -> None:
        self.modules: dict[int, Module] = {}
        self.optimizers: dict[int, Optimizer] = {}
        self.schedulers: dict[int, LRScheduler] = {}
        self.tensors: dict[int, Tensor] = {}
        self._seen: set = set()

    def walk(self, obj: Any, depth: int = 0) -> None:
        if depth > 5 or isinstance(obj, _LEAF_TYPES) or id(obj) in self._seen:
            return
        self._seen.add(id(obj))
        if isinstance(obj, Tensor):
            self.tensors.setdefault(id(obj), obj)
        elif isinstance(obj, Module):
            for m in obj.modules():
                self.modules.setdefault(id(m), m)
                for value in vars(m).values():
                    if isinstance(value, Tensor):
                        self.tensors.setdefault(id(value), value)
        elif isinstance(obj, Optimizer):
            self.optimizers.setdefault(id(obj), obj)
        elif isinstance(obj, LRScheduler):
            self.schedulers.setdefault(id(obj), obj)
            self.walk(obj.optimizer, depth + 1)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for value in obj:
                self.walk(value, depth + 1)
        elif isinstance(obj, dict):
            for value in obj.values():
                self.walk(value, depth + 1)
        elif isinstance(obj, types.FunctionType):
            self.walk_function(obj, depth)
        elif isinstance(obj, types.MethodType):
            self.walk(obj.__self__, depth + 1)
            self.walk_function(obj.__func__, depth)
        elif isinstance(obj, CompiledFunction):
            self.walk_function(obj.fn, depth)
        elif isinstance(obj, CompiledModule):
            self.walk(obj._orig_mod, depth + 1)
        elif hasattr(obj, "__dict__") and not callable(obj):
            for value in vars(obj).values():
                self.walk(value, depth + 1)

    def walk_function(self, fn: Any, depth: int) -> None:
        code = getattr(fn, "__code__", None)
        if code is None:
            return
        for cell in fn.__closure__ or ():
            with contextlib.suppress(ValueError):  # an empty cell has no contents
                self.walk(cell.cell_contents, depth + 1)
        for value in fn.__defaults__ or ():
            self.walk(value, depth + 1)
        for value in (fn.__kwdefaults__ or {}).values():
            self.walk(value, depth + 1)
        g = fn.__globals__
        for name in _global_names(code):
            if name in g:
                self.walk(g[name], depth + 1)


# ----- the state of one call -------------------------------------------------------------------
class _State:
    """The lifted state of one call, in a fixed order: its structure (``key``) picks the
    program, its arrays are the program's inputs."""

    def __init__(self, fn: CompiledFunction, args: tuple, kwargs: dict) -> None:
        reach = fn._reach
        arg_reach = _Reach()
        arg_reach.walk((args, kwargs))
        tensors: dict[int, Tensor] = {}
        n_args = 0
        for t in arg_reach.tensors.values():
            tensors[id(t)] = t
            n_args += 1
        modules = list(reach.modules.values()) + [
            m for k, m in arg_reach.modules.items() if k not in reach.modules
        ]
        optimizers = list(reach.optimizers.values()) + [
            o for k, o in arg_reach.optimizers.items() if k not in reach.optimizers
        ]
        for m in modules:
            for t in m._parameters.values():
                if t is not None:
                    tensors.setdefault(id(t), t)
            for t in m._buffers.values():
                if t is not None:
                    tensors.setdefault(id(t), t)
        for t in reach.tensors.values():
            tensors.setdefault(id(t), t)
        for opt in optimizers:
            for group in opt.param_groups:
                for p in group["params"]:
                    tensors.setdefault(id(p), p)
            for s in opt.state.values():
                for v in s.values():
                    if isinstance(v, Tensor):
                        tensors.setdefault(id(v), v)
        self.tensors = list(tensors.values())
        # Views among them (the arguments' first): their chains' structures are guarded, their
        # values (a slice's start) are inputs of the program, so every offset shares it.
        self.views = [t for t in self.tensors if t._view is not None]
        self.arg_views = sum(1 for t in self.tensors[:n_args] if t._view is not None)
        self.view_tree = jax.tree_util.tree_structure([t._view.split()[1] for t in self.views])
        self.modules = modules
        self.optimizers = optimizers
        self.schedulers = list(reach.schedulers.values())
        # Storages, each once: first the arguments' (kept), then the rest (donated). A tensor's
        # ``.grad`` is state too.
        storages: dict[int, Storage] = {}
        slot_of = []
        for t in self.tensors:
            st = t._storage
            storages.setdefault(id(st), st)
            slot_of.append(id(st))
        self.owners = [t for t in self.tensors if t._requires_grad]
        grads = []
        for t in self.owners:
            g = t._grad
            grads.append(g)
            if g is not None:
                storages.setdefault(id(g._storage), g._storage)
        for st in fn._extra_storages:
            storages.setdefault(id(st), st)
        arg_ids = {id(t._storage) for t in self.tensors[:n_args]}
        order = list(storages)
        # A buffer can be donated once: storages holding the same array as an earlier one
        # (e.g. two gradients that are one array) are passed as kept inputs instead.
        self.kept, self.donated = [], []
        donated_arrays: set = set()
        for k in order:
            st = storages[k]
            if k in arg_ids or id(st.array) in donated_arrays:
                self.kept.append(st)
            else:
                donated_arrays.add(id(st.array))
                self.donated.append(st)
        self.grads = grads
        self.stable = None  # the fast path's list of the donated storages that stay put
        self.arg_storages = [storages[k] for k in order if k in arg_ids]
        self.grad_storages = [g._storage for g in grads if g is not None]
        self.extra_storages = list(fn._extra_storages)
        index = {k: i for i, k in enumerate(order)}
        self.key = (
            tuple(_aval(storages[k]) for k in order),
            _mode.grad_enabled,
            _mode.inference,
            _static_key((args, kwargs)),
            tuple(m.training for m in modules),
            tuple(
                (index[slot_of[i]], t._requires_grad, _view_struct(t))
                for i, t in enumerate(self.tensors)
            ),
            tuple(g is None for g in grads),
            tuple(_optimizer_key(opt) for opt in optimizers),
            len(fn._extra_storages),
            tuple(index[id(st)] for st in self.kept),
        )

    def view_values(self) -> list:
        """The runtime values of the views' chains, as kernel arguments."""
        if not self.views:
            return []
        from tapegrad._ops._registry import _value_arg

        leaves = jax.tree_util.tree_leaves([t._view.split()[1] for t in self.views])
        return [_value_arg(v) for v in leaves]

    def hypers(self) -> list:
        values = []
        for opt in self.optimizers:
            if isinstance(opt, KernelOptimizer):
                for group in opt.param_groups:
                    values.append(tuple(_hyper_value(h) for h in opt._hypers(group)))
        return values


_GET_GRAD = operator.attrgetter("_grad")
_GET_STORAGE = operator.attrgetter("_storage")


class _FastPath:
    """The structure of the last call's state, checked cheaply on the next call: while it holds,
    only the per-call parts (the arguments' and the gradients' storages) are gathered again,
    instead of walking every module and optimizer."""

    def __init__(self, state: _State, args: tuple) -> None:
        self.state = state
        self.n_args = len(args)
        self.static = _static_key((args, {}))
        self.views = tuple(_view_struct(a) for a in args)
        # Shapes and dtypes are part of the guard: a new one is a new program.
        self.avals = [_aval(a._storage) if isinstance(a, Tensor) else None for a in args]
        # Arguments that are all plain tensors (the usual x, y) are checked in one loop.
        plain = all(type(a) is Tensor and a._view is None for a in args)
        self.plain_args = [a._requires_grad for a in args] if plain else None
        self.modes = (_mode.grad_enabled, _mode.inference)
        # Modules' parameters, buffers, submodules and training flags, tensors' storages and
        # requires_grad: unchanged while the structure version is.
        self.structure = _tracing.structure_version[0]
        self.program: _Program | None = None
        self.optimizers = [(o, len(o.state), len(o.param_groups)) for o in state.optimizers]
        self.none_grads = [g is None for g in state.grads]
        self.all_grads = not any(self.none_grads)
        grad_ids = {id(st) for st in state.grad_storages}
        extra_ids = {id(st) for st in state.extra_storages}
        self.stable = [
            st for st in state.donated if id(st) not in grad_ids and id(st) not in extra_ids
        ]
        self.stable_ids = {id(st) for st in self.stable}
        # The fast path only rebuilds the common layout: arguments kept, the rest donated.
        self.usable = len(state.kept) == len(state.arg_storages) and len(state.donated) == len(
            self.stable
        ) + len(state.grad_storages) + len(state.extra_storages)
        # Tensors and Python scalars only: the tensors inside a list argument are not gathered.
        self.usable = self.usable and all(isinstance(a, (Tensor, *_SCALAR_TYPES)) for a in args)

    def refresh(self, args: tuple, kwargs: dict) -> _State | None:
        if not self.usable or kwargs or len(args) != self.n_args:
            return None
        if _tracing.structure_version[0] != self.structure:
            return None
        if (_mode.grad_enabled, _mode.inference) != self.modes:
            return None
        for o, n_state, n_groups in self.optimizers:
            if len(o.state) != n_state or len(o.param_groups) != n_groups:
                return None
        plain = self.plain_args
        if plain is not None:
            for a, requires_grad, (shape, dtype) in zip(args, plain, self.avals, strict=True):
                if type(a) is not Tensor or a._view is not None:
                    return None
                if a._requires_grad is not requires_grad:
                    return None
                array = a._storage.array
                if array.shape != shape or array.dtype != dtype:
                    return None
        elif (
            _static_key((args, {})) != self.static
            or tuple(_view_struct(a) for a in args) != self.views
            or [_aval(a._storage) if isinstance(a, Tensor) else None for a in args] != self.avals
        ):
            return None
        kept, seen, views, seen_views = [], set(), [], set()
        stable_ids = self.stable_ids
        for a in args:
            if isinstance(a, Tensor):
                st = a._storage
                if id(st) in stable_ids:
                    return None
                if id(st) not in seen:
                    seen.add(id(st))
                    kept.append(st)
                if a._view is not None and id(a) not in seen_views:
                    seen_views.add(id(a))
                    views.append(a)
        old = self.state
        grads = list(map(_GET_GRAD, old.owners))
        if self.all_grads:
            try:  # a None among them has no storage
                grad_storages = list(map(_GET_STORAGE, grads))
            except AttributeError:
                return None
        else:
            if [g is None for g in grads] != self.none_grads:
                return None
            grad_storages = [g._storage for g in grads if g is not None]
        # (Two storages holding one buffer are handled where buffers are donated: _owned.)
        donated = [*self.stable, *grad_storages, *old.extra_storages]
        state = object.__new__(_State)
        state.__dict__.update(old.__dict__)
        state.kept, state.donated, state.grads = kept, donated, grads
        state.arg_storages, state.grad_storages = kept, grad_storages
        state.stable = self.stable
        if views or old.views:
            state.views = views + old.views[old.arg_views :]
        return state


_PACK_LIMIT = 16384  # elements: gradients up to this size share one output array

_ARRAY_SLOT = Storage.array  # the base class's slots, under _PackedParam's properties
_GEN_SLOT = Storage.generation
_set_array = _ARRAY_SLOT.__set__
_set_gen = _GEN_SLOT.__set__
_new_storage = object.__new__


class _Box:
    """One flat buffer a compiled step returned (one dtype's small parameters, optimizer state
    or gradients), shared by the storages packed in it. When the next call writes the same
    storages, the write-back replaces ``flat`` and bumps ``gen`` once for all of them."""

    __slots__ = ("flat", "gen")

    def __init__(self, flat) -> None:
        self.flat = flat
        self.gen = 0


class _PackedParam(Storage):
    """A storage a compiled step wrote (a parameter, optimizer state): its array is one slice
    of a flat buffer the call returned (the ``array`` slot holds ``(box, offset, shape)``), so
    a step takes and returns one array per dtype instead of one per tensor. Its generation is
    its own count plus the box's. Reading or writing ``array`` turns it back into a plain
    ``Storage``."""

    __slots__ = ()

    @property
    def array(self):
        box, offset, shape = _ARRAY_SLOT.__get__(self)
        a = _unpack(box.flat, offset, shape)
        self._settle(a)
        return a

    @array.setter
    def array(self, value) -> None:
        self._settle(value)

    @property
    def generation(self) -> int:
        return _GEN_SLOT.__get__(self) + _ARRAY_SLOT.__get__(self)[0].gen

    @generation.setter
    def generation(self, value: int) -> None:
        _set_gen(self, value - _ARRAY_SLOT.__get__(self)[0].gen)

    def _settle(self, array) -> None:
        generation = self.generation
        _set_array(self, array)
        self.__class__ = Storage
        _set_gen(self, generation)
        _bump_epoch()


class _PackedGrad(_PackedParam):
    """A new ``.grad`` a compiled step made, packed like a parameter. The next step writes a
    new gradient into the same object (a fresh tensor in PyTorch, but nobody can tell) unless
    someone read it through ``Tensor.grad``: that read pins it to its own array first."""

    __slots__ = ()
    pin_on_read = True

    def pin(self) -> None:
        self.array  # noqa: B018  (reading unpacks it)


def _refill(boxes: list[_Box], flats: list) -> None:
    """A new step's buffers into the boxes of the last one: every storage packed in a box
    sees its new slice, and its generation moves on."""
    for box, flat in zip(boxes, flats, strict=True):
        box.flat = flat
        box.gen += 1


def _pack(st: Storage, box: _Box, offset: int, shape: tuple) -> None:
    """Make ``st`` (a plain or packed storage) one slice of ``box``, as a write: its
    generation moves on."""
    generation = st.generation
    _set_array(st, (box, offset, shape))
    st.__class__ = _PackedParam
    _set_gen(st, generation + 1 - box.gen)


# Bumped whenever a packed storage is unpacked or rewritten, and by every write-back: while it
# has not moved, the flat buffers a program returned still back its storages.
_PACK_EPOCH = [0]
_EPOCH_LOCK = threading.Lock()


def _bump_epoch() -> None:
    # Under a lock: two threads' "+= 1" must not collapse into one, or a program could take an
    # unpacked storage for still packed.
    with _EPOCH_LOCK:
        _PACK_EPOCH[0] += 1


def _unpack(flat, offset: int, shape: tuple):
    with jax.ensure_compile_time_eval():  # also inside a trace: the result is kept
        return _unpacker(shape, flat.dtype, flat.shape)(flat, offset)


def _unpacker(shape: tuple, dtype, flat_shape: tuple):
    size = math.prod(shape)
    return KERNELS.jitted(
        ("unpack", shape, dtype, flat_shape),
        lambda flat, offset: jax.lax.dynamic_slice(flat, (offset,), (size,)).reshape(shape),
    )


def _owned(arrays: list, owned: dict) -> list:
    """``arrays``, with a private copy of each one the last call did not return: donating a
    buffer frees it, and an array made elsewhere may share its buffer with another JAX array
    (``jax.device_put`` onto the device it is on, a kernel that forwards its input), which
    would then be freed under its owner. Copies happen once; later calls donate what the
    program returned."""
    out = arrays
    seen = set()
    for i, a in enumerate(arrays):
        key = id(a)
        if owned.get(key) is not a or key in seen:  # not returned by us, or donated twice
            if out is arrays:
                out = list(arrays)
            out[i] = _copy(a)
        seen.add(key)
    return out


@bounded_jit
def _copy(a):
    return jnp.copy(a)


def _written_versions(program: _Program, state: _State) -> list:
    """The version counters of the lifted tensors whose storages ``program`` writes."""
    donated = state.donated
    written = {id(donated[i]) for i in program.big}
    written.update(id(donated[i]) for group in program.groups for i, _, _ in group)
    written.update(id(state.kept[i]) for i in program.written_kept)
    counters = {}
    for t in state.tensors:
        if id(t._storage) in written:
            vc = t._version_counter()
            counters[id(vc)] = vc
    return list(counters.values())


def _unused_inputs(jaxpr, passthrough: int = 0) -> set:
    """Positions of the jaxpr's inputs that no equation and no output uses, not counting the
    first ``passthrough`` outputs (a donated storage handed back unchanged)."""
    used = set()
    for eqn in jaxpr.eqns:
        used.update(v for v in eqn.invars if type(v).__name__ != "Literal")
    used.update(v for v in jaxpr.outvars[passthrough:] if type(v).__name__ != "Literal")
    return {i for i, v in enumerate(jaxpr.invars) if v not in used}


def _aval(st: Storage) -> tuple:
    """A storage's shape and dtype, without unpacking a packed one."""
    if isinstance(st, _PackedParam):
        box, _, shape = _ARRAY_SLOT.__get__(st)
        return (tuple(shape), box.flat.dtype)
    array = st.array
    return (array.shape, array.dtype)


def _view_struct(a: Any):
    """A view's chain without its runtime values (what a program is specialized on)."""
    return a._view.split()[0] if isinstance(a, Tensor) and a._view is not None else None


_SCALAR_TYPES = (int, float, bool, str, type(None))


def _hyper_value(h):
    # A Python number as a float (traced as a weak float64 scalar); a tensor hyperparameter as
    # its array.
    if isinstance(h, Tensor):
        return h._data.reshape(())
    return float(h)


def _hyper_arrays(values: list, last: list | None, arrays: list) -> list:
    """``values`` (one tuple per param group) as weakly typed 0-d arrays, the same abstract
    values as the floats themselves, reusing last call's array wherever the value is
    unchanged: jax.jit converts a Python float argument on every call (about 1 us each), so
    only a value that changed (a scheduler's lr) is converted again."""
    out = []
    for i, group in enumerate(values):
        old = last[i] if last is not None and i < len(last) else ()
        old_arrays = arrays[i] if i < len(arrays) else ()
        row = []
        for j, v in enumerate(group):
            if type(v) is not float:  # a tensor hyperparameter's array
                row.append(v)
            elif j < len(old) and type(old[j]) is float and old[j] == v:
                row.append(old_arrays[j])
            else:
                row.append(_weak_scalar(v))
        out.append(tuple(row))
    return out


def _weak_scalar(v: float):
    with jax.ensure_compile_time_eval():
        return jnp.asarray(v)


def _optimizer_key(opt: Optimizer) -> tuple:
    groups = []
    for group in opt.param_groups:
        if isinstance(opt, KernelOptimizer):
            options = opt._options(group)
        else:  # its hyperparameters are read as Python numbers: a change must retrace
            options = tuple(
                (k, v) for k, v in group.items() if k != "params" and isinstance(v, (int, float))
            )
        state = tuple(
            tuple(opt.state[p].keys()) if p in opt.state else None for p in group["params"]
        )
        groups.append((len(group["params"]), options, state))
    return tuple(groups)


def _static_key(obj: Any) -> Any:
    """The part of the arguments a program is specialized on: Python numbers and strings by
    value, tensors by ``requires_grad`` (their shapes and dtypes are in the guard by storage,
    ``_aval``)."""
    if isinstance(obj, Tensor):
        return ("T", obj._requires_grad)
    if isinstance(obj, (int, float, bool, str, type(None))):
        return (type(obj), obj)
    if isinstance(obj, (list, tuple)):
        return (type(obj), tuple(_static_key(v) for v in obj))
    if isinstance(obj, dict):
        return (type(obj), tuple((k, _static_key(v)) for k, v in obj.items()))
    return (type(obj), id(obj))


class _Snapshot:
    """The Python state a trace may change, to put back when a trace fails."""

    def __init__(self, state: _State) -> None:
        self.arrays = [(st, st.array) for st in (*state.kept, *state.donated)]
        self.grads = [(t, t._grad) for t in state.owners]
        # The trace's in-place ops bump version counters: a failed call must leave them (an
        # eager graph that saved a parameter before it can still run backward).
        counters = {}
        for t in (*state.tensors, *(g for _, g in self.grads if g is not None)):
            if not t._is_inference:
                vc = t._version_counter()
                counters[id(vc)] = vc
        self.versions = [(vc, vc.value) for vc in counters.values()]
        # Each parameter's state dict itself is kept, as a user may hold it.
        self.opt_state = [
            (opt, {p: (s, dict(s)) for p, s in opt.state.items()}) for opt in state.optimizers
        ]
        self.views = [(t, t._view) for t in state.views]
        self.epochs = [(s, s.last_epoch) for s in state.schedulers]
        self.lrs = [(opt, [g.get("lr") for g in opt.param_groups]) for opt in state.optimizers]
        self.written: dict[int, tuple] = {}  # storages outside the state written by the trace

    def restore(self) -> None:
        for sched, epoch in self.epochs:
            sched.last_epoch = epoch
        for opt, lrs in self.lrs:
            for g, lr in zip(opt.param_groups, lrs, strict=True):
                g["lr"] = lr
        for st, a in self.arrays:
            st.array = a
            st.generation += 1
        for st, a in self.written.values():
            st.array = a
            st.generation += 1
        for t, g in self.grads:
            t._grad = g
        for opt, saved in self.opt_state:
            opt.state.clear()
            for p, (s, items) in saved.items():
                s.clear()
                s.update(items)
                opt.state[p] = s
        for vc, value in self.versions:
            vc.value = value
        for t, view in self.views:
            t._view = view


def _failed_check(checks: list, codes) -> Exception | None:
    """The error of the first failed value check of a call (``codes``: the program's
    (failed, value) pairs), or None."""
    values = codes.tolist() if hasattr(codes, "tolist") else list(codes)
    for i, (error, message) in enumerate(checks):
        if values[2 * i]:
            return error(message(values[2 * i + 1]))
    return None


class _Retrace(Exception):
    """The trace wrote storages outside the lifted state: lift them and trace again."""


class _Program:
    """One traced and compiled program, with what its outputs mean."""

    def __init__(self) -> None:
        self.jitted: Callable | None = None
        self.written_kept: list[int] = []
        self.grad_layout: list = []
        self.new_state: list = []
        self.result_tree = None
        self.result_static: list = []
        self.result_is_tensor: list = []
        self.snapshot: _Snapshot | None = None
        self.traced = False
        self.creates_state = False  # the trace made .grad tensors or optimizer state appear
        self.unchanged: list[int] = []  # donated positions the trace did not write
        self.unchanged_known = False
        self.grad_dtypes: list = []
        self.unused: set = set()  # donated positions the first trace never read
        self.ro: list[int] = []  # read-only positions still passed (read by the program)

    def split(self, traced: Callable, avals: list) -> None:
        """Replace the program by its final signature: the storages it writes (live) are
        donated, small ones packed into one flat buffer per dtype; the storages it only reads
        are plain inputs; those it never reads (such as last step's ``.grad`` when the step
        starts with ``zero_grad()``) are not inputs at all."""
        n = len(avals)
        unchanged = set(self.unchanged)
        dead = unchanged & self.unused
        self.ro = [i for i in self.unchanged if i not in dead]
        live = [i for i in range(n) if i not in unchanged]
        self.big = [i for i in live if math.prod(avals[i][0]) > _PACK_LIMIT]
        groups: dict = {}
        for i in live:
            shape, dtype = avals[i]
            if math.prod(shape) <= _PACK_LIMIT:
                group = groups.setdefault(jnp.dtype(dtype), [])
                offset = group[-1][1] + math.prod(group[-1][2]) if group else 0
                group.append((i, offset, shape))
        self.groups = list(groups.values())
        self.max_packed = max((i for group in self.groups for i, _, _ in group), default=-1)
        ro, big, packed = self.ro, self.big, self.groups
        dead_avals = [(i, avals[i]) for i in sorted(dead)]

        n_big = len(big)

        def body(live_arrays, ro_arrays, kept, hypers, key, views):
            # One donated list (the big arrays, then the flat buffers): a donated argument
            # with no arrays at all trips jax.jit's cached call.
            big_arrays, flats = live_arrays[:n_big], live_arrays[n_big:]
            full = [None] * n
            for i, a in zip(ro, ro_arrays, strict=True):
                full[i] = a
            for i, a in zip(big, big_arrays, strict=True):
                full[i] = a
            for flat, group in zip(flats, packed, strict=True):
                for i, offset, shape in group:
                    size = math.prod(shape)
                    full[i] = jax.lax.slice(flat, (offset,), (offset + size,)).reshape(shape)
            for i, (shape, dtype) in dead_avals:
                full[i] = jnp.zeros(shape, dtype)  # never read: XLA drops it
            out_donated, *rest = traced(full, kept, hypers, key, views)
            out_big = [out_donated[i] for i in big]
            out_flats = [
                jnp.concatenate([out_donated[i].reshape(-1) for i, _, _ in group])
                for group in packed
            ]
            codes = rest[-1]
            if codes is not None:  # a failed check: the donated buffers come back unchanged
                ok = ~jnp.any(codes[0::2] != 0)
                out_big = [jnp.where(ok, a, b) for a, b in zip(out_big, big_arrays, strict=True)]
                out_flats = [jnp.where(ok, a, b) for a, b in zip(out_flats, flats, strict=True)]
            return ((out_big, out_flats), *rest)

        self.jitted = jax.jit(body, donate_argnums=(0,))
        self.boxes: list[_Box] = []  # the parameters' flat buffers, one per dtype
        self.grad_boxes: list[_Box] = []
        self.last_grads: list | None = None  # the .grad objects the last write-back left
        self.flat_epoch = -1
        self.flat_stable = None
        self.same = False
        self.versions: list = []  # the version counters of the tensors the program writes
        self.stepped: list[int] = []  # the optimizers whose step() the function calls
        self.checks: list = []  # (error, message) of the value checks the program returns
        self.draws = True  # whether the program advances the random key

    def inputs(self, state: _State, owned: dict) -> tuple:
        """The call's inputs straight from the storages: the flat buffers the last call
        returned when they still back the packed storages, otherwise new ones (marked owned:
        made here, they may be donated)."""
        storages = state.donated
        boxes = self.boxes
        # Nothing packed was read or written since our write-back (the epoch), and the packed
        # positions are the same storages (the same fast-path layout): no need to look.
        self.same = same = (
            self.flat_epoch == _PACK_EPOCH[0]
            and state.stable is not None
            and state.stable is self.flat_stable
            and self.max_packed < len(state.stable)
        )
        if same or (boxes and self.flat_epoch == _PACK_EPOCH[0] and self._still_packed(storages)):
            flats = [box.flat for box in boxes]
        else:
            flats = []
            for group in self.groups:
                flat = _concat_flat(*[storages[i].array for i, _, _ in group])
                owned[id(flat)] = flat
                flats.append(flat)
        big = [storages[i].array for i in self.big]
        return big, flats, [storages[i].array for i in self.ro]

    def _still_packed(self, storages: list) -> bool:
        for box, group in zip(self.boxes, self.groups, strict=True):
            for i, offset, _ in group:
                st = storages[i]
                if type(st) is not _PackedParam:
                    return False
                marker = _ARRAY_SLOT.__get__(st)
                if marker[0] is not box or marker[1] != offset:
                    return False
        return True


@bounded_jit
def _concat_flat(*arrays):
    return jnp.concatenate([a.reshape(-1) for a in arrays])


# ----- compiled functions ----------------------------------------------------------------------
class CompiledFunction:
    """A function compiled by ``tapegrad.compile``; call it like the function."""

    def __init__(self, fn: Callable, fullgraph: bool = True) -> None:
        self.fn = fn
        self.fullgraph = fullgraph
        self.trace_count = 0  # traces, retraces included; tests and users read it
        self.calls = 0
        self._programs: dict = {}
        self._reach: _Reach | None = None
        self._reach_version = -1  # the structure version _reach was walked at
        self._extra_storages: list[Storage] = []
        self._eager = False
        self._warned_limit = False
        self._pending = None
        self._fast: _FastPath | None = None
        self._owned: dict = {}  # id -> array of the buffers the last call returned
        self._hyper_values: list | None = None  # the last call's hyperparameters ...
        self._hyper_arrays: list = []  # ... as the arrays passed to the program
        self.__name__ = getattr(fn, "__name__", "compiled")
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<tapegrad.compile of {self.fn!r}>"

    def __get__(self, obj, objtype=None):
        return self if obj is None else types.MethodType(self, obj)

    def __call__(self, *args, **kwargs):
        if self._eager or _tracing.capture.depth:
            return self.fn(*args, **kwargs)  # nested in another compile: traced inline
        # Deferred eager results must exist before the program reads (and donates) buffers.
        _segment.flush_all()
        self.calls += 1
        fast = self._fast
        state = None if fast is None else fast.refresh(args, kwargs)
        if state is not None and fast.program is not None:  # the steady state
            return self._run(fast.program, state, args, kwargs)
        if self._reach_version != _tracing.structure_version[0]:
            # First call, or modules changed (a submodule replaced): walk what fn reaches.
            self._reach_version = _tracing.structure_version[0]
            self._reach = _Reach()
            fn = self.fn
            if isinstance(fn, (types.FunctionType, types.MethodType)):
                self._reach.walk(fn)
            else:  # a callable object: what it holds, and its __call__
                self._reach.walk(vars(fn) if hasattr(fn, "__dict__") else ())
                self._reach.walk(type(fn).__dict__.get("__call__"))
        if state is None:
            state = _State(self, args, kwargs)
            self._fast = _FastPath(state, args) if not kwargs else None
        for _ in range(4):
            program = self._programs.get(state.key)
            if program is None:
                if len(self._programs) >= CACHE_SIZE_LIMIT:
                    return self._over_limit(args, kwargs)
                program = self._programs[state.key] = _Program()
                # A closure per program: jax.jit caches traces per function object, and each
                # program is a different trace of the same Python function.
                program.jitted = jax.jit(lambda *a, _t=self._traced: _t(*a), donate_argnums=(0,))
            try:
                result = self._run(program, state, args, kwargs)
            except _Retrace:
                del self._programs[state.key]
                state = _State(self, args, kwargs)
                self._fast = None
            except UntraceableError as e:
                del self._programs[state.key]
                self._fast = None
                if self.fullgraph:
                    raise
                warnings.warn(
                    f"tapegrad.compile: {self.__name__} cannot be compiled and runs eagerly "
                    f"from now on: {e}",
                    UserWarning,
                    stacklevel=2,
                )
                self._eager = True
                self._fast = None
                return self.fn(*args, **kwargs)
            fast = self._fast
            if fast is not None and program.traced and self._programs.get(state.key) is program:
                fast.program = program  # its layout's program, for the calls that follow
            return result
        raise RuntimeError("tapegrad.compile: the state the function writes keeps changing")

    def _over_limit(self, args: tuple, kwargs: dict):
        if not self._warned_limit:
            self._warned_limit = True
            warnings.warn(
                f"tapegrad.compile: {self.__name__} hit CACHE_SIZE_LIMIT "
                f"({CACHE_SIZE_LIMIT}) programs; new guards run eagerly. Recompiles are caused "
                "by new shapes, dtypes, requires_grad, Python scalar arguments, grad mode or "
                "train()/eval().",
                UserWarning,
                stacklevel=3,
            )
        return self.fn(*args, **kwargs)

    def _run(self, program: _Program, state: _State, args: tuple, kwargs: dict):
        kept = [st.array for st in state.kept]
        values, key, views = state.hypers(), _random.default_generator.key, state.view_values()
        if values == self._hyper_values:  # plain floats: compared by value, cheaply
            hypers = self._hyper_arrays
        else:
            hypers = _hyper_arrays(values, self._hyper_values, self._hyper_arrays)
            self._hyper_values, self._hyper_arrays = values, hypers
        if not program.traced:
            donated = [st.array for st in state.donated]
            inputs = (donated, kept, hypers, key, views)
            snapshot = self._trace(program, state, args, kwargs, inputs)
            if program.creates_state and self.calls == 1:
                # PyTorch creates .grad tensors and optimizer state lazily, on the first step:
                # this call runs eagerly instead, so the program compiled on the next call
                # sees the structure every later step keeps, and compiles once.
                snapshot.restore()
                del self._programs[state.key]
                self.trace_count -= 1
                return self.fn(*args, **kwargs)
            # The final signature (packed, read-only and unread storages): the Python
            # function runs once more, on it, in the call below.
            snapshot.restore()
            self.trace_count -= 1
            program.split(self._traced, [(a.shape, a.dtype) for a in donated])
            first_split_call = True
        else:
            first_split_call = False
        owned = self._owned
        big, flats, ro = program.inputs(state, owned)
        inputs = (_owned([*big, *flats], owned), ro, kept, hypers, key, views)
        if first_split_call:  # this call traces the final program (not jit(...).trace())
            try:
                with self._tracing(program, state, args, kwargs):
                    outs = program.jitted(*inputs)
            except BaseException:
                if self._programs.get(state.key) is program:  # never half made
                    del self._programs[state.key]
                raise
            finally:
                program.snapshot = None
        else:
            outs = program.jitted(*inputs)
        # The buffers this call returns are the only ones it may donate next time.
        out_big, out_flats = outs[0]
        self._owned = {id(a): a for a in (*out_big, *out_flats)}
        if program.checks:
            error = _failed_check(program.checks, outs[-1])
            if error is not None:  # as eager: raised before any state changed
                self._write_donated(program, state, outs[0])
                raise error
        self._write_back(program, state, outs)
        return self._results(program, outs[-2])

    @contextlib.contextmanager
    def _tracing(self, program: _Program, state: _State, args: tuple, kwargs: dict):
        """While JAX runs ``_traced``: what it traces (``_pending``), and on failure the
        state put back as it was before the trace."""
        self._pending = (program, state, args, kwargs)
        try:
            yield
        except BaseException:
            if program.snapshot is not None:
                program.snapshot.restore()
            raise
        finally:
            self._pending = None

    def _trace(self, program: _Program, state: _State, args: tuple, kwargs: dict, inputs):
        """Run the function on tracers (``jax.jit(...).trace``, which also fills jax.jit's
        cache, so the call that follows does not run Python again); return the snapshot of
        the state before it."""
        with self._tracing(program, state, args, kwargs):
            traced = program.jitted.trace(*inputs)
        program.traced = True
        if len(inputs) == 5:  # the first trace: which donated inputs it never reads
            n = len(inputs[0])
            unused = _unused_inputs(traced.jaxpr.jaxpr, passthrough=n)
            program.unused = {i for i in range(n) if i in unused}
        snapshot, program.snapshot = program.snapshot, None
        return snapshot

    # The traced body: runs once per program, inside jax.jit.
    def _traced(self, donated: list, kept: list, hypers: list, key, views: list):
        if self._pending is None:  # jax.jit retraced outside _tracing: a guard missed a change
            raise RuntimeError(
                f"tapegrad.compile: internal error: {self.__name__}'s program was retraced by "
                "jax.jit without a new guard (please report it)"
            )
        program, state, args, kwargs = self._pending
        self.trace_count += 1
        snapshot = program.snapshot = _Snapshot(state)
        storages = (*state.donated, *state.kept)
        for st, a in zip(storages, (*donated, *kept), strict=True):
            st.array = a
            st.generation += 1
        values = jax.tree_util.tree_unflatten(state.view_tree, views)
        for t, vals in zip(state.views, values, strict=True):
            struct = t._view.split()[0]
            chain = tuple((*step, v) for step, v in zip(struct, vals, strict=True))
            t._view = ViewInfo(chain, None, -1)  # never the storage's generation: not cached
        kernel_opts = [o for o in state.optimizers if isinstance(o, KernelOptimizer)]
        lifted = iter(hypers)
        traced_hypers = {}
        for opt in kernel_opts:
            for g in opt.param_groups:
                traced_hypers[id(g)] = tuple(_wrap(h) for h in next(lifted))
        lifted_ids = {id(st) for st in storages}
        written = snapshot.written

        def on_write(st: Storage) -> None:
            # A storage outside the lifted state still holds a concrete array (one made during
            # the trace holds a tracer): writing it must make it state.
            if id(st) not in lifted_ids and not isinstance(st.array, jax.core.Tracer):
                written.setdefault(id(st), (st, st.array))

        rng, stepped, checks = [key], [], []
        with _tracing.capturing(
            trace=key._trace,  # the program's trace: its inputs'
            checks=checks,
            on_write=on_write,
            hypers=traced_hypers,
            stepped=stepped,
            rng=rng,
        ):
            result = self.fn(*args, **kwargs)
        positions = {id(opt): i for i, opt in enumerate(state.optimizers)}
        program.stepped = sorted({positions[id(o)] for o in stepped if id(o) in positions})
        new_key = rng[0]
        program.draws = new_key is not key  # else the key is not written back
        # Value checks on traced values (index bounds): one int64 vector out, (failed, value)
        # per check, raised after the call in program order.
        program.checks = [(error, message) for _, _, error, message in checks]
        codes = None
        if checks:
            codes = jnp.stack(
                [jnp.asarray(x).astype(jnp.int64) for f, v, _, _ in checks for x in (f, v)]
            )
        if snapshot.written:
            snapshot.restore()
            self._extra_storages.extend(st for st, _ in snapshot.written.values())
            raise _Retrace
        self._check_python_state(snapshot, state)
        # Outputs: every donated storage (donated buffers must be replaced), the arguments'
        # storages the trace wrote, new .grad tensors, new optimizer state, the key, results.
        out_donated = [st.array for st in state.donated]
        if not program.unchanged_known:
            program.unchanged = [
                i
                for i, (st, a) in enumerate(zip(state.donated, donated, strict=True))
                if st.array is a
            ]
            program.unchanged_known = True
        program.written_kept = [i for i, st in enumerate(state.kept) if st.array is not kept[i]]
        out_kept = [state.kept[i].array for i in program.written_kept]
        # New gradients: small ones packed into one flat output per dtype (an output array
        # costs ~1-2 us to hand back, more than copying a small gradient), large ones as is.
        layout, by_dtype, own = [], {}, []
        for t, before in zip(state.owners, state.grads, strict=True):
            g = t._grad
            if g is None:
                layout.append(None)
            elif g is before:
                layout.append("same")
            elif g._data.size > _PACK_LIMIT:
                layout.append(len(own))
                own.append(g._data)
            else:
                a = g._data
                group = by_dtype.setdefault(a.dtype, [])
                offset = sum(x.size for x in group)
                layout.append((a.dtype, offset, a.shape))
                group.append(a)
        program.grad_layout = layout
        program.grad_dtypes = list(by_dtype)
        packed = [jnp.concatenate([a.reshape(-1) for a in group]) for group in by_dtype.values()]
        out_grads = (packed, own)
        program.creates_state = any(
            kind is not None and kind != "same" and before is None
            for kind, before in zip(layout, state.grads, strict=True)
        )
        new_state, out_state = [], []
        for opt, saved in snapshot.opt_state:
            for p, s in opt.state.items():
                old = saved[p][1] if p in saved else {}
                for k, v in s.items():
                    if k not in old and isinstance(v, Tensor):
                        new_state.append((state.optimizers.index(opt), p, k))
                        out_state.append(v._data)
        program.new_state = [(i, self._param_position(state, p), k) for i, p, k in new_state]
        program.creates_state = program.creates_state or bool(new_state)
        leaves, program.result_tree = jax.tree_util.tree_flatten(
            result, is_leaf=lambda x: isinstance(x, Tensor)
        )
        program.result_is_tensor = [isinstance(v, Tensor) for v in leaves]
        program.result_static = [None if isinstance(v, Tensor) else v for v in leaves]
        out_results = [v._data for v in leaves if isinstance(v, Tensor)]
        # Leave no tracer behind: the state goes back to what it was; the call writes the
        # program's outputs into it.
        snapshot.restore()
        return (out_donated, out_kept, out_grads, out_state, new_key, out_results, codes)

    @staticmethod
    def _param_position(state: _State, p: Tensor) -> tuple:
        for oi, opt in enumerate(state.optimizers):
            for gi, group in enumerate(opt.param_groups):
                for pi, q in enumerate(group["params"]):
                    if q is p:
                        return (oi, gi, pi)
        raise RuntimeError("tapegrad.compile: optimizer state for a parameter it does not hold")

    @staticmethod
    def _check_python_state(snapshot: _Snapshot, state: _State) -> None:
        for sched, epoch in snapshot.epochs:
            if sched.last_epoch != epoch:
                snapshot.restore()
                raise UntraceableError(
                    "tapegrad.compile: a learning-rate scheduler stepped inside the compiled "
                    "function; its Python state would not advance on later calls. Call "
                    "scheduler.step() outside the compiled function (the learning rate is an "
                    "input of the program, so changing it does not recompile)."
                )
        for opt, lrs in snapshot.lrs:
            if [g.get("lr") for g in opt.param_groups] != lrs:
                snapshot.restore()
                raise UntraceableError(
                    "tapegrad.compile: the compiled function changed an optimizer's learning "
                    "rate; set it outside the compiled function (it is an input of the program)."
                )

    def _write_back(self, program: _Program, state: _State, outs: tuple) -> None:
        fresh = program.flat_epoch == _PACK_EPOCH[0]  # nothing packed was touched since
        unpacked = self._write_donated(program, state, outs[0])
        _, out_kept, out_grads, out_state, key, _, _ = outs
        for vc in program.versions:  # as eager in-place writes do: saved tensors notice
            vc.value += 1
        for i in program.stepped:  # what a scheduler checks (its step() wrapper never ran)
            state.optimizers[i]._opt_called = True
        for i, a in zip(program.written_kept, out_kept, strict=True):
            st = state.kept[i]
            st.array = a
            st.generation += 1
        self._write_grads(program, state, out_grads, fresh)
        # A storage that keeps its own array is not refilled with the boxes: the next call
        # must look at every storage again.
        program.flat_epoch = -1 if unpacked else _PACK_EPOCH[0]
        for (_, (oi, gi, pi), k), a in zip(program.new_state, out_state, strict=True):
            opt = state.optimizers[oi]
            p = opt.param_groups[gi]["params"][pi]
            opt.state[p][k] = _wrap(a)
        if program.draws:  # a program that draws no random numbers leaves the key to others
            _random.default_generator.key = key

    @staticmethod
    def _write_donated(program: _Program, state: _State, out_donated: tuple) -> bool:
        """The donated storages' new arrays (their old values when a check failed: the
        program selects them, since donation freed the inputs); whether a storage of another
        kind than ``Storage`` got a plain array instead of a slice of a box."""
        unpacked = False
        out_big, out_flats = out_donated
        donated = state.donated
        for i, a in zip(program.big, out_big, strict=True):
            st = donated[i]
            st.array = a
            st.generation += 1
        _bump_epoch()
        if program.same:  # the same storages as last call, still packed in the same boxes
            _refill(program.boxes, out_flats)
        else:
            program.boxes = boxes = [_Box(flat) for flat in out_flats]
            for box, group in zip(boxes, program.groups, strict=True):
                for i, offset, shape in group:
                    st = donated[i]
                    kind = type(st)
                    if kind is _PackedParam or kind is Storage:
                        _pack(st, box, offset, shape)
                    else:  # a storage of another kind keeps a plain array
                        st.array = _unpack(box.flat, offset, shape)
                        st.generation += 1
                        unpacked = True
            program.versions = _written_versions(program, state)
        program.flat_stable = state.stable
        return unpacked

    @staticmethod
    def _write_grads(program: _Program, state: _State, out_grads: tuple, fresh: bool) -> None:
        packed, own = out_grads
        last = program.last_grads
        grads = state.grads
        if (
            fresh
            and last is not None
            and len(last) == len(grads)
            and all(map(operator.is_, grads, last))
        ):
            # The gradient tensors the last call made, unread since (a read through
            # ``Tensor.grad`` pins one, which moves the epoch): new values, same objects.
            _refill(program.grad_boxes, packed)
            for t, kind in zip(state.owners, program.grad_layout, strict=True):
                if type(kind) is int:
                    t._grad = _wrap(own[kind])
                elif kind is None:
                    t._grad = None
            program.last_grads = [t._grad for t in state.owners]
            return
        program.grad_boxes = boxes = [_Box(flat) for flat in packed]
        by_dtype = dict(zip(program.grad_dtypes, boxes, strict=True))
        inference = _mode.inference
        for t, kind in zip(state.owners, program.grad_layout, strict=True):
            if kind is None:
                t._grad = None
            elif type(kind) is int:
                t._grad = _wrap(own[kind])
            elif kind != "same":
                dtype, offset, shape = kind
                st = _new_storage(_PackedGrad)  # no __init__: 40 gradients a step
                _set_array(st, (by_dtype[dtype], offset, shape))
                _set_gen(st, 0)  # the box is new: its gen is 0
                g = _new_tensor(Tensor)
                g._storage = st
                if inference:
                    g._is_inference = True
                t._grad = g
        program.last_grads = [t._grad for t in state.owners]

    @staticmethod
    def _results(program: _Program, arrays: list):
        if program.result_is_tensor == [True] and jax.tree_util.treedef_is_leaf(
            program.result_tree
        ):
            return _wrap(arrays[0])  # a lone tensor, as a training step returns its loss
        values = iter(arrays)
        leaves = [
            _wrap(next(values)) if is_tensor else static
            for is_tensor, static in zip(
                program.result_is_tensor, program.result_static, strict=True
            )
        ]
        return jax.tree_util.tree_unflatten(program.result_tree, leaves)


# ----- compiled modules ------------------------------------------------------------------------
class _ModuleProgram(NamedTuple):
    """A compiled module's forward for one guard: its op, the results' tree, its checks."""

    op: Any
    tree: Any
    checks: list


class CompiledModule(Module):
    """``tapegrad.compile(module)``: the module whose forward runs as one XLA program and is
    one node (``CompiledFunctionBackward``) on the eager tape, so it also trains eagerly.

    Its ops are its own (``_programs``), not in the op table, and hold it weakly; when it is
    collected, their kernels leave the kernel cache and the ops go too."""

    def __init__(self, mod: Module) -> None:
        super().__init__()
        self._orig_mod = mod
        self._programs: dict = {}  # guard -> _ModuleProgram
        self.trace_count = 0
        ops: list = []  # this module's ops; once it is collected, their kernels are dropped
        self._made_ops = ops
        weakref.finalize(self, _forget_kernels, ops)

    def forward(self, *args):
        if _tracing.capture.depth:
            return self._orig_mod(*args)  # inside a compiled function: traced inline
        for a in args:
            if not isinstance(a, Tensor):
                raise TypeError(
                    "tapegrad.compile(module): the forward's arguments must be tensors, got "
                    f"{type(a).__name__}"
                )
        params = [p for _, p in self._orig_mod.named_parameters()]
        buffers = [b for _, b in self._orig_mod.named_buffers()]
        key = (
            tuple(m.training for m in self._orig_mod.modules()),
            tuple(p._requires_grad for p in params),
            len(buffers),
            tuple((tuple(a.shape), a.dtype) for a in args),
        )
        program = self._programs.get(key)
        if program is None:
            program = self._programs[key] = self._make_program(params, buffers, args)
        op = program.op
        rng = _wrap(_random.default_generator.key.astype(jnp.int64))
        outs = _dispatch(op, (*params, *buffers, *args, rng))
        n_res = op.n_out - len(buffers) - 2
        if program.checks:
            error = _failed_check(program.checks, outs[-1]._data)
            if error is not None:  # as eager: raised before the buffers and the key change
                raise error
        with no_grad():
            for b, new in zip(buffers, outs[n_res:-2], strict=True):
                if new._data is not b._storage.array:
                    _write(b, new._data, bump=False)
        _random.default_generator.key = outs[-2]._data.astype(jnp.uint32)
        results = outs[:n_res]
        return jax.tree_util.tree_unflatten(program.tree, list(results))

    def _make_program(self, params: list, buffers: list, args: tuple) -> _ModuleProgram:
        from tapegrad._ops._registry import make_op

        holder: dict = {}
        pure = _module_forward(weakref.ref(self), len(params), len(buffers), holder)
        arrays = [t._data for t in (*params, *buffers, *args)]
        arrays.append(_random.default_generator.key.astype(jnp.int64))
        shapes = jax.eval_shape(pure, *arrays)
        self.trace_count -= 1  # that was a shape probe, not a compile
        n_res = len(shapes) - len(buffers) - 2
        diff = tuple(i for i in range(n_res) if jnp.issubdtype(shapes[i].dtype, jnp.floating))
        op = make_op(
            "compiled_module",
            pure,
            node="CompiledFunctionBackward",
            dtypes="keep",
            n_out=len(shapes),
            diff_out=diff,
            cast=(),
        )
        self._made_ops.append(op)
        return _ModuleProgram(op, holder["tree"], holder["checks"])


def _module_forward(compiled_ref: weakref.ref, n_p: int, n_b: int, holder: dict) -> Callable:
    """The pure function of a compiled module's forward: parameters, buffers, inputs and the
    key in; results, new buffers, the new key and the checks' codes out. It holds the module
    weakly (the kernel cache keeps the op until evicted) and reads its parameters and buffers
    when traced."""

    def pure(*arrays):
        compiled = compiled_ref()
        if compiled is None:
            raise RuntimeError("tapegrad.compile(module): the compiled module was deleted")
        compiled.trace_count += 1
        mod = compiled._orig_mod
        params = [p for _, p in mod.named_parameters()]
        buffers = [b for _, b in mod.named_buffers()]
        tensors = [*params, *buffers]
        saved = [(t._storage, t._storage.array) for t in tensors]
        inputs = [_wrap(a) for a in arrays[n_p + n_b : -1]]
        for t, a in zip(tensors, arrays[: n_p + n_b], strict=True):
            t._storage.array = a
            t._storage.generation += 1
        rng, checks = [arrays[-1].astype(jnp.uint32)], []
        try:
            with (
                _tracing.capturing(
                    trace=getattr(arrays[-1], "_trace", None), checks=checks, rng=rng
                ),
                no_grad(),
            ):
                out = mod(*inputs)
            leaves, holder["tree"] = jax.tree_util.tree_flatten(
                out, is_leaf=lambda x: isinstance(x, Tensor)
            )
            new_buffers = [b._storage.array for b in buffers]
            new_key = rng[0].astype(jnp.int64)
        finally:
            for st, a in saved:
                st.array = a
                st.generation += 1
        holder["checks"] = [(error, message) for _, _, error, message in checks]
        codes = [jnp.asarray(x).astype(jnp.int64) for f, v, _, _ in checks for x in (f, v)]
        codes = jnp.stack(codes) if codes else jnp.zeros(0, jnp.int64)
        return (*[t._data for t in leaves], *new_buffers, new_key, codes)

    return pure


def _forget_kernels(ops: list) -> None:
    """A collected compiled module's kernels out of the kernel cache (their keys hold its ops).
    Runs whenever the module is collected, so it tolerates entries that other code (another
    thread) evicts meanwhile."""
    from tapegrad.autograd import _replay

    made = {id(op) for op in ops}
    KERNELS.forget(made)  # its kernels, and backward replays through it
    _replay.forget(made)
    _segment.forget(made)
    ops.clear()


def _dispatch(op, operands: tuple):
    from tapegrad._ops._registry import dispatch

    out = dispatch(op, operands)
    return out if isinstance(out, tuple) else (out,)


def _write(t: Tensor, array, bump: bool) -> None:
    from tapegrad._ops.inplace import write

    write(t, array, bump=bump)
