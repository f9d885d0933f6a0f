"""The op table and dispatcher: one entry per op, cached kernels, taping rules."""

import re

import jax
import jax.numpy as jnp
import pytest

import tapegrad as tg
from tapegrad._kernel_cache import KERNELS
from tapegrad._ops import pointwise
from tapegrad._ops._registry import OPS, defop


def _trace_counter():
    calls = []

    def fn(x, y):
        calls.append(1)  # runs only while jax traces
        return x * y + 1

    return fn, calls


def _forward_kernels(op) -> dict:
    """The op's forward kernels in the kernel cache: (operand keys, statics, shapes) -> jit."""
    return {
        key[1:]: KERNELS.get(key)[0]
        for key in KERNELS
        if key[0] is op and type(key[1]) is tuple  # not its VJPs: (op, "vjp", ...)
    }


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        defop("mul", node="MulBackward0")(jnp.multiply)


def test_every_differentiable_op_names_its_backward_node_like_pytorch():
    # PyTorch's names: XxxBackwardN, plus its few special nodes (and torch.compile's node, which
    # the registry holds once a test has compiled a module).
    special = {"NotImplemented", "CopySlices", "CopyBackwards", "CompiledFunctionBackward"}
    for op in OPS.values():
        if op.node_cls is not None:
            name = op.node_cls.__name__
            assert name in special or re.fullmatch(r"[A-Za-z0-9]+Backward\d", name), (
                op.name,
                name,
            )


def test_repeated_op_never_retraces_forward_or_backward():
    fn, calls = _trace_counter()
    op = defop("test_trace_counter", node="TestBackward0")(fn)
    from tapegrad._ops._registry import dispatch

    x = tg.randn(3, requires_grad=True)
    y = tg.randn(3)
    for _ in range(5):
        out = dispatch(op, (x, y))
        out.sum().backward()
    # One trace for the forward kernel, one for the VJP kernel (which re-traces fn inside), one
    # for the one-program replay of the graph's backward from its second occurrence on.
    assert len(calls) == 3
    for _ in range(5):
        dispatch(op, (x, y)).sum().backward()
    assert len(calls) == 3
    # A new shape is a new graph structure (the sum's node keeps shapes): new traces of the
    # forward, the VJP kernel and, once the structure repeats, its replay; then cached again.
    x2, y2 = tg.randn(4, requires_grad=True), tg.randn(4)
    for _ in range(3):
        dispatch(op, (x2, y2)).sum().backward()
    assert len(calls) == 6
    del OPS["test_trace_counter"]


def test_kernel_cache_is_keyed_by_dtype_and_statics():
    from tapegrad._ops._registry import dispatch

    op = defop("test_cache_keys", node="TestSumBackward0", dtypes="sum", linear=True)(
        lambda x, dim: jnp.sum(x, axis=dim)
    )
    x = tg.randn(2, 3)
    for _ in range(3):
        dispatch(op, (x,), (("dim", 0),))
    dispatch(op, (x,), (("dim", 1),))
    dispatch(op, (x.double(),), (("dim", 1),))
    assert len(_forward_kernels(op)) == 3  # (float32, 0), (float32, 1), (float64, 1)
    del OPS["test_cache_keys"]


def test_kernels_are_jax_jit_functions():
    x = tg.randn(2)
    pointwise.exp(x)
    kernel = next(iter(_forward_kernels(pointwise.UNARY_OPS["exp"]).values()))
    assert hasattr(kernel, "lower")  # a jax.jit-wrapped function


def test_integer_and_bool_results_never_require_grad():
    x = tg.randn(3, requires_grad=True)
    assert not x.long().requires_grad
    assert not (x > 0).requires_grad
    assert x.argmax().requires_grad is False
    values, indices = x.max(0)
    assert values.requires_grad
    assert not indices.requires_grad


def test_python_scalars_do_not_retrace_per_value():
    x = tg.randn(3)
    x + 0.50390625  # a number seen once is passed as itself (values no other test uses)
    (kernel,) = [
        k
        for (keys, _, shapes), k in _forward_kernels(pointwise._add_op).items()
        if keys == ((tg.float32, False), float) and shapes == ((3,),)
    ]
    before = kernel._cache_size()
    for v in (1.515625, 2.515625, 3.515625, 4.515625):  # values no other test uses
        x + v
    assert kernel._cache_size() == before


def test_results_do_not_depend_on_jax_weak_types():
    # float32 tensor with a Python float stays float32 even though x64 is on.
    x = tg.ones(2)
    assert (x * 2.5).dtype is tg.float32
    assert (x * 2.5)._data.dtype == jnp.float32
    assert jax.config.jax_enable_x64
