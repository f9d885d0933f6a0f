"""The backward engine: an iterative walk of the graph in reverse creation order.

Nodes are numbered when they are created and every edge points at an older node, so running the
reachable nodes by descending number is a topological order; no recursion is involved, and a
chain of 100,000 ops is walked like any other graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from tapegrad._grad_mode import state as _mode
from tapegrad._ops._registry import apply_node, apply_node_graph, release
from tapegrad._tensor import Tensor, _wrap
from tapegrad.autograd.graph import AccumulateGrad

__all__ = ["run_backward"]

_add = jax.jit(jnp.add)


def _n_outputs(node) -> int:
    return 1 if isinstance(node, AccumulateGrad) else len(node._out_avals)


def _as_tensor(g):
    return g if isinstance(g, Tensor) else _wrap(g)


def _as_raw(g, create_graph: bool):
    if create_graph:
        return g if isinstance(g, Tensor) else _wrap(g)
    return g._data if isinstance(g, Tensor) else g


def _sum(a, b, create_graph: bool):
    if create_graph:
        return _as_tensor(a) + _as_tensor(b)
    return _add(a, b)


def _run_tensor_hooks(hooks: dict, g, create_graph: bool):
    for hook in list(hooks.values()):
        t = _as_tensor(g)
        out = hook(t)
        if out is not None:
            if not isinstance(out, Tensor):
                raise TypeError(
                    f"hook returned an object of type {type(out).__name__}; expected a Tensor or "
                    "None"
                )
            if out.shape != t.shape:
                raise RuntimeError(
                    f"hook 'hook' has changed the size of value: expected {t.shape} but got "
                    f"{out.shape}"
                )
            g = _as_raw(out, create_graph)
    return g


def _retain(tensor: Tensor, g, create_graph: bool) -> None:
    if tensor._grad is None:
        tensor._grad = _as_tensor(g) if create_graph else _wrap(g)
    else:
        tensor._grad = (
            tensor._grad + _as_tensor(g) if create_graph else _wrap(_add(tensor._grad._data, g))
        )


def accumulate_grad(var: Tensor, g, create_graph: bool) -> None:
    """Add ``g`` into ``var.grad``: in place when not building a graph, as PyTorch does."""
    existing = var._grad
    if existing is None:
        if create_graph:
            var._grad = _as_tensor(g)
        else:
            var._grad = _wrap(g)
    elif create_graph:
        var._grad = existing + _as_tensor(g)
    elif existing._view is None and existing._grad_fn is None:
        existing._storage.write(_add(existing._storage.array, g))
        existing._version_counter().value += 1
    else:
        var._grad = _wrap(_add(existing._data, g))


def run_backward(
    roots: Sequence[tuple],
    retain_graph: bool,
    create_graph: bool,
    capture: Sequence[tuple] | None = None,
    accumulate: bool = True,
) -> dict:
    """Propagate ``roots`` (pairs of an edge and its gradient) back through the graph.

    ``capture`` lists edges whose incoming gradient is returned (for ``autograd.grad``); when
    given, only the nodes that lead to a captured edge run. ``accumulate`` says whether
    AccumulateGrad nodes write into ``.grad``.
    """
    prev = _mode.grad_enabled
    _mode.grad_enabled = create_graph
    try:
        return _run(roots, retain_graph, create_graph, capture, accumulate)
    finally:
        _mode.grad_enabled = prev


def _discover(start: list) -> set:
    seen = set(start)
    stack = list(start)
    while stack:
        node = stack.pop()
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _run(roots, retain_graph, create_graph, capture, accumulate) -> dict:
    pending: dict = {}
    for (node, nr), g in roots:
        slots = pending.get(node)
        if slots is None:
            slots = pending[node] = [None] * _n_outputs(node)
        slots[nr] = g if slots[nr] is None else _sum(slots[nr], g, create_graph)
    nodes = _discover(list(pending))
    order = sorted(nodes, key=lambda n: n._seq, reverse=True)

    captured: dict = {}
    targets: dict = {}
    needed = None
    if capture is not None:
        for node, nr in capture:
            if node is not None:
                targets.setdefault(node, set()).add(nr)
        needed = set()
        for node in reversed(order):
            if node in targets or any(
                nxt in needed for nxt, _ in node.next_functions if nxt is not None
            ):
                needed.add(node)

    for node in order:
        grads = pending.pop(node, None)
        if grads is None or (needed is not None and node not in needed):
            continue
        if isinstance(node, AccumulateGrad):
            var = node.variable
            g = grads[0]
            if var._hooks:
                g = _run_tensor_hooks(var._hooks, g, create_graph)
            if node._pre_hooks:
                for hook in list(node._pre_hooks.values()):
                    out = hook((_as_tensor(g),))
                    if out is not None:
                        g = _as_raw(out[0], create_graph)
            if node in targets:
                captured[(node, 0)] = g
            if accumulate:
                accumulate_grad(var, g, create_graph)
            continue
        if node._tensor_hooks:
            for nr, hooks in node._tensor_hooks.items():
                if grads[nr] is not None and hooks:
                    grads[nr] = _run_tensor_hooks(hooks, grads[nr], create_graph)
        if node._retain:
            for nr, ref in node._retain.items():
                t = ref()
                if t is not None and grads[nr] is not None and t._grad_fn is node:
                    _retain(t, grads[nr], create_graph)
        if node in targets:
            for nr in targets[node]:
                captured[(node, nr)] = grads[nr]
        if node._pre_hooks:
            for hook in list(node._pre_hooks.values()):
                out = hook(tuple(None if g is None else _as_tensor(g) for g in grads))
                if out is not None:
                    grads = [None if g is None else _as_raw(g, create_graph) for g in out]
        if create_graph:
            grads = [None if g is None else _as_tensor(g) for g in grads]
            in_grads = apply_node_graph(node, grads)
        else:
            in_grads = apply_node(node, grads)
        if node._post_hooks:
            for hook in list(node._post_hooks.values()):
                hook(
                    tuple(None if g is None else _as_tensor(g) for g in in_grads),
                    tuple(None if g is None else _as_tensor(g) for g in grads),
                )
        if not retain_graph:
            release(node)
        for (nxt, nr), g in zip(node.next_functions, in_grads, strict=True):
            if nxt is None or g is None:
                continue
            if needed is not None and nxt not in needed:
                continue
            slots = pending.get(nxt)
            if slots is None:
                slots = pending[nxt] = [None] * _n_outputs(nxt)
            slots[nr] = g if slots[nr] is None else _sum(slots[nr], g, create_graph)
    return captured
