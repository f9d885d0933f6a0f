"""``autograd.backward`` and ``autograd.grad``: argument checking in PyTorch's words and order.

The checks follow ``torch/autograd/__init__.py`` (``_make_grads``) and the engine's entry point
``THPEngine_run_backward`` (``torch/csrc/autograd/python_engine.cpp``), in the same order, so
that a call with several problems reports the same one as PyTorch.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from tapegrad._tensor import Tensor, _wrap
from tapegrad.autograd._engine import run_backward

__all__ = ["backward", "grad"]

_TensorOrTensors = Tensor | Sequence[Tensor]

CREATE_GRAPH_WARNING = (
    "Using backward() with create_graph=True will create a reference cycle between the "
    "parameter and its gradient which can cause a memory leak. We recommend using autograd.grad "
    "when creating the graph to avoid this. If you have to use this function, make sure to "
    "reset the .grad fields of your parameters to None after use to break the cycle and avoid "
    "the leak."
)
# PyTorch warns once per process (TORCH_WARN_ONCE).
_create_graph_warned = False


def _tensors_tuple(x) -> tuple:
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _grads_tuple(grads, length: int) -> tuple:
    if grads is None:
        return (None,) * length
    if isinstance(grads, Tensor):
        return (grads,)
    return tuple(grads)


def _inputs_tuple(inputs, api: str) -> tuple:
    if isinstance(inputs, Tensor):
        return (inputs,)
    if type(inputs) is dict:
        return tuple(inputs.values())
    if isinstance(inputs, Mapping):
        raise TypeError(
            f"`inputs` argument to `{api}()` must be a dict, not {type(inputs).__name__}. "
            "Other Mapping types are not supported."
        )
    return tuple(inputs)


def _make_grads(outputs: tuple, grads: tuple, create_graph: bool) -> list:
    """PyTorch's ``_make_grads``: implicit ones for scalars, shape checks, dtype casts."""
    new_grads = []
    for i, (out, g) in enumerate(zip(outputs, grads)):  # noqa: B905 - truncates, as in PyTorch
        if not isinstance(out, Tensor):
            raise TypeError(f"element {i} of tensors must be a Tensor, not {type(out).__name__}")
        if isinstance(g, Tensor):
            if g.shape != out.shape:
                # PyTorch finds both positions with tuple.index, i.e. by == on tensors.
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{grads.index(g)}] has a shape of {g.shape} "
                    f"and output[{outputs.index(out)}] has a shape of {out.shape}."
                )
            new_grads.append(g)
        elif g is None:
            if out._requires_grad:
                if out.numel() != 1:
                    raise RuntimeError("grad can be implicitly created only for scalar outputs")
                if not out.dtype.is_floating_point:
                    raise RuntimeError(
                        "grad can be implicitly created only for real scalar outputs but got "
                        f"{out.dtype}"
                    )
                a = out._peek  # its shape and dtype: a deferred result is not run for them
                new_grads.append(_implicit_ones(a.shape, a.dtype))
            else:
                new_grads.append(None)
        else:
            raise TypeError(f"gradients can be either Tensors or None, but got {type(g).__name__}")
    return new_grads


_ONES: dict = {}


def _implicit_ones(shape: tuple, dtype):
    """The implicit gradient of a one-element output, made once per shape and dtype (JAX
    arrays are immutable, so sharing it is safe; an eager ``jnp.ones`` costs ~100 us)."""
    key = (shape, dtype)
    ones = _ONES.get(key)
    if ones is None:
        with jax.ensure_compile_time_eval():  # concrete even inside a trace: it is cached
            ones = _ONES[key] = jnp.ones(shape, dtype)
    return ones


def _roots(outputs: tuple, grads: list, create_graph: bool) -> tuple[list, list]:
    """The engine's root edges and their gradients, cast to each output's dtype."""
    if len(outputs) != len(grads):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(grads)} gradients")
    edges, values = [], []
    for i, (out, g) in enumerate(zip(outputs, grads, strict=True)):
        gf = out._history()
        if gf is not None:
            edges.append((gf, out._output_nr))
        elif out._requires_grad:
            edges.append((out._accumulate_node, 0))
        else:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        if isinstance(g, Tensor):
            if create_graph:
                values.append(g if g.dtype is out.dtype else g.to(out.dtype))
            else:
                a, want = g._data, out._data.dtype
                values.append(a if a.dtype == want else a.astype(want))
        else:
            values.append(_wrap(g) if create_graph else g)
    return edges, values


def _input_edge(t, accumulate: bool) -> tuple:
    if not isinstance(t, Tensor):
        raise RuntimeError(
            f"all inputs have to be Tensors or GradientEdges, but got {type(t).__name__}"
        )
    if accumulate:
        t.retain_grad()  # PyTorch makes a non-leaf input of backward() retain its grad
    if not t._requires_grad:
        raise RuntimeError("One of the differentiated Tensors does not require grad")
    gf = t._history()
    if gf is not None:
        return (gf, t._output_nr)
    ref = t._grad_acc
    node = ref() if ref is not None else None
    # A leaf without an AccumulateGrad node is in no graph: its gradient is unreachable.
    return (node, 0)


def backward(
    tensors: _TensorOrTensors,
    grad_tensors: _TensorOrTensors | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    grad_variables: _TensorOrTensors | None = None,
    inputs: _TensorOrTensors | dict | None = None,
) -> None:
    """Computes the sum of gradients of ``tensors`` w.r.t. graph leaves into their ``.grad``.

    Args:
        tensors: Tensors of which the derivative will be computed.
        grad_tensors: The "vector" in the vector-Jacobian product, one per tensor (None for
            scalar tensors and tensors that do not require grad).
        retain_graph: If ``False``, the graph's saved values are freed after the pass.
            Defaults to ``create_graph``.
        create_graph: If ``True``, construct the graph of the derivative, allowing
            higher-order derivatives.
        grad_variables: Deprecated spelling of ``grad_tensors``.
        inputs: Tensors w.r.t. which the gradient is accumulated into ``.grad`` (a non-leaf
            input starts retaining its grad); all leaves when omitted.
    """
    global _create_graph_warned
    if grad_variables is not None:
        warnings.warn(
            "`grad_variables` is deprecated. Use `grad_tensors` instead.",
            FutureWarning,
            stacklevel=2,
        )
        if grad_tensors is None:
            grad_tensors = grad_variables
        else:
            raise RuntimeError(
                "`grad_tensors` and `grad_variables` (deprecated) arguments both passed to "
                "`backward()`. Please only use `grad_tensors`."
            )
    inputs_tuple = () if inputs is None else _inputs_tuple(inputs, "backward")
    if inputs is not None and not inputs_tuple:
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    outputs = _tensors_tuple(tensors)
    grads = _make_grads(outputs, _grads_tuple(grad_tensors, len(outputs)), create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    roots, values = _roots(outputs, grads, create_graph)
    edges = [_input_edge(t, True) for t in inputs_tuple] if inputs is not None else None
    if create_graph and not _create_graph_warned:
        _create_graph_warned = True
        warnings.warn(CREATE_GRAPH_WARNING, UserWarning, stacklevel=3)
    run_backward(roots, values, retain_graph, create_graph, edges, accumulate=True)


def grad(
    outputs: _TensorOrTensors,
    inputs: _TensorOrTensors | dict,
    grad_outputs: _TensorOrTensors | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...] | dict:
    """Computes and returns the sum of gradients of ``outputs`` w.r.t. ``inputs``.

    Nothing is accumulated into ``.grad`` (a ``retain_grad()`` tensor still records the
    gradient passing through it).

    Args:
        outputs: Outputs of the differentiated function.
        inputs: Inputs w.r.t. which the gradient is returned; a dict of inputs gives a dict.
        grad_outputs: The "vector" in the vector-Jacobian product, one per output (None for
            scalar outputs).
        retain_graph: If ``False``, the graph's saved values are freed after the pass.
            Defaults to ``create_graph``.
        create_graph: If ``True``, construct the graph of the derivative, allowing
            higher-order derivatives.
        only_inputs: Deprecated and ignored (always True).
        allow_unused: If ``False``, an input the outputs do not depend on raises; if ``True``
            its gradient is None. Defaults to ``materialize_grads``.
        is_grads_batched: If ``True``, the first dimension of every ``grad_outputs`` entry is
            a batch of vectors, and each result gains that leading dimension.
        materialize_grads: If ``True``, the gradient of an unused input is zeros instead of
            None.

    Returns:
        One gradient per input, in order (or a dict, for a dict of inputs).
    """
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, but "
            "got: allow_unused=False."
        )
    if allow_unused is None:
        allow_unused = materialize_grads
    outs = _tensors_tuple(outputs)
    ins = _inputs_tuple(inputs, "grad")
    if not ins:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    if not only_inputs:
        warnings.warn(
            "only_inputs argument is deprecated and is ignored now (defaults to True). To "
            "accumulate gradient for other parts of the graph, please use "
            "torch.autograd.backward.",
            FutureWarning,
            stacklevel=2,
        )
    if retain_graph is None:
        retain_graph = create_graph
    gouts = _grads_tuple(grad_outputs, len(outs))
    if is_grads_batched:
        result = _grad_batched(outs, ins, gouts, retain_graph, create_graph, allow_unused)
    else:
        grads = _make_grads(outs, gouts, create_graph)
        result = _grad(outs, ins, grads, retain_graph, create_graph, allow_unused)
    if materialize_grads:
        result = tuple(
            r if r is not None else _zeros_like(t, create_graph)
            for r, t in zip(result, ins, strict=True)
        )
    if type(inputs) is dict:
        return dict(zip(inputs.keys(), result, strict=True))
    return result


def _grad(outs, ins, grads, retain_graph, create_graph, allow_unused) -> tuple:
    roots, values = _roots(outs, grads, create_graph)
    edges = [_input_edge(t, False) for t in ins]
    captured = run_backward(roots, values, retain_graph, create_graph, edges, accumulate=False)
    result = []
    for i, g in enumerate(captured):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in "
                    "the graph. Set allow_unused=True if this is the desired behavior."
                )
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else _wrap(g))
    return tuple(result)


def _grad_batched(outs, ins, gouts, retain_graph, create_graph, allow_unused) -> tuple:
    # One vector-Jacobian product per batch entry (PyTorch vmaps the engine instead).
    batch = None
    for i, g in enumerate(gouts):
        if isinstance(g, Tensor):
            if g.ndim == 0:
                raise RuntimeError(
                    f"If `is_grads_batched=True`, we interpret the first dimension of each "
                    f"grad_output as the batch dimension. grad_output[{i}] is 0-dimensional."
                )
            expected = tuple(outs[i].shape) if i < len(outs) else None
            if expected is not None and tuple(g.shape[1:]) != expected:
                raise RuntimeError(
                    "If `is_grads_batched=True`, we interpret the first dimension of each "
                    "grad_output as the batch dimension. The sizes of the remaining dimensions "
                    "are expected to match the shape of corresponding output, but a mismatch "
                    f"was detected: grad_output[{i}] has a shape of {g.shape[1:]} and "
                    f"output[{i}] has a shape of {outs[i].shape}. If you only want some "
                    "tensors in `grad_output` to be considered batched, consider using vmap."
                )
            batch = g.shape[0] if batch is None else batch
    if batch is None:
        raise RuntimeError("is_grads_batched=True needs at least one Tensor in grad_outputs")
    from tapegrad._ops.shape import stack

    per_entry = []
    for b in range(batch):
        gb = tuple(g[b] if isinstance(g, Tensor) else g for g in gouts)
        grads = _make_grads(outs, gb, create_graph)
        keep = retain_graph or b < batch - 1
        per_entry.append(_grad(outs, ins, grads, keep, create_graph, allow_unused))
    return tuple(
        None if per_entry[0][j] is None else stack([r[j] for r in per_entry])
        for j in range(len(ins))
    )


def _zeros_like(t: Tensor, requires_grad: bool) -> Tensor:
    a = t._data
    z = _wrap(jnp.zeros(a.shape, a.dtype))
    z._requires_grad = requires_grad
    return z
