"""The op table and the eager dispatcher.

Every differentiable op is declared once with ``defop``: its name, a jax function, the PyTorch
name of its backward node, its dtype rule and whether it is linear (a linear op's VJP needs no
saved values, as PyTorch's ``AddBackward0`` or ``SumBackward0`` save none). ``dispatch`` runs
the op's ``jax.jit`` kernel (one per operand dtypes, shapes and statics, kept in the bounded
``_kernel_cache.KERNELS``) and,
when grad mode is on and an operand requires grad, tapes a node whose backward is the jitted
``jax.vjp`` of the same function.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from tapegrad import _dtype as dt
from tapegrad import _segment, _tracing
from tapegrad._grad_mode import state as _mode
from tapegrad._kernel_cache import KERNELS
from tapegrad._storage import DeferredStorage, PendingStorage, Storage
from tapegrad._tensor import Tensor, _new
from tapegrad._view import ViewInfo

__all__ = ["OPS", "Op", "defer", "defop", "dispatch", "dispatch_fused", "make_op"]

_lookup, _touch = KERNELS.lookup, KERNELS.touch
# The concrete array type (jax.Array is an abstract base that tracers do not subclass, but
# ``type(a) is`` is the cheapest test the hot path can make).
_ArrayImpl = jax._src.array.ArrayImpl
_defer_on = _segment.enabled

OPS: dict[str, Op] = {}
_node_seq = None  # the graph's node counter, bound when the first op is declared
# The output-count marker of single-output nodes (the engine sizes gradient slots with len()).
_SINGLE = (None,)
_FROM_NP = {d.numpy: d for d in dt.ALL_DTYPES}
_NO_EDGE = (None, 0)
_SCALARS = (int, float, bool)

INFERENCE_SAVED = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
    "inference mode in computation tracked by autograd. To work around this, you can make a "
    "clone to get a normal tensor and use it in autograd, or use `torch.no_grad()` instead of "
    "`torch.inference_mode()`."
)


def _rule_promote(keys: tuple) -> dt.dtype:
    return dt.result_type_from_keys(keys)


def _rule_float(keys: tuple) -> dt.dtype:
    d = dt.result_type_from_keys(keys)
    return d if d.is_floating_point else dt.get_default_dtype()


def _rule_sum(keys: tuple) -> dt.dtype:
    d = keys[0][0]
    return d if d.is_floating_point else dt.int64


def _rule_same(keys: tuple) -> dt.dtype:
    return keys[0][0]


DTYPE_RULES: dict[str, Callable | None] = {
    "promote": _rule_promote,  # PyTorch's result_type over all operands
    "float": _rule_float,  # promote, then integers and bools go to the default float dtype
    "sum": _rule_sum,  # integers and bools accumulate in int64
    "same": _rule_same,  # the first operand's dtype
    "keep": None,  # no casting: the jax function decides
}


class Op:
    """One entry of the op table."""

    __slots__ = (
        "__weakref__",  # ops made at run time (make_op) are collected with their owner
        "cast",
        "deferrable",
        "diff_out",
        "differentiable",
        "edges",
        "fn",
        "linear",
        "n_out",
        "name",
        "node_cls",
        "promotions",
        "rule",
        "saves",
        "values",
        "view",
    )

    def __init__(
        self,
        name: str,
        fn: Callable,
        node: str | None,
        dtypes: str,
        linear: bool,
        n_out: int,
        diff_out: tuple[int, ...] | None,
        cast: tuple[int, ...] | None,
        view: bool | str,
        saves: str | Callable = "inputs",
        edges: str | tuple[int, ...] | None = None,
        values: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.fn = fn
        # Imported here: the autograd package imports this module for its engine.
        global _node_seq
        from tapegrad.autograd.graph import _seq as _node_seq
        from tapegrad.autograd.graph import node_class

        self.differentiable = node is not None
        self.node_cls = node_class(node) if node is not None else None
        self.rule = DTYPE_RULES[dtypes]
        self.linear = linear
        self.n_out = n_out
        self.diff_out = diff_out if diff_out is not None else tuple(range(n_out))
        self.cast = cast
        self.view = view
        self.saves = saves
        self.edges = edges
        self.values = values
        # A single plain result can be a step of a deferred segment (``tapegrad._segment``).
        self.deferrable = n_out == 1 and not view
        # (operand keys, statics) -> compute dtype. The kernels themselves live in KERNELS,
        # keyed per argument shapes too, so that they are evicted one executable at a time.
        self.promotions: dict = {}

    def __repr__(self) -> str:
        return f"<op {self.name}>"

    # ----- forward ------------------------------------------------------------------------
    def forward_fn(self, cdt: dt.dtype | None, statics: tuple) -> Callable:
        """The op's jax function with operands cast to ``cdt`` and statics bound. An op with
        runtime ``values`` takes them after its operands, one argument per name, uncast."""
        fn, kw, cast, names = self.fn, dict(statics), self.cast, self.values
        nv = len(names)
        if cdt is None and not nv:
            return lambda *args: fn(*args, **kw)
        jdt = None if cdt is None else cdt.jax

        def f(*args):
            kwargs = kw
            if nv:
                kwargs = {**kw, **dict(zip(names, args[len(args) - nv :], strict=True))}
                args = args[: len(args) - nv]
            if jdt is not None:
                args = [
                    lax.convert_element_type(a, jdt) if cast is None or i in cast else a
                    for i, a in enumerate(args)
                ]
            return fn(*args, **kwargs)

        return f

    # ----- backward -----------------------------------------------------------------------
    def _vjp_fn(self, cdt, statics: tuple, mask: tuple, avals: tuple | None) -> Callable:
        """The VJP kernel's function: ``(*primals, *values, *grads)``, or for a linear op
        (``avals`` given) ``(*values, *grads)``, to one gradient per operand in ``mask``."""
        f = self.forward_fn(cdt, statics)
        idx = [i for i, m in enumerate(mask) if m]
        n_out, dout = self.n_out, self.diff_out
        single = n_out == 1
        nv = len(self.values)

        def select(out):
            return out if single else tuple(out[i] for i in dout)

        def pull(prim, vals, gs):
            def fd(*d):
                full = list(prim)
                for i, v in zip(idx, d, strict=True):
                    full[i] = v
                return select(f(*full, *vals))

            _, vjp = jax.vjp(fd, *[prim[i] for i in idx])
            return vjp(gs[0] if single else tuple(gs))

        if avals is None:
            n_prim = len(mask)

            def bwd(*args):
                return pull(args[:n_prim], args[n_prim : n_prim + nv], args[n_prim + nv :])

        else:
            # Linear: the VJP does not depend on the primal values, only on shapes and dtypes.
            def bwd(*args):
                prim = [jnp.zeros(a[0], a[1]) if type(a) is tuple else a for a in avals]
                return pull(prim, args[:nv], args[nv:])

        return bwd

    def vjp_kernel(
        self, cdt, statics: tuple, mask: tuple, avals: tuple | None, shapes: tuple = ()
    ) -> Callable:
        """The jitted VJP for one signature: ``shapes`` are the primals' (a linear op's are
        in ``avals``)."""
        key = (self, "vjp", cdt, statics, mask, avals, shapes)
        k = KERNELS.get(key)
        if k is None:
            k = KERNELS.put(key, jax.jit(self._vjp_fn(cdt, statics, mask, avals)))
        return k

    def vjp_op(self, cdt, statics: tuple, mask: tuple, avals: tuple | None) -> Op:
        """The backward of this op as an op of its own, so ``create_graph`` can tape it. Its
        operands are the VJP kernel's arguments but the values, which stay values."""
        key = (self, "vjp_op", cdt, statics, mask, avals)
        vop = KERNELS.get(key)
        if vop is None:
            bwd = self._vjp_fn(cdt, statics, mask, avals)
            n = sum(mask)
            n_prim = len(mask) if avals is None else 0

            def fn(*args, vals=()):
                res = bwd(*args[:n_prim], *vals, *args[n_prim:])
                return res[0] if n == 1 else res

            vop = Op(
                f"{self.name}_backward",
                fn,
                self.node_cls.__name__ + "Backward",
                "keep",
                self.linear,
                n,
                None,
                None,
                False,
                values=("vals",) if self.values else (),
            )
            KERNELS.put(key, vop)
        return vop


def defop(
    name: str,
    *,
    node: str | None = None,
    dtypes: str = "promote",
    linear: bool = False,
    n_out: int = 1,
    diff_out: tuple[int, ...] | None = None,
    cast: tuple[int, ...] | None = None,
    view: bool | str = False,
    saves: str | Callable = "inputs",
    edges: str | tuple[int, ...] | None = None,
    values: tuple[str, ...] = (),
) -> Callable[[Callable], Op]:
    """Declare an op: ``@defop("mul", node="MulBackward0") def _mul(x, y): ...``.

    ``node=None`` makes the op non-differentiable (comparisons, argmax). ``cast`` lists the
    operand positions cast to the computed dtype (all by default). ``view`` marks ops whose
    result shares storage with their first operand (``"multi"``: one of several views, as
    unbind and split return, which PyTorch forbids writing into in place). ``saves`` names
    what PyTorch's node saves for backward, which decides what an in-place write invalidates:
    ``"inputs"``, ``"output"``, or a function of the needs-grad mask returning operand
    positions. (tapegrad itself keeps an immutable snapshot of the operands and recomputes;
    ``saves`` only drives the version checks.)
    ``edges`` says which operands get an entry in ``next_functions``: all (None, as PyTorch's
    Tensor overloads, where ``x + 2`` has a ``(None, 0)`` for the 2), ``"tensors"`` (PyTorch's
    Scalar overloads: ``2 - x`` has one entry), or a tuple of positions (``where``'s condition
    and index tensors have none).
    ``values`` names the keyword arguments that reach the kernel as runtime arguments instead
    of compile-time constants: numbers (or tuples of numbers) that can change from call to call
    without changing the output's shape (a slice start, a clamp bound, a slope). One kernel
    serves every value; the callers pass them among the statics, ``dispatch`` splits them off.
    """

    def register(fn: Callable) -> Op:
        if name in OPS:
            raise ValueError(f"op {name!r} is already registered")
        op = Op(name, fn, node, dtypes, linear, n_out, diff_out, cast, view, saves, edges, values)
        OPS[name] = op
        return op

    return register


def make_op(
    name: str,
    fn: Callable,
    *,
    node: str | None = None,
    dtypes: str = "promote",
    linear: bool = False,
    n_out: int = 1,
    diff_out: tuple[int, ...] | None = None,
    cast: tuple[int, ...] | None = None,
    view: bool | str = False,
    saves: str | Callable = "inputs",
    edges: str | tuple[int, ...] | None = None,
    values: tuple[str, ...] = (),
) -> Op:
    """An op outside the table, kept alive only by its owner: the ops made at run time (one
    per compiled module, one per number of pieces of ``split``/``unbind``), which ``OPS``
    would keep forever. The options are ``defop``'s; ``name`` need not be unique."""
    return Op(name, fn, node, dtypes, linear, n_out, diff_out, cast, view, saves, edges, values)


# ----- dispatch ---------------------------------------------------------------------------
_FLOAT_NP = frozenset(d.numpy for d in dt.ALL_DTYPES if d.is_floating_point)


def _explain(op: Op, arrays: list, statics: tuple, exc: Exception) -> Exception:
    from tapegrad._ops._errors import explain

    return explain(op, arrays, statics, exc)


def _promotes_otherwise(key: tuple, entry) -> bool:
    """Whether ``key`` is an op's forward kernel whose compute dtype is no longer the one its
    operands promote to (after the default dtype changed)."""
    op = key[0]
    if type(op) is not Op or type(key[1]) is not tuple or op.rule is None:
        return False
    return op.rule(key[1]) != entry[1]


@dt.on_default_dtype_change
def _forget_promotions() -> None:
    """A compute dtype may follow the default dtype (``int_tensor * 0.5``, ``int.sqrt()``):
    forget the cached promotions and the forward kernels built for another compute dtype."""
    for op in OPS.values():
        op.promotions.clear()
    KERNELS.discard(_promotes_otherwise)


def _promotion(op: Op, keys: tuple, statics: tuple):
    """The compute dtype for operands described by ``keys``, cached on the op."""
    pk = (keys, statics)
    promotions = op.promotions
    if pk in promotions:
        return promotions[pk]
    rule = op.rule
    cdt = None if rule is None else rule(keys)
    if len(promotions) > 4096:  # statics are few values in normal use; this is a backstop
        promotions.clear()
    promotions[pk] = cdt
    return cdt


def _resolve(op: Op, keys: tuple, statics: tuple, key: tuple) -> tuple:
    """The (kernel, compute dtype) for one signature ``key``, stored in KERNELS."""
    cdt = _promotion(op, keys, statics)
    return KERNELS.put(key, (jax.jit(op.forward_fn(cdt, statics)), cdt))


def dispatch(op: Op, operands: tuple, statics: tuple = ()):
    """Run ``op`` eagerly on tensors and Python scalars, taping it when grad mode asks.

    This is the hot path of every eager op: it reads each operand's array (or pending result)
    and a cached promotion key, finds the jit kernel for those keys and statics with one dict
    lookup, defers it into the thread's segment (``tapegrad._segment``) or runs it, and hands
    off to ``_record`` only when a node must be taped.
    """
    arrays = []
    keys = []
    shapes = []
    needs_grad = False
    # None: every operand is a concrete array or a number (the op may be deferred); True: a
    # pending result is among them too; False: a tracer or a value from elsewhere is.
    deferrable = op.deferrable
    pending = None
    for o in operands:
        if isinstance(o, Tensor):
            v = o._view
            if v is None:
                a = o._storage
                if type(a) is PendingStorage and a.segment is not None:
                    if pending is None:
                        pending = True
                else:
                    a = a.array
            else:
                a = v.read(o._storage)
            if type(a) is not _ArrayImpl and type(a) is not PendingStorage:
                pending = False
            arrays.append(a)
            shapes.append(a.shape)
            k = o._meta
            if k is None:
                k = o._meta = (_FROM_NP[a.dtype], a.ndim == 0)
            keys.append(k)
            if o._requires_grad:
                needs_grad = True
        elif type(o) in _SCALARS:
            arrays.append(_scalar_array(o))
            keys.append(type(o))
        else:
            a = _coerce(op, o)
            arrays.append(a)
            shapes.append(a.shape)
            keys.append(type(a))
    keys = tuple(keys)
    given = statics
    vals = ()
    if op.values:
        statics, vals = _split_values(op, statics)
    key = (op, keys, statics, tuple(shapes))
    entry = _lookup(key)
    if entry is not None:
        try:  # noqa: SIM105 - contextlib.suppress costs a context manager per op
            _touch(key)
        except KeyError:  # another thread evicted it in between: it still runs
            pass
    out = None
    if deferrable and pending is not False and _defer_on[0] and not _tracing.capture.depth:
        out = _deferred(op, key, keys, statics, entry, operands, arrays, vals)
    if out is not None:
        out, cdt = out
    else:
        if pending:
            arrays = [a.array if type(a) is PendingStorage else a for a in arrays]
        try:
            if entry is None:
                entry = _resolve(op, keys, statics, key)
            out = entry[0](*arrays, *_value_arg(vals)) if vals else entry[0](*arrays)
        except Exception as exc:  # re-raised with PyTorch's type and text
            if getattr(exc, "tapegrad_torch_error", False):
                raise  # already PyTorch's own error (e.g. a backward that PyTorch refuses)
            raise _explain(op, arrays, given, exc) from None
        cdt = entry[1]
    if needs_grad and op.node_cls is not None and _mode.grad_enabled:
        return _record(op, (cdt, statics), operands, arrays, out, vals)
    if op.n_out != 1 or op.view:
        return _plain_outputs(op, operands, out, statics, vals)
    t = _new(Tensor)  # the common case, inlined: a single plain output
    t._storage = out if type(out) is PendingStorage else Storage(out)
    if _mode.inference:
        t._is_inference = True
    return t


def _deferred(op: Op, key: tuple, keys: tuple, statics: tuple, entry, operands, arrays, vals):
    """``(PendingStorage, compute dtype)`` of ``op`` appended to this thread's segment, or None
    when it must run now (its abstract evaluation failed: running it raises the error)."""
    if entry is None or len(entry) < 4:
        try:
            if entry is None:
                entry = _resolve(op, keys, statics, key)
            args = [
                jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.aval.weak_type)
                if type(a) is PendingStorage
                else a
                for a in arrays
            ]
            aval = entry[0].eval_shape(*args, *_value_arg(vals))
        except Exception:
            return None
        if type(aval) is not jax.ShapeDtypeStruct:
            return None  # not a single array (never for a deferrable op)
        # The operands' part of a segment's key: (shape, promotion key) for an array, the
        # type for a number; fixed for a kernel entry, so computed once.
        shapes = iter(key[3])
        sigs = tuple((next(shapes), k) if type(k) is tuple else k for k in keys)
        entry = KERNELS.put(key, (entry[0], entry[1], aval, sigs))
    sigs = entry[3]
    seg = _segment.current()
    if not seg.wants():
        return None
    if vals:
        arrays = [*arrays, *_value_arg(vals)]
        sigs = (*sigs, *(_value_sig(v) for v in vals))
    cdt = entry[1]
    return seg.append(op, cdt, statics, entry[0], arrays, sigs, entry[2]), cdt


def _value_sig(value):
    """A runtime value's part of a segment's key: its type (tuples item by item, marked so
    they are never taken for an array's ``(shape, dtype)``)."""
    if type(value) is tuple:
        return ("values", *(_value_sig(v) for v in value))
    return type(value)


def _split_values(op: Op, statics: tuple) -> tuple[tuple, tuple]:
    """The statics without the op's runtime values, and the values in ``op.values`` order."""
    kw = dict(statics)
    vals = tuple(kw.pop(name) for name in op.values)
    return tuple(kw.items()), vals


def _value_arg(value):
    """A runtime value as a kernel argument: numbers as ``_scalar_array`` gives them, tuples
    (a basic index's starts) item by item."""
    if type(value) in _SCALARS:
        return _scalar_array(value)
    if type(value) is tuple:
        return tuple(_value_arg(v) for v in value)
    return value


# ----- deferred results and fused consumers --------------------------------------------------
_Tracer = jax.core.Tracer


def defer(op: Op, operands: tuple, statics: tuple = ()):
    """``dispatch`` for an elementwise op whose untaped float result is often consumed by one
    more elementwise op (``lr * p.grad`` in ``p -= lr * p.grad``): its kernel is resolved now
    (so errors come now) but runs only when the result's array is first read, unless a consumer
    fused it first (``dispatch_fused``). The op's result must have the compute dtype and the
    broadcast rank of its operands. Taped calls, tracers and non-float results dispatch as usual.
    """
    if op.values:
        return dispatch(op, operands, statics)
    arrays = []
    keys = []
    shapes = []
    ndim = 0
    for o in operands:
        if isinstance(o, Tensor):
            if o._requires_grad and _mode.grad_enabled:
                return dispatch(op, operands, statics)
            v = o._view
            a = o._storage.array if v is None else v.read(o._storage)
            if isinstance(a, _Tracer):
                return dispatch(op, operands, statics)
            k = o._meta
            if k is None:
                k = o._meta = (_FROM_NP[a.dtype], a.ndim == 0)
            if a.ndim > ndim:
                ndim = a.ndim
            shapes.append(a.shape)
        elif type(o) in _SCALARS:
            a = _scalar_array(o)
            k = type(o)
        else:
            return dispatch(op, operands, statics)
        arrays.append(a)
        keys.append(k)
    keys = tuple(keys)
    key = (op, keys, statics, tuple(shapes))
    entry = KERNELS.get(key)
    if entry is None:
        entry = _resolve(op, keys, statics, key)
    cdt = entry[1]
    if cdt is None or not cdt.is_floating_point or op.n_out != 1 or op.view:
        return dispatch(op, operands, statics)
    t = _new(Tensor)
    t._storage = DeferredStorage((op, entry[0], cdt, statics, tuple(arrays)))
    t._meta = (cdt, ndim == 0)
    if _mode.inference:
        t._is_inference = True
    return t


_BITS = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}
_zero_bits = None


def _opaque(x, zero):
    """``x`` itself, passed through an integer OR with a runtime zero that the compiler cannot
    see through. A producer fused into its consumer's kernel is then rounded exactly as its own
    kernel rounds it: XLA's CPU code generator would otherwise contract ``p - lr * g`` into a
    fused multiply-add, one rounding fewer than PyTorch's two kernels (or tapegrad's eager)."""
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return x
    bits = _BITS[x.dtype.itemsize]
    return lax.bitcast_convert_type(lax.bitcast_convert_type(x, bits) | zero.astype(bits), x.dtype)


def _fused_kernel(op: Op, cdt, statics: tuple, parts: tuple, shapes: tuple) -> Callable:
    """One jit kernel computing ``op`` with the deferred producers of some operands inlined.
    ``parts`` has one entry per operand: None (passed as is) or the producer's
    ``(op, cdt, statics, number of arrays)``; ``shapes`` are the flat arguments'."""
    key = (op, "fused", cdt, statics, parts, shapes)
    k = KERNELS.get(key)
    if k is None:
        outer = op.forward_fn(cdt, statics)
        inner = [None if p is None else (p[0].forward_fn(p[1], p[2]), p[3]) for p in parts]

        def fused(zero, *flat):
            args = []
            i = 0
            for part in inner:
                if part is None:
                    args.append(flat[i])
                    i += 1
                else:
                    fn, n = part
                    args.append(_opaque(fn(*flat[i : i + n]), zero))
                    i += n
            return outer(*args, *flat[i:])  # what is left: the op's runtime values

        k = KERNELS.put(key, jax.jit(fused))
    return k


def dispatch_fused(op: Op, operands: tuple, statics: tuple = ()):
    """``dispatch``, computing the pending kernels of deferred operands (see ``defer``) inside
    this op's kernel: ``p - lr * g`` in one XLA loop instead of two. Falls back to ``dispatch``
    (which runs the pending kernels first) whenever the op is taped, has several outputs or is a
    view, an operand is a tracer, or the fused kernel fails (so errors are dispatch's own)."""
    if op.n_out != 1 or op.view:
        return dispatch(op, operands, statics)
    grad = _mode.grad_enabled
    flat = []
    keys = []
    parts = []
    fused_any = False
    for o in operands:
        if isinstance(o, Tensor):
            if o._requires_grad and grad:
                return dispatch(op, operands, statics)
            st = o._storage
            pending = st.pending if type(st) is DeferredStorage and o._view is None else None
            if pending is not None:
                parts.append((pending[0], pending[2], pending[3], len(pending[4])))
                flat.extend(pending[4])
                keys.append(o._meta)
                fused_any = True
                continue
            v = o._view
            a = st.array if v is None else v.read(st)
            if isinstance(a, _Tracer):
                return dispatch(op, operands, statics)
            k = o._meta
            if k is None:
                k = o._meta = (_FROM_NP[a.dtype], a.ndim == 0)
        elif type(o) in _SCALARS:
            a = _scalar_array(o)
            k = type(o)
        else:
            return dispatch(op, operands, statics)
        parts.append(None)
        flat.append(a)
        keys.append(k)
    if not fused_any:
        return dispatch(op, operands, statics)
    if op.values:
        statics, vals = _split_values(op, statics)
        flat.extend(_value_arg(vals))
    keys = tuple(keys)
    global _zero_bits
    if _zero_bits is None:
        _zero_bits = jnp.zeros((), jnp.uint64)
    try:
        cdt = _promotion(op, keys, statics)
        shapes = tuple(getattr(a, "shape", ()) for a in flat)
        out = _fused_kernel(op, cdt, statics, tuple(parts), shapes)(_zero_bits, *flat)
    except Exception:
        return dispatch(op, operands, statics)
    t = _new(Tensor)
    t._storage = Storage(out)
    if _mode.inference:
        t._is_inference = True
    return t


_SCALAR_ARRAYS: dict = {}
_SEEN_ONCE: dict = {}


def _scalar_array(value):
    """A Python number as a cached 0-d array: a jit call takes an array ~3 us faster than a
    Python scalar, but making the array costs ~40 us, so a number seen for the first time (a
    fresh slice start, a decaying learning rate) is passed as it is; jax.jit traces both as
    the same weakly typed 0-d value, so they share one kernel. Kernels cast every operand to
    the op's compute dtype, so the array's own dtype (int64, float64, bool) never leaks into
    results."""
    key = (type(value), value)
    if value == 0 and type(value) is float:
        key = (float, value, str(value))  # -0.0 == 0.0, but they multiply differently
    a = _SCALAR_ARRAYS.get(key)
    if a is None:
        if key not in _SEEN_ONCE:
            if len(_SEEN_ONCE) > 4096:
                _SEEN_ONCE.clear()
            _SEEN_ONCE[key] = None
            return value
        if len(_SCALAR_ARRAYS) > 4096:  # e.g. a learning rate that changes every step
            _SCALAR_ARRAYS.clear()
        try:
            # Concrete even while tapegrad.compile traces: the cache outlives the trace.
            with jax.ensure_compile_time_eval():
                a = _SCALAR_ARRAYS[key] = jnp.asarray(value)
        except OverflowError:  # beyond int64: let the kernel raise PyTorch's error
            return value
    return a


def _coerce(op: Op, value):
    import numpy as np

    if isinstance(value, (np.generic,)) and value.ndim == 0:
        return value.item()
    raise TypeError(
        f"{op.name}(): expected Tensor or Python number as an operand, but got "
        f"{type(value).__name__}"
    )


def _output(
    op: Op, operands: tuple, array, statics: tuple, index: int | None = None, vals: tuple = ()
) -> Tensor:
    t = _new(Tensor)
    if op.view:
        _make_view(t, operands[0], op, statics, index, array, vals)
    else:
        t._storage = array if type(array) is PendingStorage else Storage(array)
        if _mode.inference:
            t._is_inference = True
    return t


def _make_view(t: Tensor, base: Tensor, op: Op, statics: tuple, index, array, vals=()) -> None:
    """Make ``t`` a view of ``base``. A view made while not taping keeps its base's
    ``requires_grad`` and inference flag, as PyTorch's views do."""
    st = t._storage = base._storage
    parent = base._view
    step = (op, statics, index, vals)
    t._view = ViewInfo((step,) if parent is None else (*parent.chain, step), array, st.generation)
    vc = t._vc = base._version_counter()
    t._made_by_view_op = True
    if base._is_inference:
        t._is_inference = True
    if base._base is not None:
        t._base = base._base
    elif parent is None:
        t._base = base
    # else: a view of a detach()/.data alias of a view reads through the storage like any
    # view but is not a view for autograd (a known gap: PyTorch makes the alias its base).
    if base._requires_grad:
        t._requires_grad = True
    t._attr_version = vc.value
    # PyTorch's CreationMeta: in-place writes into such a view with grad mode on are refused.
    if _mode.inference and not base._is_inference:
        creation = "inference"
    elif not _mode.grad_enabled:
        creation = "no_grad"
    else:
        creation = "multi" if op.view == "multi" else None
    prev = base._creation
    if prev is not None and (creation is None or prev == "inference"):
        creation = prev
    if creation is not None:
        t._creation = creation


def _edge_positions(edges, operands: tuple) -> tuple:
    if edges == "tensors":
        return tuple(i for i, o in enumerate(operands) if isinstance(o, Tensor))
    return edges


def _node_mask(node) -> tuple:
    """Which operands of the node's op need a gradient."""
    if node._edge_pos is None:
        return tuple(e[0] is not None for e in node.next_functions)
    return node._mask


def _plain_outputs(op: Op, operands: tuple, out, statics: tuple, vals: tuple = ()):
    if op.n_out == 1:
        return _output(op, operands, out, statics, None, vals)
    return tuple(_output(op, operands, o, statics, i, vals) for i, o in enumerate(out))


def _record(op: Op, key: tuple, operands: tuple, arrays: list, out, vals: tuple = ()):
    single = op.n_out == 1
    cdt = key[0]
    if single and (cdt is None or not cdt.is_floating_point) and out.dtype not in _FLOAT_NP:
        # Integer and bool results never require grad (e.g. ``x.long()``).
        return _plain_outputs(op, operands, out, key[1], vals)
    # Edges first: a leaf's AccumulateGrad created here must get an older sequence number than
    # the node that points at it, so that descending sequence numbers order the graph.
    linear = op.linear
    edges = []
    versions = None if linear else []
    for i, o in enumerate(operands):
        if isinstance(o, Tensor):
            if o._requires_grad:
                gf = o._grad_fn if o._base is None else o._history()
                edges.append((gf, o._output_nr) if gf is not None else (o._accumulate_node, 0))
            else:
                edges.append(_NO_EDGE)
            if not linear:
                if o._is_inference:
                    raise RuntimeError(INFERENCE_SAVED)
                vc = o._vc
                versions.append((i, 0 if vc is None else vc.value))
        else:
            edges.append(_NO_EDGE)
    node = _new(op.node_cls)
    node._seq = next(_node_seq)
    if op.edges is None:
        node.next_functions = tuple(edges)
    else:
        node._mask = tuple(e is not _NO_EDGE for e in edges)
        node._edge_pos = pos = _edge_positions(op.edges, operands)
        node.next_functions = tuple(edges[i] for i in pos)
    node._op = op
    node._key = key
    if vals:
        node._vals = vals
    if linear:
        node._avals = tuple(
            (a.shape, a.dtype) if isinstance(o, Tensor) else type(o)(0)
            for o, a in zip(operands, arrays, strict=True)
        )
        node._saved = None
    else:
        node._avals = None
        node._saved = operands
        saves = op.saves
        if saves == "output":
            versions = None  # the output's counter is recorded once the output exists
        elif saves != "inputs":
            keep = saves(tuple(e is not _NO_EDGE for e in edges))
            versions = [v for v in versions if v[0] in keep]
    node._versions = versions
    if single:
        node._out_avals = _SINGLE
        t = _new(Tensor)
        if op.view:
            _make_view(t, operands[0], op, key[1], None, out, vals)
        else:
            t._storage = out if type(out) is PendingStorage else Storage(out)
        t._requires_grad = True
        t._grad_fn = node
        if node._versions is None and not op.linear:
            vc = t._version_counter()
            node._versions = [(-1, vc, vc.value)]
            node._out_avals = ((out.shape, out.dtype),)
        return t
    node._out_avals = tuple((o.shape, o.dtype) for o in out)
    results = []
    for i, o in enumerate(out):
        t = _output(op, operands, o, key[1], i, vals)
        if i in op.diff_out:
            t._requires_grad = True
            t._grad_fn = node
            t._output_nr = i
        results.append(t)
    return tuple(results)


# ----- backward of one node ---------------------------------------------------------------
def _check_versions(node) -> None:
    operands = node._saved
    for entry in node._versions:
        i = entry[0]
        if i < 0:  # the saved output: (-1, its version counter, the version saved)
            if entry[1].value != entry[2]:
                from tapegrad.autograd._errors import modified_output

                raise modified_output(node, entry[1].value, entry[2])
        elif operands[i]._version_value() != entry[1]:
            from tapegrad.autograd._errors import modified_inplace

            raise modified_inplace(node, operands[i], entry[1])


def _zeros_like_aval(aval):
    return jnp.zeros(aval[0], aval[1])


def apply_node(node, grads: list) -> list:
    """Run a taped node's VJP on raw arrays: one gradient per operand (None where not needed)."""
    op = node._op
    if node._released and not op.linear:
        from tapegrad.autograd.graph import SECOND_BACKWARD

        raise RuntimeError(SECOND_BACKWARD)
    cdt, statics = node._key
    mask = _node_mask(node)
    if len(grads) == 1:
        gs = grads
    else:
        gs = [
            g if g is not None else _zeros_like_aval(node._out_avals[i])
            for i, g in ((i, grads[i]) for i in op.diff_out)
        ]
    vals = _value_arg(node._vals)
    if op.linear:
        res = op.vjp_kernel(cdt, statics, mask, node._avals)(*vals, *gs)
    else:
        _check_versions(node)
        # Saved tensors are read now, as PyTorch does: a write through ``.data`` (which moves no
        # version counter) is seen by backward. An in-place target was replaced by a frozen
        # copy of its old value when it was overwritten (see ``inplace.apply_inplace``).
        arrays = [o._data if isinstance(o, Tensor) else o for o in node._saved]
        shapes = tuple(getattr(a, "shape", ()) for a in arrays)
        res = op.vjp_kernel(cdt, statics, mask, None, shapes)(*arrays, *vals, *gs)
    return _spread(node, mask, res)


def apply_node_graph(node, grads: list) -> list:
    """Like ``apply_node`` on Tensors, taping the backward itself (``create_graph=True``)."""
    from tapegrad._tensor import _wrap

    op = node._op
    if node._released and not op.linear:
        from tapegrad.autograd.graph import SECOND_BACKWARD

        raise RuntimeError(SECOND_BACKWARD)
    cdt, statics = node._key
    mask = _node_mask(node)
    if len(grads) == 1:
        gs = grads
    else:
        gs = [
            g if g is not None else _wrap(_zeros_like_aval(node._out_avals[i]))
            for i, g in ((i, grads[i]) for i in op.diff_out)
        ]
    vals = (("vals", node._vals),) if op.values else ()
    if op.linear:
        vop = op.vjp_op(cdt, statics, mask, node._avals)
        res = dispatch(vop, tuple(gs), vals)
    else:
        _check_versions(node)
        vop = op.vjp_op(cdt, statics, mask, None)
        res = dispatch(vop, (*_graph_operands(op, mask, node._saved), *gs), vals)
    return _spread(node, mask, (res,) if vop.n_out == 1 else res)


def _graph_operands(op: Op, mask: tuple, operands: tuple) -> tuple:
    """The saved operands for a taped backward, detached where the VJP does not use them (the
    gradient of ``x * 2`` does not depend on ``x``, so it must not require grad)."""
    saves = op.saves
    if saves in ("inputs", "output"):
        return operands
    used = set(saves(mask))
    return tuple(
        o.detach() if isinstance(o, Tensor) and i not in used else o for i, o in enumerate(operands)
    )


def _spread(node, mask: tuple, res) -> list:
    """One gradient per ``next_functions`` entry, from the VJP's gradients of needed operands."""
    it = iter(res)
    grads = [next(it) if m else None for m in mask]
    pos = node._edge_pos
    return grads if pos is None else [grads[i] for i in pos]


def release(node) -> None:
    node._saved = None
    node._released = True
