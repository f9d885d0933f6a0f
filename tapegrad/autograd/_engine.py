"""The backward engine: PyTorch's ready-queue walk of the graph, without recursion.

It follows ``torch/csrc/autograd/engine.cpp`` step by step, because the order in which nodes run
is visible to users through hooks:

- every node reachable from the roots counts its incoming edges (``dependencies``); a node runs
  once all of them have delivered their gradient (``None`` counts: a node whose gradients are
  all None still runs its hooks);
- ready nodes wait in a priority queue ordered by creation number, newest first, with
  AccumulateGrad nodes before everything else; the queue reproduces ``std::priority_queue``
  exactly, so that equal priorities (several leaves ready at once) pop in PyTorch's order;
- a node runs its tensor hooks (those registered with ``Tensor.register_hook``, in registration
  order), then the ``retain_grad`` hooks, then its pre-hooks, its backward function, and its
  post-hooks; without ``retain_graph`` its saved values are released after it ran;
- ``autograd.grad`` and ``backward(inputs=...)`` restrict the walk to the nodes that lead to an
  input (``exec_info``); ``grad`` captures the gradient flowing into each input's node and does
  not run that node unless another input lies behind it.

Gradients travel as raw ``jax.Array`` values, or as Tensors when ``create_graph`` is set so that
the backward computation is itself taped.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from tapegrad import _segment
from tapegrad._grad_mode import _set_grad_mode
from tapegrad._grad_mode import state as _mode
from tapegrad._kernel_cache import bounded_jit
from tapegrad._ops._registry import apply_node, apply_node_graph, release
from tapegrad._tensor import Tensor, _wrap
from tapegrad.autograd import _errors
from tapegrad.autograd._replay import try_replay
from tapegrad.autograd.graph import AccumulateGrad

__all__ = ["accumulate_grad", "run_backward"]

_add = bounded_jit(jnp.add)
_ACC_PRIORITY = 2**64 - 1  # AccumulateGrad's sequence_nr in PyTorch: UINT64_MAX


# ----- PyTorch's ready queue: std::priority_queue<NodeTask, vector, CompareNodeTaskTime> -----
# libstdc++'s push_heap / pop_heap, so that ties pop in the same order as in PyTorch.
def _sift_up(heap: list, hole: int, item: tuple) -> None:
    prio = item[0]
    while hole > 0:
        parent = (hole - 1) // 2
        if not heap[parent][0] < prio:
            break
        heap[hole] = heap[parent]
        hole = parent
    heap[hole] = item


def _push(heap: list, prio: int, node) -> None:
    heap.append(None)
    _sift_up(heap, len(heap) - 1, (prio, node))


def _pop(heap: list):
    top = heap[0]
    last = heap.pop()
    n = len(heap)
    if n:
        hole = 0
        child = 0
        while child < (n - 1) // 2:
            child = 2 * (child + 1)
            if heap[child][0] < heap[child - 1][0]:
                child -= 1
            heap[hole] = heap[child]
            hole = child
        if n % 2 == 0 and child == (n - 2) // 2:
            child = 2 * (child + 1)
            heap[hole] = heap[child - 1]
            hole = child - 1
        _sift_up(heap, hole, last)
    return top[1]


def _priority(node) -> int:
    return _ACC_PRIORITY if type(node) is AccumulateGrad else node._seq


# ----- gradients as raw arrays or Tensors ---------------------------------------------------
def _as_tensor(g):
    return g if g is None or isinstance(g, Tensor) else _wrap(g)


def _from_tensor(t, create_graph: bool):
    if t is None or create_graph:
        return t
    return t._data


def _sum(a, b, create_graph: bool):
    if a is None:
        return b
    if b is None:
        return a
    if create_graph:
        return a + b
    return _add(a, b)


# ----- hooks ------------------------------------------------------------------------------
def _hook_name(hook) -> str:
    name = getattr(hook, "__name__", None)
    return name if isinstance(name, str) else "<unknown>"


def _device_type(t: Tensor) -> str | None:
    if isinstance(t._data, jax.core.Tracer):  # inside a compiled step: no device to compare
        return None
    return t.device.type


def _check_single(original, result, hook) -> None:
    # torch/csrc/autograd/python_hook.cpp: check_single_result + check_variable_result
    if result is None:
        return
    if original is None:
        raise RuntimeError(_errors.HOOK_REPLACED_NONE)
    if not isinstance(result, Tensor):
        raise TypeError(_errors.hook_not_tensor(result))
    if result.dtype is not original.dtype or _device_type(result) != _device_type(original):
        raise RuntimeError(_errors.hook_changed_type(_hook_name(hook), original, result))
    if result.shape != original.shape:
        raise RuntimeError(_errors.hook_changed_size(_hook_name(hook)))


def _check_tuple(original: tuple, result, hook) -> None:
    if not isinstance(result, tuple):
        raise TypeError(_errors.hook_not_tuple(result))
    if len(result) != len(original):
        raise RuntimeError(_errors.hook_wrong_count(_hook_name(hook), len(result), len(original)))
    for o, r in zip(original, result, strict=True):
        _check_single(o, r, hook)


def _call_tensor_hooks(hooks: dict, g, create_graph: bool):
    """``Tensor.register_hook`` hooks on one gradient (None included), in registration order."""
    value = _as_tensor(g)
    for hook in list(hooks.values()):
        res = hook(value)
        if res is None or res is value:
            continue
        _check_single(value, res, hook)
        value = res
    # Read the value back even when no hook returned one: a hook may have written into it.
    return _from_tensor(value, create_graph)


def _call_tuple_hooks(hooks: dict, values: list, create_graph: bool, extra: tuple = ()):
    """Node pre-hooks (``fn(grad_outputs)``) or post-hooks (``fn(grad_inputs, grad_outputs)``)."""
    args = tuple(_as_tensor(v) for v in values)
    for hook in list(hooks.values()):
        res = hook(args, *extra)
        if res is None or res is args:
            continue
        _check_tuple(args, res, hook)
        args = res
    return [_from_tensor(v, create_graph) for v in args]


def _retain(tensor: Tensor, g, create_graph: bool) -> None:
    # PyTorch's retains_grad hook: clone the first gradient, then add out of place.
    if tensor._grad is None:
        tensor._grad = g.clone() if create_graph else _wrap(g)
    elif create_graph:
        tensor._grad = tensor._grad + g
    else:
        tensor._grad = _wrap(_add(tensor._grad._data, g))


def _tensor_pre_hooks(node, inputs: list, create_graph: bool) -> list:
    """The hooks of the tensors ``node`` produced, then their ``retain_grad`` hooks."""
    if type(node) is AccumulateGrad:
        hooks = node.variable._hooks
        if hooks:
            inputs = [_call_tensor_hooks(hooks, inputs[0], create_graph)]
        return inputs
    if node._tensor_hooks:
        inputs = list(inputs)
        for nr, hooks in list(node._tensor_hooks.items()):
            if hooks:
                inputs[nr] = _call_tensor_hooks(hooks, inputs[nr], create_graph)
    if node._retain:
        for nr, ref in list(node._retain.items()):
            t = ref()
            g = inputs[nr]
            if t is not None and g is not None and t._grad_fn is node:
                _retain(t, g, create_graph)
    return inputs


# ----- AccumulateGrad -----------------------------------------------------------------------
_COPY_OP = None


def _leaf_copy():
    # PyTorch clones the first gradient of a leaf under create_graph (clone_obey_contract:
    # ``new_empty_strided(...).copy_(grad)``), so x.grad's grad_fn is a CopyBackwards whose
    # next_functions are ((None, 0), (grad's node, nr)).
    global _COPY_OP
    if _COPY_OP is None:
        from tapegrad._ops._registry import Op

        _COPY_OP = Op(
            name="_grad_copy",
            fn=lambda dst, src: src,
            node="CopyBackwards",
            dtypes="keep",
            linear=True,
            n_out=1,
            diff_out=None,
            cast=None,
            view=False,
        )
    return _COPY_OP


def _write(t: Tensor, array) -> None:
    if t._view is None:
        t._storage.write(array)
        t._version_counter().value += 1
    else:
        from tapegrad._ops.inplace import write

        write(t, array)


def accumulate_grad(var: Tensor, g, create_graph: bool) -> None:
    """Add ``g`` into ``var.grad`` as PyTorch's AccumulateGrad does.

    Without ``create_graph`` the first gradient is stored and later ones are added in place, so
    ``var.grad`` keeps its identity and its version counter moves. With ``create_graph`` the
    first gradient is copied (``CopyBackwards``) and later ones are added out of place.
    """
    existing = var._grad
    if existing is None:
        if not create_graph:
            var._grad = _wrap(g)
        elif g._requires_grad:
            from tapegrad._ops._registry import dispatch

            var._grad = dispatch(_leaf_copy(), (0, g))
        else:
            var._grad = _wrap(g._data)
    elif create_graph:
        var._grad = existing + g
    else:
        _write(existing, _add(existing._data, g))


# ----- the walk -----------------------------------------------------------------------------
def _n_inputs(node) -> int:
    return 1 if type(node) is AccumulateGrad else len(node._out_avals)


def _dependencies(start: list) -> dict:
    deps: dict = {}
    stack = list(dict.fromkeys(start))
    seen = set(stack)
    while stack:
        node = stack.pop()
        for nxt, _ in node.next_functions:
            if nxt is not None:
                deps[nxt] = deps.get(nxt, 0) + 1
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    return deps


def _exec_info(root_nodes: list, deps: dict, targets: set) -> set:
    """The nodes that lead to a target: children are decided before their parents (Kahn)."""
    remaining = dict(deps)
    order = []
    stack = [n for n in dict.fromkeys(root_nodes) if n not in remaining]
    seen = set(stack)
    while stack:
        node = stack.pop()
        order.append(node)
        for nxt, _ in node.next_functions:
            if nxt is not None:
                remaining[nxt] -= 1
                if remaining[nxt] == 0 and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    should = set(targets)
    needed = set()
    for node in reversed(order):
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt in should:
                needed.add(node)
                should.add(node)
                break
    return needed


def run_backward(
    roots: Sequence[tuple],
    grads: Sequence,
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[tuple] | None = None,
    accumulate: bool = True,
) -> list | None:
    """Propagate ``grads`` from the ``roots`` edges back through the graph.

    **Arguments:**
    - ``roots``: ``(node, output_nr)`` edges of the differentiated tensors.
    - ``grads``: their gradients (raw arrays, or Tensors when ``create_graph``).
    - ``retain_graph``: keep the saved values of the nodes that ran.
    - ``create_graph``: run with grad mode on so the backward computation is taped.
    - ``inputs``: edges of the inputs (None: all leaves). With ``accumulate`` their nodes
      run (AccumulateGrad writes ``.grad``); without it, the gradient reaching each edge is
      captured.
    - ``accumulate``: ``backward`` (True) or ``grad`` (False).

    **Returns:** for ``grad``, one gradient (or None) per input edge; otherwise None.
    """
    _segment.wake()
    prev = _mode.grad_mode
    _set_grad_mode(create_graph)
    try:
        if (
            accumulate
            and not create_graph
            and inputs is None
            and len(roots) == 1
            and try_replay(roots[0], grads[0], retain_graph)
        ):
            return None
        return _run(roots, grads, retain_graph, create_graph, inputs, accumulate)
    finally:
        _set_grad_mode(prev)


def _run(roots, grads, keep_graph, create_graph, inputs, accumulate):
    buffers: dict = {}
    heap: list = []
    single = len(roots) == 1
    root_nodes = [edge[0] for edge in roots]
    deps = _dependencies(root_nodes)

    needed = None
    captures: dict = {}
    captured: list = []
    if inputs is not None:
        targets = set()
        for idx, (node, nr) in enumerate(inputs):
            if node is None:
                continue
            targets.add(node)
            if not accumulate:
                captures.setdefault(node, []).append((nr, idx))
        needed = _exec_info(root_nodes, deps, targets)
        if accumulate:
            needed |= targets
        captured = [None] * len(inputs)

    if not single:
        for node in root_nodes:  # the edges of PyTorch's GraphRoot
            deps[node] = deps.get(node, 0) + 1

    runnable = None if needed is None else needed | captures.keys()
    if single:
        node, nr = roots[0]
        buf = [None] * _n_inputs(node)
        buf[nr] = grads[0]
        buffers[node] = buf
        _push(heap, _priority(node), node)
    else:
        for (node, nr), g in zip(roots, grads, strict=True):
            d = deps[node] - 1
            deps[node] = d
            if runnable is not None and node not in runnable:
                continue
            buf = buffers.get(node)
            if buf is None:
                buf = buffers[node] = [None] * _n_inputs(node)
            buf[nr] = _sum(buf[nr], g, create_graph)
            if d == 0:
                _push(heap, _priority(node), node)

    push, pop, call = _push, _pop, _call_function
    while heap:
        node = pop(heap) if len(heap) > 1 else heap.pop()[1]
        values = buffers.pop(node)
        if needed is not None:
            is_needed = node in needed
            if not is_needed:
                values = _tensor_pre_hooks(node, values, create_graph)
            caps = captures.get(node)
            if caps:
                for nr, idx in caps:
                    captured[idx] = values[nr]
            if not is_needed:
                continue
        outputs = call(node, values, keep_graph, create_graph)
        if not outputs:
            continue
        for (nxt, nr), g in zip(node.next_functions, outputs, strict=True):
            if nxt is None:
                continue
            d = deps[nxt] - 1
            deps[nxt] = d
            if runnable is not None and nxt not in runnable:
                continue
            buf = buffers.get(nxt)
            if buf is None:
                buf = buffers[nxt] = [None] * _n_inputs(nxt)
            if g is not None:
                old = buf[nr]
                buf[nr] = g if old is None else _sum(old, g, create_graph)
            if d == 0:
                if heap:
                    push(heap, _priority(nxt), nxt)
                else:
                    heap.append((_priority(nxt), nxt))
    return captured if not accumulate else None


def _call_function(node, values: list, keep_graph: bool, create_graph: bool):
    acc = type(node) is AccumulateGrad
    if node._tensor_hooks or node._retain or (acc and node.variable._hooks):
        values = _tensor_pre_hooks(node, values, create_graph)
    if node._pre_hooks:
        values = _call_tuple_hooks(node._pre_hooks, values, create_graph)
    if acc:
        g = values[0]
        var = node.variable
        if g is not None and var._requires_grad:
            accumulate_grad(var, g, create_graph)
        outputs = []
    elif values[0] is None if len(values) == 1 else all(g is None for g in values):
        outputs = [None] * len(node.next_functions)  # PyTorch's nodes skip undefined grads
    else:
        if create_graph:
            outputs = apply_node_graph(node, [_as_tensor(g) for g in values])
        else:
            outputs = apply_node(node, values)
        if not keep_graph:
            release(node)
    if node._post_hooks:
        outputs = _call_tuple_hooks(
            node._post_hooks, outputs, create_graph, (tuple(_as_tensor(g) for g in values),)
        )
    return outputs
