"""Nothing ``tapegrad.compile`` makes outlives what the user holds: compiled modules, compiled
functions, their models and their ops are collected after ``del``; ``split`` and ``unbind``
leave the op table and the stride rules as they found them."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import tapegrad
from tapegrad import nn
from tapegrad._ops._registry import OPS
from tapegrad._ops.shape import STRIDE_RULES


def _model(seed: int) -> nn.Module:
    tapegrad.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 2))


def test_compiled_modules_and_their_ops_are_collected_after_del():
    n_ops = len(OPS)
    refs = []
    x = tapegrad.ones(3, 4)
    for seed in range(3):
        model = _model(seed)
        compiled = tapegrad.compile(model)
        compiled(x).sum().backward()
        compiled.eval()
        compiled(x)
        ops = [p.op for p in compiled._programs.values()]
        assert len(ops) == 2
        refs += [weakref.ref(model), weakref.ref(compiled), *map(weakref.ref, ops)]
        del model, compiled, ops
    assert len(OPS) == n_ops  # the op table holds only ops
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)


def test_a_compiled_module_reads_a_replaced_parameter():
    model, eager = _model(3), _model(3)
    compiled = tapegrad.compile(model)
    x = tapegrad.ones(3, 4)
    compiled(x)
    eager(x)
    for m in (model, eager):
        m[2].weight = nn.Parameter(m[2].weight.detach() * 2)
    compiled(x).sum().backward()
    eager(x).sum().backward()
    np.testing.assert_allclose(
        model[2].weight.grad.numpy(), eager[2].weight.grad.numpy(), rtol=1e-6
    )


def test_compiled_training_steps_are_collected_after_del():
    refs = []
    x, y = tapegrad.ones(3, 4), tapegrad.zeros(3, 2)
    for seed in range(3):
        model = _model(seed)
        opt = tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def step(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            return loss

        compiled = tapegrad.compile(step)
        for _ in range(3):
            compiled(x, y)
        refs += [weakref.ref(model), weakref.ref(opt), weakref.ref(compiled)]
        del model, opt, step, compiled
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)


@pytest.mark.parametrize("m", ["torch", "tapegrad"], indirect=True)
def test_split_and_unbind_at_many_sizes_register_nothing(m):
    n_ops, n_rules = len(OPS), len(STRIDE_RULES)
    for n in (1, 2, 37, 38):  # sizes no other test splits into
        x = m.arange(2.0 * n).reshape(n, 2)
        rows = x.unbind(0)
        assert len(rows) == n
        assert [r.tolist() for r in rows] == x.tolist()
        pieces = x.t().split(1, dim=1)
        assert len(pieces) == n
        assert all(p.is_contiguous() for p in pieces)  # (2, 1) pieces
        (whole,) = x.t().split(n, dim=1)  # one piece: the whole transposed tensor
        assert whole.is_contiguous() == (n == 1)
        (row,) = x[:1].unbind(0)
        assert row.is_contiguous()
    assert x.t().unbind(1)[0].is_contiguous()
    assert not x.t().split(2, dim=1)[0].is_contiguous()
    assert len(OPS) == n_ops
    assert len(STRIDE_RULES) == n_rules
