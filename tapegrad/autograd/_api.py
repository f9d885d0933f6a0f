"""``autograd.backward`` and ``autograd.grad``: argument checking in PyTorch's words."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

from tapegrad._tensor import Tensor
from tapegrad.autograd._engine import accumulate_grad, run_backward

__all__ = ["backward", "grad"]

_TensorOrTensors = Tensor | Sequence[Tensor]


def _as_tuple(x, name: str) -> tuple:
    if x is None:
        return ()
    if isinstance(x, Tensor):
        return (x,)
    if isinstance(x, (list, tuple)):
        return tuple(x)
    raise TypeError(f"{name} must be a Tensor or a sequence of Tensors, not {type(x).__name__}")


def _root_edge(t: Tensor, i: int) -> tuple:
    if t._grad_fn is not None:
        return (t._grad_fn, t._output_nr)
    if t._requires_grad:
        return (t._accumulate_node, 0)
    raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")


def _make_grads(outputs: tuple, grad_outputs: tuple, create_graph: bool) -> list:
    if grad_outputs and len(grad_outputs) != len(outputs):
        raise RuntimeError(
            f"grad can be implicitly created only for scalar outputs: got {len(grad_outputs)} "
            f"gradients for {len(outputs)} outputs"
        )
    grads = []
    for i, out in enumerate(outputs):
        g = grad_outputs[i] if grad_outputs else None
        if not isinstance(out, Tensor):
            raise TypeError(f"outputs must be Tensors, not {type(out).__name__}")
        a = out._data
        if g is None:
            if out._requires_grad and a.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not out.dtype.is_floating_point:
                raise RuntimeError(
                    "grad can be implicitly created only for real scalar outputs but got "
                    f"{out.dtype}"
                )
            g_arr = jnp.ones(a.shape, a.dtype)
            grads.append(g_arr)
            continue
        if not isinstance(g, Tensor):
            raise TypeError(
                f"gradient must be a Tensor or None, not {type(g).__name__}"
            )
        if g._data.shape != a.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and output[{i}] "
                f"has a shape of {out.shape}."
            )
        if create_graph:
            grads.append(g if g.dtype is out.dtype else g.to(out.dtype))
        else:
            ga = g._data
            grads.append(ga if ga.dtype == a.dtype else ga.astype(a.dtype))
    return grads


def backward(
    tensors: _TensorOrTensors,
    grad_tensors: _TensorOrTensors | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: _TensorOrTensors | None = None,
) -> None:
    """Computes the sum of gradients of ``tensors`` w.r.t. graph leaves into their ``.grad``.

    **Arguments:**
    - ``tensors``: tensors of which the derivative will be computed.
    - ``grad_tensors``: the "vector" in the vector-Jacobian product, one per tensor (None for
      scalar tensors).
    - ``retain_graph``: if False the graph's saved values are freed; defaults to ``create_graph``.
    - ``create_graph``: construct the graph of the derivative, for higher-order derivatives.
    - ``inputs``: tensors w.r.t. which the gradient is accumulated; all leaves when omitted.
    """
    outputs = _as_tuple(tensors, "tensors")
    grad_outputs = _as_tuple(grad_tensors, "grad_tensors")
    if retain_graph is None:
        retain_graph = create_graph
    roots = [_root_edge(t, i) for i, t in enumerate(outputs)]
    grads = _make_grads(outputs, grad_outputs, create_graph)
    if inputs is None:
        run_backward(list(zip(roots, grads, strict=True)), retain_graph, create_graph)
        return
    inputs = _as_tuple(inputs, "inputs")
    if not inputs:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    edges = [_input_edge(t, i) for i, t in enumerate(inputs)]
    captured = run_backward(
        list(zip(roots, grads, strict=True)),
        retain_graph,
        create_graph,
        capture=edges,
        accumulate=False,
    )
    for t, edge in zip(inputs, edges, strict=True):
        g = captured.get(edge)
        if g is not None:
            accumulate_grad(t, g, create_graph)


def _input_edge(t: Tensor, i: int) -> tuple:
    if not isinstance(t, Tensor):
        raise TypeError(f"inputs must be Tensors, not {type(t).__name__}")
    if not t._requires_grad:
        raise RuntimeError("One of the differentiated Tensors does not require grad")
    if t._grad_fn is not None:
        return (t._grad_fn, t._output_nr)
    return (t._accumulate_node, 0)


def grad(
    outputs: _TensorOrTensors,
    inputs: _TensorOrTensors,
    grad_outputs: _TensorOrTensors | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """Computes and returns the sum of gradients of ``outputs`` w.r.t. ``inputs``.

    Nothing is accumulated into ``.grad``. An input the outputs do not depend on raises unless
    ``allow_unused=True`` (then its gradient is None, or zeros with ``materialize_grads=True``).
    """
    from tapegrad._tensor import _wrap

    outs = _as_tuple(outputs, "outputs")
    ins = _as_tuple(inputs, "inputs")
    if allow_unused is None:
        allow_unused = materialize_grads
    if materialize_grads and not allow_unused:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, but "
            "got: allow_unused=False."
        )
    if retain_graph is None:
        retain_graph = create_graph
    roots = [_root_edge(t, i) for i, t in enumerate(outs)]
    grads = _make_grads(outs, _as_tuple(grad_outputs, "grad_outputs"), create_graph)
    edges = [_input_edge(t, i) for i, t in enumerate(ins)]
    captured = run_backward(
        list(zip(roots, grads, strict=True)),
        retain_graph,
        create_graph,
        capture=edges,
        accumulate=False,
    )
    result = []
    for i, (t, edge) in enumerate(zip(ins, edges, strict=True)):
        g = captured.get(edge)
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in "
                    "the graph. Set allow_unused=True if this is the desired behavior."
                )
            result.append(_wrap(jnp.zeros(t._data.shape, t._data.dtype)) if materialize_grads else None)
        else:
            result.append(g if isinstance(g, Tensor) else _wrap(g))
    return tuple(result)
