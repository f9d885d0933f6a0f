"""Loss modules against PyTorch: constructor arguments, ``weight`` / ``pos_weight`` buffers,
values, dtypes, ``grad_fn`` names and input gradients for every reduction."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest

import tapegrad

torch = pytest.importorskip("torch")

TOL = {"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)}
REDUCTIONS = ("mean", "sum", "none")


class Case(NamedTuple):
    build: Callable  # (m, reduction) -> loss module
    input: tuple  # input shape
    target: str  # "normal", "prob" (in (0, 1)), "class" (indices) or "class-ignore"
    input_kind: str = "normal"  # "prob": probabilities in (0, 1), for BCELoss


def _weight(m, n):
    return m.tensor(np.linspace(0.5, 2.0, n).astype(np.float32))


CASES = {
    "MSELoss": Case(lambda m, r: m.nn.MSELoss(reduction=r), (4, 3), "normal"),
    "L1Loss": Case(lambda m, r: m.nn.L1Loss(reduction=r), (4, 3), "normal"),
    "SmoothL1Loss": Case(lambda m, r: m.nn.SmoothL1Loss(reduction=r), (4, 3), "normal"),
    "SmoothL1Loss-beta": Case(
        lambda m, r: m.nn.SmoothL1Loss(reduction=r, beta=0.5), (4, 3), "normal"
    ),
    "CrossEntropyLoss": Case(lambda m, r: m.nn.CrossEntropyLoss(reduction=r), (4, 3), "class"),
    "CrossEntropyLoss-weight-ignore": Case(
        lambda m, r: m.nn.CrossEntropyLoss(_weight(m, 3), ignore_index=1, reduction=r),
        (4, 3),
        "class",
    ),
    "CrossEntropyLoss-smoothing": Case(
        lambda m, r: m.nn.CrossEntropyLoss(reduction=r, label_smoothing=0.1), (4, 3), "class"
    ),
    "CrossEntropyLoss-probabilities": Case(
        lambda m, r: m.nn.CrossEntropyLoss(reduction=r), (4, 3), "simplex"
    ),
    "NLLLoss": Case(lambda m, r: m.nn.NLLLoss(reduction=r), (4, 3), "class"),
    "NLLLoss-weight-ignore": Case(
        lambda m, r: m.nn.NLLLoss(weight=_weight(m, 3), ignore_index=0, reduction=r),
        (4, 3),
        "class",
    ),
    "BCELoss": Case(lambda m, r: m.nn.BCELoss(reduction=r), (4, 3), "prob", "prob"),
    "BCELoss-weight": Case(
        lambda m, r: m.nn.BCELoss(weight=_weight(m, 3), reduction=r), (4, 3), "prob", "prob"
    ),
    "BCEWithLogitsLoss": Case(lambda m, r: m.nn.BCEWithLogitsLoss(reduction=r), (4, 3), "prob"),
    "BCEWithLogitsLoss-pos-weight": Case(
        lambda m, r: m.nn.BCEWithLogitsLoss(
            weight=_weight(m, 3), reduction=r, pos_weight=m.tensor([1.0, 2.0, 0.5])
        ),
        (4, 3),
        "prob",
    ),
}


def make_arrays(name: str, case: Case, dtype: str):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    n = case.input[0]
    if case.input_kind == "prob":
        x = rng.uniform(0.05, 0.95, case.input)
    else:
        x = rng.standard_normal(case.input)
    if name.startswith("NLLLoss"):
        x = x - np.log(np.exp(x).sum(1, keepdims=True))  # log-probabilities
    if case.target == "class":
        target = np.array([0, 2, 1, 1], dtype=np.int64)[:n]
    elif case.target == "simplex":
        p = rng.uniform(0.1, 1.0, case.input)
        target = (p / p.sum(1, keepdims=True)).astype(dtype)
    elif case.target == "prob":
        target = rng.uniform(0.0, 1.0, case.input).astype(dtype)
    else:
        target = rng.standard_normal(case.input).astype(dtype)
    return x.astype(dtype), target


PARAMS = [(n, r, d) for n in sorted(CASES) for r in REDUCTIONS for d in ("float32", "float64")]


@pytest.mark.parametrize(("name", "reduction", "dtype"), PARAMS)
def test_loss_module_matches_torch(name, reduction, dtype):
    case = CASES[name]
    tloss, gloss = case.build(torch, reduction), case.build(tapegrad, reduction)
    if dtype == "float64":
        tloss.double()
        gloss.double()
    assert repr(gloss) == repr(tloss)
    x, target = make_arrays(name, case, dtype)
    tx = torch.tensor(x, requires_grad=True)
    gx = tapegrad.tensor(x, requires_grad=True)
    tout = tloss(tx, torch.tensor(target))
    gout = gloss(gx, tapegrad.tensor(target))
    rtol, atol = TOL[dtype]
    assert str(gout.dtype) == str(tout.dtype)
    assert tuple(gout.shape) == tuple(tout.shape)
    np.testing.assert_allclose(gout.detach().numpy(), tout.detach().numpy(), rtol=rtol, atol=atol)
    assert type(gout.grad_fn).__name__ == type(tout.grad_fn).__name__
    upstream = np.random.default_rng(2).standard_normal(tuple(tout.shape)).astype(dtype)
    tout.backward(torch.tensor(upstream))
    gout.backward(tapegrad.tensor(upstream))
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)


BUFFERS = {
    "MSELoss": (lambda m: m.nn.MSELoss(), []),
    "CrossEntropyLoss": (lambda m: m.nn.CrossEntropyLoss(), []),
    "CrossEntropyLoss-weight": (lambda m: m.nn.CrossEntropyLoss(m.ones(3)), ["weight"]),
    "NLLLoss-weight": (lambda m: m.nn.NLLLoss(weight=m.ones(3)), ["weight"]),
    "BCELoss-weight": (lambda m: m.nn.BCELoss(m.ones(3)), ["weight"]),
    "BCEWithLogitsLoss": (
        lambda m: m.nn.BCEWithLogitsLoss(pos_weight=m.ones(3)),
        ["pos_weight"],
    ),
    "BCEWithLogitsLoss-both": (
        lambda m: m.nn.BCEWithLogitsLoss(m.ones(3), pos_weight=m.ones(3)),
        ["weight", "pos_weight"],
    ),
}


@pytest.mark.parametrize("name", sorted(BUFFERS))
def test_weights_are_buffers(m, name):
    build, expected = BUFFERS[name]
    loss = build(m)
    assert [n for n, _ in loss.named_buffers()] == expected
    assert list(loss.state_dict()) == expected
    assert list(loss.parameters()) == []
    loss.double()
    assert all(b.dtype == m.float64 for b in loss.buffers())


def test_constructor_attributes(m):
    ce = m.nn.CrossEntropyLoss(ignore_index=3, reduction="sum", label_smoothing=0.2)
    assert (ce.ignore_index, ce.reduction, ce.label_smoothing) == (3, "sum", 0.2)
    assert ce.weight is None
    nll = m.nn.NLLLoss()
    assert (nll.ignore_index, nll.reduction) == (-100, "mean")
    assert m.nn.SmoothL1Loss(beta=0.3).beta == 0.3
    assert m.nn.BCEWithLogitsLoss().pos_weight is None
    assert repr(m.nn.BCEWithLogitsLoss(pos_weight=m.ones(2))) == "BCEWithLogitsLoss()"
    assert repr(m.nn.SmoothL1Loss(beta=0.3)) == "SmoothL1Loss()"


@pytest.mark.parametrize(
    ("size_average", "reduce", "expected"),
    [(None, False, "none"), (False, None, "sum"), (True, True, "mean")],
)
def test_legacy_size_average_and_reduce(m, size_average, reduce, expected):
    with pytest.warns(UserWarning, match=f"please use reduction='{expected}' instead"):
        loss = m.nn.MSELoss(size_average=size_average, reduce=reduce)
    assert loss.reduction == expected


def test_loss_in_a_training_step_matches_torch():
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 3))
    gmodel = tapegrad.nn.Sequential(tapegrad.nn.Linear(4, 3))
    gmodel.load_state_dict({k: tapegrad.tensor(v.numpy()) for k, v in tmodel.state_dict().items()})
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    results = []
    for m, model in ((torch, tmodel), (tapegrad, gmodel)):
        loss = m.nn.CrossEntropyLoss()(model(m.tensor(x)), m.tensor([2, 0]))
        loss.backward()
        results.append((loss.item(), model[0].weight.grad.numpy()))
    (expected_loss, expected_grad), (ours_loss, ours_grad) = results
    assert ours_loss == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(ours_grad, expected_grad, rtol=1e-5, atol=1e-7)
