"""tapegrad's gradients against finite differences, and its higher derivatives against PyTorch.

First order: every differentiable case of the parity table, in float64, checks the directional
derivative ``<u, J v>`` from one ``backward`` (random upstream ``u``) against central differences
of ``<u, f(x + eps v)>`` along a random direction ``v`` of every input at once.
Second and third order: ``tapegrad.autograd.grad(..., create_graph=True)`` differentiated again,
compared with ``torch.autograd.grad`` on the same inputs.
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest

import tapegrad

from .test_parity import CASES, FLOATS, Case, N, P, S, W, flat, make_inputs

torch = pytest.importorskip("torch")

EPS = 1e-6
# Ops PyTorch gives no derivative (their backward raises; test_parity checks the error), and
# values where the function is not differentiable (inf / nan outputs).
NO_DERIVATIVE = {
    "floordiv",
    "floordiv-scalar",
    "floordiv-int-scalar",
    "rfloordiv",
    "floor_divide",
    "rmod",
}
NOT_SMOOTH_HERE = {"var-no-degrees-of-freedom"}


def _differentiable(case: Case) -> bool:
    return (
        "float64" in case.dtypes
        and case.xfail is None  # a known bug, already an xfail in test_parity
        and case.name not in NO_DERIVATIVE | NOT_SMOOTH_HERE
        # explicit values sit on kinks (ties, |0|, clamp bounds) where a subgradient is chosen
        and not any(a.kind == "values" and a.dtype is None for a in case.args)
        and any(a.differentiable for a in case.args)
    )


FIRST_ORDER = [pytest.param(case, id=case.name) for case in CASES if _differentiable(case)]


def _run(case: Case, tensors: list) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # once-per-process warnings are test_parity's business
        return flat(case.fn(tapegrad, *tensors))


@pytest.mark.parametrize("case", FIRST_ORDER)
def test_first_order_matches_finite_differences(case: Case) -> None:
    rng, arrays, _, g_in = make_inputs(case, "float64")
    outs = _run(case, g_in)
    roots = [k for k, o in enumerate(outs) if o.requires_grad]
    if not roots:  # e.g. argmax: nothing to differentiate, and tapegrad must agree
        assert all(o.grad_fn is None for o in outs)
        return
    ups = [rng.standard_normal(tuple(outs[k].shape)) for k in roots]
    tapegrad.autograd.backward([outs[k] for k in roots], [tapegrad.tensor(u) for u in ups])
    dirs = [
        rng.standard_normal(a.shape) if arg.differentiable else None
        for a, arg in zip(arrays, case.args, strict=True)
    ]
    analytic = sum(
        float(np.vdot(t.grad.numpy(), v))
        for t, v in zip(g_in, dirs, strict=True)
        if v is not None and t.grad is not None
    )

    def objective(sign: float) -> float:
        moved = [a if v is None else a + sign * EPS * v for a, v in zip(arrays, dirs, strict=True)]
        with tapegrad.no_grad():
            res = _run(case, [tapegrad.tensor(a) for a in moved])
        return sum(float(np.vdot(res[k].numpy(), u)) for k, u in zip(roots, ups, strict=True))

    numeric = (objective(1.0) - objective(-1.0)) / (2 * EPS)
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-7), (analytic, numeric)


# ----- higher derivatives against PyTorch ---------------------------------------------------
# name -> (fn(m, *inputs), inputs): each a small composite through the op named.
SECOND_ORDER = {
    "mul": (lambda m, x, y: x * y * x, (N(*S), N(*S))),
    "pow": (lambda m, x, y: x**3 + m.pow(x, y), (P(*S), N(*S))),
    "exp": (lambda m, x: m.exp(x), (N(*S),)),
    "tanh": (lambda m, x: m.tanh(x), (N(*S),)),
    "sigmoid": (lambda m, x: m.sigmoid(x), (N(*S),)),
    "div": (lambda m, x, y: x / y, (N(*S), W(*S))),
    "div-broadcast": (lambda m, x, y: x / y, (N(*S), W(4))),
    "matmul": (lambda m, x, y: (x @ y).tanh(), (N(3, 4), N(4, 5))),
    "matmul-batched": (lambda m, x, y: x @ y, (N(2, 3, 4), N(4, 5))),
    "softmax": (lambda m, x: m.softmax(x, 1), (N(*S),)),
    "log_softmax": (lambda m, x: m.log_softmax(x, -1), (N(*S),)),
    "sum": (lambda m, x: m.sum(x * x, 1), (N(*S),)),
    "mean": (lambda m, x: x.mean(0).exp(), (N(*S),)),
    "logsumexp": (lambda m, x: m.logsumexp(x, 1), (N(*S),)),
    "norm": (lambda m, x: x.norm(dim=1), (N(*S),)),
    "var": (lambda m, x: x.var(1), (N(*S),)),
    "shape-ops": (lambda m, x: (x.t()[1:] * x[:, 1:].t()).reshape(-1), (N(*S),)),
}
THIRD_ORDER = {
    "pow": (lambda m, x: x**4 + x**2.5, (P(*S),)),
    "exp": (lambda m, x: m.exp(x), (N(*S),)),
    "tanh": (lambda m, x: m.tanh(x), (N(*S),)),
    "sin": (lambda m, x: m.sin(x), (N(*S),)),
}


def _derivatives(m, fn, arrays: list, cotangents: list, order: int) -> list:
    """The gradients of orders 1..``order`` of ``fn`` under library ``m``, as numpy arrays; each
    order contracts the previous one's gradients with the next cotangents."""
    xs = [m.tensor(a, requires_grad=True) for a in arrays]
    outs = [fn(m, *xs)]
    ups = cotangents[0]
    found = []
    for k in range(order):
        grads = m.autograd.grad(
            outs, xs, [m.tensor(u) for u in ups], create_graph=k < order - 1, allow_unused=True
        )
        found.append([None if g is None else g.detach().numpy() for g in grads])
        if k < order - 1:
            used = [i for i, g in enumerate(grads) if g is not None]
            outs = [grads[i] for i in used]
            ups = [cotangents[k + 1][i] for i in used]
    return found


def _check_higher(name: str, fn, args: tuple, order: int) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{name}-{order}".encode()))
    arrays = [arg.make(rng, "float64") for arg in args]
    with torch.no_grad():
        out_shape = tuple(fn(torch, *[torch.tensor(a) for a in arrays]).shape)
    cotangents = [[rng.standard_normal(out_shape)]] + [
        [rng.standard_normal(a.shape) for a in arrays] for _ in range(order - 1)
    ]
    expected = _derivatives(torch, fn, arrays, cotangents, order)
    actual = _derivatives(tapegrad, fn, arrays, cotangents, order)
    for k, (got, want) in enumerate(zip(actual, expected, strict=True)):
        assert len(got) == len(want)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert (g is None) == (w is None), f"order {k + 1}, input {i}: None-ness"
            if w is not None:
                np.testing.assert_allclose(
                    g, w, rtol=1e-10, atol=1e-12, err_msg=f"order {k + 1}, input {i}"
                )


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_order_matches_torch(name: str) -> None:
    fn, args = SECOND_ORDER[name]
    _check_higher(name, fn, args, 2)


@pytest.mark.parametrize("name", sorted(THIRD_ORDER))
def test_third_order_matches_torch(name: str) -> None:
    fn, args = THIRD_ORDER[name]
    _check_higher(name, fn, args, 3)


def test_first_order_table_covers_the_differentiable_ops() -> None:
    """The finite-difference loop runs on most of the parity table, not a sliver of it."""
    float_cases = [c for c in CASES if set(c.dtypes) & set(FLOATS)]
    assert len(FIRST_ORDER) > 0.8 * len(float_cases)
