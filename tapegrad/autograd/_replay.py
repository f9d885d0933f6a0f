"""Replaying a backward graph whose structure repeats as ONE jitted XLA computation.

A training loop builds the same graph every step. The engine runs it node by node: one jit
call, a heap push and pop, and Python bookkeeping per node. When ``backward()`` sees a graph
whose structure (ops, dtypes, static arguments, needs-grad masks, edges, which leaves already
hold a gradient) it has seen before, it runs all the nodes' VJPs, the gradient sums and the
``.grad`` accumulation inside one jitted function instead, cached per structure.

Only the plain case is replayed: at most ``_MAX_NODES`` op nodes, one root, no
``create_graph``, no ``inputs``, no hooks or ``retain_grad`` anywhere, only op nodes and
AccumulateGrad nodes, no released node, no saved tensor modified in place. Anything else, and
any failure, goes to the engine, which then runs (and raises) exactly as it always does.

Results are meant to be the engine's bit for bit (tested on MLPs, chains and multi-output
nodes): the engine runs op nodes in decreasing creation order (a node's consumers are all newer
than it), and so does the replay, summing each node's incoming gradients in the same order;
every VJP output passes through ``_opaque`` so XLA cannot contract a product in one node with a
sum in the next (one rounding fewer than the engine's separate kernels).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tapegrad import _segment, _tracing
from tapegrad._kernel_cache import KERNELS, mentions
from tapegrad._ops._registry import _check_versions, _node_mask, _opaque, _value_arg, release
from tapegrad._storage import PendingStorage
from tapegrad._tensor import Tensor, _wrap
from tapegrad.autograd.graph import AccumulateGrad

__all__ = ["forget", "try_replay"]

_SEEN: dict = {}  # structure -> how many times backward met it (before it is compiled)
_COMPILE_AFTER = 2  # one-off graphs (most tests, notebooks) keep using per-op kernels
# Structures with shapes left out, of the replays compiled so far: a graph that differs from
# one of them only in its shapes (a training loop at a new batch size) is compiled at once, so
# a new shape costs one backward program instead of a VJP kernel per node and then the replay.
_REPLAYED: dict = {}
_MAX_SEEN = 4096
# Compiling one XLA program grows faster than linearly with its size: a 5,000-node chain would
# take minutes. Larger graphs stay with the engine.
_MAX_NODES = 500
_zero_bits = None


def forget(ids: set) -> None:
    """Drop the structures that hold an op whose ``id`` is in ``ids`` (a collected compiled
    module's): their compiled replays live in ``KERNELS`` (``KernelCache.forget``)."""
    for table in (_SEEN, _REPLAYED):
        for key in list(table):
            if mentions(key, ids):
                table.pop(key, None)


def _seq(node) -> int:
    return node._seq


def _walk(root):
    """The op nodes reachable from ``root`` (newest first) and the leaves' AccumulateGrad
    nodes, or None when the graph has something the replay does not handle."""
    ops = []
    accs = []
    seen = {root}
    stack = [root]
    while stack:
        node = stack.pop()
        if type(node) is AccumulateGrad:
            if (
                node._pre_hooks
                or node._post_hooks
                or node.variable._hooks
                or not node.variable._requires_grad
            ):
                return None
            accs.append(node)
            continue
        if (
            node._tensor_hooks
            or node._retain
            or node._pre_hooks
            or node._post_hooks
            or getattr(node, "_op", None) is None
            or (node._released and not node._op.linear)
        ):
            return None
        ops.append(node)
        if len(ops) > _MAX_NODES:
            return None
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    ops.sort(key=_seq, reverse=True)
    return ops, accs


def _structure(root_nr: int, ops: list, accs: list) -> tuple | None:
    """A hashable description of everything the jitted replay depends on."""
    index = {node: i for i, node in enumerate(ops)}
    acc_index = {}
    for i, node in enumerate(accs):
        acc_index[node] = i
    parts = []
    for node in ops:
        op = node._op
        edges = tuple(
            None if nxt is None else (index[nxt], nr) if nxt in index else (-1 - acc_index[nxt], 0)
            for nxt, nr in node.next_functions
        )
        parts.append(
            (
                op,
                node._key,
                _node_mask(node),
                node._avals,
                node._edge_pos,
                node._out_avals,
                None if op.linear else len(node._saved),
                edges,
            )
        )
    existing = tuple(acc.variable._grad is not None for acc in accs)
    return (root_nr, tuple(parts), existing)


def _without_shapes(structure: tuple) -> tuple:
    """``structure`` less its nodes' input and output shapes (``avals``, ``out_avals``)."""
    root_nr, parts, existing = structure
    return (root_nr, tuple((p[0], p[1], p[2], p[4], p[6], p[7]) for p in parts), existing)


def _build(structure: tuple):
    """The jitted replay for one structure: (zero, root grad, saved arrays..., existing
    grads...) -> one gradient (or accumulated gradient) per leaf."""
    return jax.jit(_replay_fn(structure))


def _replay_fn(structure: tuple):
    """The replay's function, unjitted (``_build`` jits it; a deferred forward segment
    traces it after its own steps)."""
    root_nr, parts, existing = structure
    steps = []
    for op, (cdt, statics), mask, avals, edge_pos, out_avals, n_saved, edges in parts:
        vjp = op._vjp_fn(cdt, statics, mask, avals if op.linear else None)
        # The node's flat inputs: its saved operands (none for a linear op), then its values.
        n_flat = (n_saved or 0) + len(op.values)
        steps.append((op, mask, n_flat, edges, edge_pos, out_avals, vjp))
    n_acc = len(existing)

    def replay(zero, root_grad, *flat):
        buffers = [[None] * len(s[5]) for s in steps]
        leaves = [None] * n_acc
        buffers[0][root_nr] = root_grad
        pos = 0
        for i, (op, mask, n_flat, edges, edge_pos, out_avals, vjp) in enumerate(steps):
            grads = buffers[i]
            if len(grads) == 1:
                gs = grads
            else:
                gs = [
                    g if g is not None else jnp.zeros(out_avals[j][0], out_avals[j][1])
                    for j, g in ((j, grads[j]) for j in op.diff_out)
                ]
            res = vjp(*flat[pos : pos + n_flat], *gs)
            pos += n_flat
            res = [_opaque(r, zero) for r in res]
            outs = _spread_static(mask, edge_pos, res)
            for edge, g in zip(edges, outs, strict=True):
                if edge is None:
                    continue
                target, nr = edge
                if target < 0:
                    k = -1 - target
                    old = leaves[k]
                    leaves[k] = g if old is None else old + g
                else:
                    buf = buffers[target]
                    old = buf[nr]
                    buf[nr] = g if old is None else old + g
        results = []
        for k in range(n_acc):
            g = leaves[k]
            if existing[k]:
                g = flat[pos] + g
                pos += 1
            results.append(g)
        return results

    return replay


def _spread_static(mask: tuple, edge_pos, res) -> list:
    it = iter(res)
    grads = [next(it) if m else None for m in mask]
    return grads if edge_pos is None else [grads[i] for i in edge_pos]


def _with_forward(structure: tuple, flat: list, pending: list, grad, now: bool):
    """The replay's results computed in one program with the deferred forward segment that
    computes the saved tensors at ``pending``, or None (``flat`` then holds every value)."""
    seg = _segment.current()
    results = None
    if all(st.segment is seg for _, st in pending):
        positions = tuple(pos for pos, _ in pending)
        indices = tuple(st.index for _, st in pending)
        skip = set(positions)
        given = [a for i, a in enumerate(flat) if i not in skip]

        def make_tail():
            replay = _replay_fn(structure)

            def tail(zero, steps, root_grad, *rest):
                full = list(rest)
                for pos, i in zip(positions, indices, strict=True):  # ascending positions
                    full.insert(pos, steps[i])
                return replay(zero, root_grad, *full)

            return tail

        results = seg.flush_into(
            (structure, positions, indices),
            (_without_shapes(structure), positions, indices),
            make_tail,
            (grad, *given),
            now,
        )
    if results is None:
        for pos, st in pending:
            flat[pos] = st.array
    return results


def try_replay(root: tuple, grad, keep_graph: bool) -> bool:
    """Run ``backward`` from the edge ``root`` as one jitted replay if its graph's structure
    has been seen before; False (nothing done) when the engine must run it."""
    node, nr = root
    if type(node) is AccumulateGrad or _tracing.capture.depth:
        # Inside tapegrad.compile the whole step is one program already: the engine's
        # per-node VJPs trace into it (a cached replay would bring its own captured arrays).
        return False
    found = _walk(node)
    if found is None:
        return False
    ops, accs = found
    if len(ops) < 2:
        return False
    try:
        structure = _structure(nr, ops, accs)
        plan = KERNELS.get(("replay", structure))
    except TypeError:  # an unhashable static argument
        return False
    compiled_now = False
    if plan is None:
        shapeless = _without_shapes(structure)
        count = _SEEN.get(structure, 0) + 1
        if count < _COMPILE_AFTER and shapeless not in _REPLAYED:
            if len(_SEEN) >= _MAX_SEEN:
                _SEEN.clear()
            _SEEN[structure] = count
            return False
        _SEEN.pop(structure, None)
        if len(_REPLAYED) >= _MAX_SEEN:
            _REPLAYED.clear()
        _REPLAYED[shapeless] = None
        plan = KERNELS.put(("replay", structure), _build(structure))
        compiled_now = True
    flat = []
    pending = []  # (position in flat, storage): saved tensors a deferred segment computes
    for n in ops:
        if not n._op.linear:
            try:
                _check_versions(n)
            except Exception:
                return False  # the engine raises it, after running what PyTorch runs first
            for o in n._saved:
                if isinstance(o, Tensor):
                    st = o._storage
                    if type(st) is PendingStorage and st.segment is not None and o._view is None:
                        pending.append((len(flat), st))
                        flat.append(None)
                    else:
                        flat.append(o._data)
                else:
                    flat.append(o)
        if n._vals:
            flat.extend(_value_arg(n._vals))
    grads_held = []
    storages = set()
    for acc in accs:
        g = acc.variable._grad
        if g is not None:
            if id(g._storage) in storages:
                return False  # two leaves share one .grad: the engine adds twice, in order
            storages.add(id(g._storage))
            flat.append(g._data)
            grads_held.append(g)
    global _zero_bits
    if _zero_bits is None:
        _zero_bits = jnp.zeros((), jnp.uint64)
    results = None
    if pending:
        results = _with_forward(structure, flat, pending, grad, compiled_now)
    try:
        if results is None:
            results = plan(_zero_bits, grad, *flat)
    except Exception:
        return False
    from tapegrad.autograd._engine import _write

    for acc, g in zip(accs, results, strict=True):
        var = acc.variable
        existing = var._grad
        if existing is None:
            var._grad = _wrap(g)
        else:
            _write(existing, g)
    if not keep_graph:
        for n in ops:
            release(n)
    return True
