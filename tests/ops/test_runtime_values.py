"""Python values that change from call to call (slice starts, indices, bounds, slopes,
exponents) reach the kernels as runtime arguments: a new value compiles nothing, forward or
backward, and the results stay PyTorch's."""

from __future__ import annotations

import contextlib

import jax
import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

_COMPILES = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: (
        _COMPILES.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
)


@contextlib.contextmanager
def _no_compiles():
    before = len(_COMPILES)
    yield
    assert len(_COMPILES) == before, f"{len(_COMPILES) - before} new XLA compiles"


CASES = {
    "slice": lambda m, x, v: x[v : v + 3],
    "slice step": lambda m, x, v: x[v : v + 5 : 2],
    "int index": lambda m, x, v: x[v],
    "2-d index": lambda m, x, v: x.view(4, 5)[v % 4, v % 3 : v % 3 + 2],
    "narrow": lambda m, x, v: x.narrow(0, v, 4),
    "select": lambda m, x, v: x.view(4, 5).select(1, v % 5),
    "clamp max": lambda m, x, v: x.clamp(max=v / 10),
    "clamp both": lambda m, x, v: x.clamp(-v / 10, v / 7),
    "add scalar": lambda m, x, v: x + v,
    "mul scalar": lambda m, x, v: x * (v / 3),
    "pow": lambda m, x, v: x.abs() ** (v / 3 + 0.1),
    "leaky_relu": lambda m, x, v: m.nn.functional.leaky_relu(x, v / 100),
    "softplus": lambda m, x, v: m.nn.functional.softplus(x, beta=v / 4, threshold=v),
}
FRESH = (5, 7, 11, 13)


def _run(m, case, v, x_np):
    x = m.tensor(x_np, requires_grad=True)
    out = CASES[case](m, x, v)
    out.sum().backward()
    return out.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("case", list(CASES))
def test_a_new_value_compiles_nothing_and_matches_torch(case):
    x_np = np.random.default_rng(0).standard_normal(20).astype(np.float32)
    for v in (1, 2, 3):  # compile once, forward and backward (and the backward's replay)
        _run(tg, case, v, x_np)
    with _no_compiles():
        got = [_run(tg, case, v, x_np) for v in FRESH]
    for v, (out, grad) in zip(FRESH, got, strict=True):
        want_out, want_grad = _run(torch, case, v, x_np)
        np.testing.assert_allclose(out, want_out, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-7)


def test_batches_sliced_at_random_offsets_compile_nothing():
    # The bigram language model's get_batch: 32 slices at random offsets, stacked.
    data = tg.arange(1000)
    rng = np.random.default_rng(0)

    def get_batch():
        ix = rng.integers(0, 990, 32)
        return tg.stack([data[i : i + 8] for i in ix]), ix

    get_batch()
    get_batch()
    with _no_compiles():
        batch, ix = get_batch()
    np.testing.assert_array_equal(batch.numpy(), np.stack([np.arange(i, i + 8) for i in ix]))


def test_views_at_new_offsets_read_and_write_through_without_compiling():
    base = tg.zeros(10)
    for i in (0, 1):
        base[i : i + 2].add_(1.0)
        base.narrow(0, i + 1, 2).mul_(2.0)
    with _no_compiles():
        for i in (3, 5, 7):
            base[i : i + 2].add_(1.0)
            base.narrow(0, i + 1, 2).mul_(2.0)
    expected = torch.zeros(10)
    for i in (0, 1, 3, 5, 7):
        expected[i : i + 2].add_(1.0)
        expected.narrow(0, i + 1, 2).mul_(2.0)
    np.testing.assert_array_equal(base.numpy(), expected.numpy())


def test_second_order_gradients_through_a_sliced_value():
    for i in (1, 2, 3):
        x = tg.tensor([1.0, 2.0, 3.0, 4.0, 5.0], requires_grad=True)
        y = (x[i : i + 2] ** 3).sum()
        (g,) = tg.autograd.grad(y, x, create_graph=True)
        g.sum().backward()
        expected = np.zeros(5)
        expected[i : i + 2] = 6 * np.arange(i + 1, i + 3)
        np.testing.assert_allclose(x.grad.numpy(), expected)


def test_alpha_and_fill_values_compile_nothing():
    p = tg.ones(6)
    g = tg.full((6,), 2.0)
    for lr in (0.1, 0.2):
        p.add_(g, alpha=-lr)
        p.sub_(g, alpha=lr / 2)
        tg.zeros(3).fill_(lr)
    with _no_compiles():
        for lr in (0.3, 0.4, 0.5):
            p.add_(g, alpha=-lr)
            p.sub_(g, alpha=lr / 2)
            filled = tg.zeros(3).fill_(lr)
    want = torch.ones(6)
    for lr in (0.1, 0.2, 0.3, 0.4, 0.5):
        want.add_(torch.full((6,), 2.0), alpha=-lr)
        want.sub_(torch.full((6,), 2.0), alpha=lr / 2)
    np.testing.assert_array_equal(p.numpy(), want.numpy())
    np.testing.assert_array_equal(filled.numpy(), torch.zeros(3).fill_(0.5).numpy())
