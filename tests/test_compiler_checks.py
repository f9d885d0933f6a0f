"""``tapegrad.compile`` checks index values as eager code does: an out-of-range index raises
PyTorch's exception and text after the call, and the call leaves every piece of state (values,
``.grad``, optimizer state, version counters, the random key) as it found it."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad
from tapegrad import nn

torch = pytest.importorskip("torch")


def _functional(m):
    return torch.nn.functional if m is torch else tapegrad.nn.functional


def _rows(i):
    return i.reshape(2, 1).expand(2, 3)


# name -> (lambda m, W, i: an indexing op on W (4 x 3) with the indices i, oracle)
CASES = {
    "getitem": lambda m, W, i: W[i],
    "getitem_after_slice": lambda m, W, i: W[:, 1:][i],
    "getitem_second_dim": lambda m, W, i: W.t()[:, i],
    "setitem": lambda m, W, i: W.clone().__setitem__(i, 1.0),
    "setitem_tensor": lambda m, W, i: W.clone().__setitem__((i, 0), m.ones(2)),
    "gather": lambda m, W, i: W.gather(0, _rows(i)),
    "scatter": lambda m, W, i: W.clone().scatter_(0, _rows(i), m.ones(2, 3)),
    "scatter_add": lambda m, W, i: W.clone().scatter_add_(0, _rows(i), m.ones(2, 3)),
    "embedding": lambda m, W, i: _functional(m).embedding(i, W),
    "cross_entropy": lambda m, W, i: _functional(m).cross_entropy(W[:2], i),
    "nll_loss": lambda m, W, i: _functional(m).nll_loss(W[:2], i),
}


def _error_of(fn):
    with pytest.raises(Exception) as info:  # noqa: PT011  (the oracle says which)
        fn()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_out_of_range_index_under_compile_raises_what_pytorch_raises(name):
    op = CASES[name]
    error, message = _error_of(
        lambda: op(torch, torch.arange(12.0).reshape(4, 3), torch.tensor([0, 9]))
    )
    W = tapegrad.arange(12.0).reshape(4, 3)
    compiled = tapegrad.compile(lambda i: op(tapegrad, W, i))
    good = compiled(tapegrad.tensor([0, 1]))
    expected = op(torch, torch.arange(12.0).reshape(4, 3), torch.tensor([0, 1]))
    if expected is not None:
        np.testing.assert_allclose(good.numpy(), expected.numpy(), rtol=1e-6)
    with pytest.raises(error, match=re.escape(message)):
        compiled(tapegrad.tensor([0, 9]))
    with pytest.raises(error, match=re.escape(message)):  # eager tapegrad: the same
        op(tapegrad, W, tapegrad.tensor([0, 9]))
    assert compiled.trace_count == 1  # the same program, its check failed


def test_the_example_of_the_issue():
    W = tapegrad.arange(12.0).reshape(4, 3)
    f = tapegrad.compile(lambda i: W[i])
    assert f(tapegrad.tensor([0, 3])).tolist() == [[0.0, 1.0, 2.0], [9.0, 10.0, 11.0]]
    with pytest.raises(IndexError, match="index 9 is out of bounds for dimension 0 with size 4"):
        f(tapegrad.tensor([0, 9]))
    with pytest.raises(IndexError, match="index -5 is out of bounds for dimension 0 with size 4"):
        f(tapegrad.tensor([-5, 1]))
    assert f(tapegrad.tensor([-1, 1])).tolist() == [[9.0, 10.0, 11.0], [3.0, 4.0, 5.0]]


def test_index_add_under_compile_raises_what_eager_tapegrad_raises():
    acc = tapegrad.zeros(4, 3)
    f = tapegrad.compile(lambda i: acc.index_add_(0, i, tapegrad.ones(2, 3)).sum())
    assert f(tapegrad.tensor([0, 1])).item() == 6.0
    error, message = _error_of(
        lambda: tapegrad.zeros(4, 3).index_add_(0, tapegrad.tensor([0, 9]), tapegrad.ones(2, 3))
    )
    with pytest.raises(error, match=re.escape(message)):
        f(tapegrad.tensor([0, 9]))
    assert acc.sum().item() == 6.0  # the failed call added nothing


def _embedding_model(seed: int) -> nn.Module:
    tapegrad.manual_seed(seed)
    return nn.Sequential(nn.Embedding(5, 4), nn.Dropout(0.5), nn.Linear(4, 2))


def _snapshot(model, opt):
    return {
        "values": [p.detach().numpy().copy() for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.numpy().copy() for p in model.parameters()],
        "grad_objects": [p.grad for p in model.parameters()],
        "versions": [p._version for p in model.parameters()],
        "state": [
            {k: v.numpy().copy() for k, v in opt.state[p].items()} for p in model.parameters()
        ],
        "key": tapegrad.get_rng_state().tolist(),
    }


def _assert_same_snapshot(a: dict, b: dict) -> None:
    assert a["key"] == b["key"]
    assert a["versions"] == b["versions"]
    assert all(x is y for x, y in zip(a["grad_objects"], b["grad_objects"], strict=True))
    for x, y in zip(a["values"], b["values"], strict=True):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a["grads"], b["grads"], strict=True):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a["state"], b["state"], strict=True):
        assert list(x) == list(y)
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])


def test_a_training_step_with_a_bad_batch_raises_and_changes_nothing():
    eager_model, compiled_model = _embedding_model(0), _embedding_model(0)
    eager_opt = tapegrad.optim.Adam(eager_model.parameters(), lr=0.1)
    compiled_opt = tapegrad.optim.Adam(compiled_model.parameters(), lr=0.1)

    def make(model, opt):
        def step(i, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(i).sum(1), y)
            loss.backward()
            opt.step()
            return loss

        return step

    eager, compiled = (
        make(eager_model, eager_opt),
        tapegrad.compile(make(compiled_model, compiled_opt)),
    )
    i, y = tapegrad.tensor([[0, 1], [2, 4], [3, 3]]), tapegrad.tensor([0, 1, 1])
    tapegrad.manual_seed(1)
    for _ in range(3):
        compiled(i, y)
    w = compiled_model[0].weight
    saved = (w * w).sum()  # a graph that saved the weight before the failed call
    before = _snapshot(compiled_model, compiled_opt)
    with pytest.raises(IndexError, match="index out of range in self"):
        compiled(tapegrad.tensor([[0, 1], [2, 5], [3, 3]]), y)  # row 5 of 5
    _assert_same_snapshot(_snapshot(compiled_model, compiled_opt), before)
    with pytest.raises(IndexError, match=r"Target 2 is out of bounds\."):
        compiled(i, tapegrad.tensor([0, 2, 1]))
    _assert_same_snapshot(_snapshot(compiled_model, compiled_opt), before)
    saved.backward()  # the weight's version did not move: the graph is still valid
    compiled_losses = [compiled(i, y).item() for _ in range(2)]
    # The same five good steps eagerly, from the same key: the failed calls left no trace.
    tapegrad.manual_seed(1)
    eager_losses = [eager(i, y).item() for _ in range(5)]
    np.testing.assert_allclose(compiled_losses, eager_losses[3:], rtol=2e-5)
    for pa, pb in zip(compiled_model.parameters(), eager_model.parameters(), strict=True):
        np.testing.assert_allclose(pa.detach().numpy(), pb.detach().numpy(), rtol=2e-5, atol=1e-6)
    assert compiled.trace_count <= 2


def test_a_compiled_module_checks_its_indices_before_writing_its_buffers():
    tapegrad.manual_seed(2)
    model = nn.Sequential(nn.Embedding(5, 4), nn.BatchNorm1d(2))
    compiled = tapegrad.compile(model)
    i = tapegrad.tensor([[0, 1], [2, 4], [3, 3]])
    compiled(i).sum().backward()
    bn = model[1]
    before = (bn.running_mean.numpy().copy(), bn.num_batches_tracked.item())
    key = tapegrad.get_rng_state().tolist()
    with pytest.raises(IndexError, match="index out of range in self"):
        compiled(tapegrad.tensor([[0, 1], [2, 7], [3, 3]]))
    np.testing.assert_array_equal(bn.running_mean.numpy(), before[0])
    assert bn.num_batches_tracked.item() == before[1]
    assert tapegrad.get_rng_state().tolist() == key
    compiled(i).sum().backward()
    assert bn.num_batches_tracked.item() == before[1] + 1


class _Stop(Exception):
    pass


def _raise_after_step(model, opt, kind):
    loss_fn = nn.MSELoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        with tapegrad.no_grad():
            model[0].weight.mul_(0.5)
        if kind == "python":
            raise _Stop("the user's own error")
        if kind == "op":
            return model(x) + tapegrad.ones(7)  # PyTorch's broadcast error
        return loss.item()  # untraceable

    return step


@pytest.mark.parametrize("kind", ["python", "op", "untraceable"])
@pytest.mark.parametrize("warm", [False, True], ids=["first-call", "after-steps"])
def test_a_failed_call_leaves_values_grads_optimizer_state_and_versions(kind, warm):
    tapegrad.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5), nn.Linear(3, 2))
    opt = tapegrad.optim.Adam(model.parameters(), lr=0.1)
    x, y = tapegrad.ones(5, 4), tapegrad.zeros(5, 2)
    if warm:  # grads and Adam state exist; the failing function is compiled afterwards
        good = tapegrad.compile(_make_step(model, opt))
        for _ in range(3):
            good(x, y)
    failing = tapegrad.compile(_raise_after_step(model, opt, kind))
    w = model[0].weight
    saved = (w * w).sum()  # saves w at its current version
    state_dicts = {p: opt.state[p] for p in model.parameters() if p in opt.state}
    before = _snapshot(model, opt)
    expected = {
        "python": _Stop,
        "op": RuntimeError,
        "untraceable": tapegrad.compiler.UntraceableError,
    }
    for _ in range(2):
        with pytest.raises(expected[kind]):
            failing(x, y)
        _assert_same_snapshot(_snapshot(model, opt), before)
    assert all(opt.state[p] is d for p, d in state_dicts.items())
    saved.backward()  # PyTorch's graph is still valid: nothing modified w
    np.testing.assert_allclose(
        w.grad.numpy(), 2 * before["values"][0] + (before["grads"][0] if warm else 0), rtol=1e-6
    )


def _make_step(model, opt):
    loss_fn = nn.MSELoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step
