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


def _check_fresh_values(run, case, x_np, **tol):
    """``run(m, case, v, x_np)`` with values 1, 2, 3 (compiling once, forward and backward and
    the backward's replay), then with ``FRESH`` values: no compiles, and torch's results."""
    for v in (1, 2, 3):
        run(tg, case, v, x_np)
    with _no_compiles():
        got = [run(tg, case, v, x_np) for v in FRESH]
    for v, (out, grad) in zip(FRESH, got, strict=True):
        want_out, want_grad = run(torch, case, v, x_np)
        np.testing.assert_allclose(out, want_out, **tol)
        np.testing.assert_allclose(grad, want_grad, **tol)


@pytest.mark.parametrize("case", list(CASES))
def test_a_new_value_compiles_nothing_and_matches_torch(case):
    x_np = np.random.default_rng(0).standard_normal(20).astype(np.float32)
    _check_fresh_values(_run, case, x_np, rtol=1e-6, atol=1e-7)


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


# ----- advanced indexing, index_put, alphas, losses, norms, padding (issue 11, second part) -----
def _setitem(y, index, value):
    y[index] = value
    return y


F64_CASES = {
    # advanced indexing: the ints and slice starts next to index tensors are values
    "index tensor, int": lambda m, x, v: x.view(4, 5)[m.tensor([0, 2, 2]), v % 5],
    "index int, tensor": lambda m, x, v: x.view(4, 5)[v % 4, m.tensor([1, 3])],
    "index tensor, slice": lambda m, x, v: x.view(4, 5)[m.tensor([3, 0]), v % 3 : v % 3 + 2],
    "index tensor, step": lambda m, x, v: x.view(4, 5)[m.tensor([1]), v % 3 : v % 3 + 3 : 2],
    # PyTorch selects with the int first: the slice's dim stays in front of the tensor's
    "index int, slice, tensor": lambda m, x, v: x.view(20, 1, 1)[v, :, m.tensor([0, 0])],
    "index mask, slice": lambda m, x, v: x.view(4, 5)[
        m.tensor([True, False, True, True]), v % 4 : v % 4 + 1
    ],
    # x[i] = value, x[a:b] = value (basic) and index_put (advanced), value's gradient too
    "setitem int": lambda m, x, v: _setitem(x * 1, v, x[0] * 3),
    "setitem slice": lambda m, x, v: _setitem(x * 1, slice(v, v + 3), x[:3] * 2),
    "index_put tensor, int": lambda m, x, v: _setitem(
        x.view(4, 5) * 1, (m.tensor([0, 2]), v % 5), x[:2] * 2
    ),
    "index_put tensor, slice": lambda m, x, v: _setitem(
        x.view(4, 5) * 1, (m.tensor([1, 3]), slice(v % 3, v % 3 + 2)), x[:2] * 2
    ),
    "index_put int, slice, tensor": lambda m, x, v: _setitem(
        x.view(20, 1, 1) * 1, (v, slice(None), m.tensor([0])), x[:1] * 2
    ),
    # alphas
    "rsub alpha": lambda m, x, v: m.rsub(x, 2.0, alpha=v / 3),
    "rsub tensor alpha": lambda m, x, v: m.rsub(x, x * x, alpha=v / 3),
    "index_add alpha": lambda m, x, v: x.index_add(0, m.tensor([0, 7, 7]), x[:3] * 2, alpha=v / 3),
    # other numbers
    "round decimals": lambda m, x, v: m.round(x * 3, decimals=v),
    "round negative decimals": lambda m, x, v: m.round(x * 1e15, decimals=-v),
    "var correction": lambda m, x, v: x.view(4, 5).var(1, correction=v / 4),
    "std correction": lambda m, x, v: x.std(correction=v / 4),
    "pad value": lambda m, x, v: m.nn.functional.pad(x.view(4, 5), (1, 2, 0, 1), value=v / 3),
    "avg_pool2d divisor_override": lambda m, x, v: m.nn.functional.avg_pool2d(
        x.view(1, 4, 5), 2, divisor_override=v
    ),
    "embedding padding_idx": lambda m, x, v: m.nn.functional.embedding(
        m.tensor([0, v, 3, v]), x.view(20, 1), padding_idx=v
    ),
    # losses
    "smooth_l1 beta": lambda m, x, v: m.nn.functional.smooth_l1_loss(
        x, m.zeros(20, dtype=m.float64), beta=v / 10
    ),
    "smooth_l1 beta none": lambda m, x, v: m.nn.functional.smooth_l1_loss(
        x, x.detach() / 2, reduction="none", beta=v / 10
    ),
    "cross_entropy label_smoothing": lambda m, x, v: m.nn.functional.cross_entropy(
        x.view(4, 5), m.tensor([0, 4, 1, 1]), label_smoothing=v / 20
    ),
    "cross_entropy label_smoothing sum": lambda m, x, v: m.nn.functional.cross_entropy(
        x.view(4, 5), m.tensor([0, 4, 1, 1]), reduction="sum", label_smoothing=v / 20
    ),
    "cross_entropy probabilities label_smoothing": lambda m, x, v: m.nn.functional.cross_entropy(
        x.view(4, 5), m.full((4, 5), 0.2, dtype=m.float64), label_smoothing=v / 20
    ),
    "cross_entropy ignore_index": lambda m, x, v: m.nn.functional.cross_entropy(
        x.view(4, 5), m.tensor([0, v, 1, 4]), ignore_index=v
    ),
    "cross_entropy ignore_index label_smoothing": lambda m, x, v: m.nn.functional.cross_entropy(
        x.view(4, 5), m.tensor([v, 3, 1, v]), ignore_index=v, label_smoothing=0.25
    ),
    "nll_loss ignore_index": lambda m, x, v: m.nn.functional.nll_loss(
        x.view(2, 5, 2), m.tensor([[0, v], [v, 4]]), ignore_index=v
    ),
    # norms
    "batch_norm train": lambda m, x, v: m.nn.functional.batch_norm(
        x.view(4, 5),
        m.zeros(5, dtype=m.float64),
        m.ones(5, dtype=m.float64),
        training=True,
        momentum=v / 20,
        eps=v / 100,
    ),
    "batch_norm eval": lambda m, x, v: m.nn.functional.batch_norm(
        x.view(4, 5), m.zeros(5, dtype=m.float64), m.ones(5, dtype=m.float64) * 2, eps=v / 100
    ),
    "layer_norm eps": lambda m, x, v: m.nn.functional.layer_norm(
        x.view(4, 5), (5,), m.ones(5, dtype=m.float64) * 2, eps=v / 100
    ),
}


def _run_f64(m, case, v, x_np):
    x = m.tensor(x_np, requires_grad=True)
    out = F64_CASES[case](m, x, v)
    (out * m.tensor(np.linspace(0.5, 1.5, out.numel())).view(out.shape)).sum().backward()
    return out.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("case", list(F64_CASES))
def test_new_values_of_indices_alphas_and_loss_parameters_compile_nothing(case):
    x_np = np.random.default_rng(1).standard_normal(20)
    _check_fresh_values(_run_f64, case, x_np, rtol=1e-12, atol=1e-12)


def test_batch_norm_running_statistics_with_new_momentum_compile_nothing():
    x_np = np.random.default_rng(2).standard_normal((6, 3)).astype(np.float32)

    def step(m, stats, momentum):
        x = m.tensor(x_np)
        m.nn.functional.batch_norm(x, *stats, training=True, momentum=momentum)

    ours = (tg.zeros(3), tg.ones(3))
    for momentum in (0.1, 0.2, 0.25):
        step(tg, ours, momentum)
    with _no_compiles():
        for momentum in (0.3, 0.05, 0.5):
            step(tg, ours, momentum)
    want = (torch.zeros(3), torch.ones(3))
    for momentum in (0.1, 0.2, 0.25, 0.3, 0.05, 0.5):
        step(torch, want, momentum)
    for a, b in zip(ours, want, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
        assert a._version == b._version == 0


def test_dropout_with_new_probabilities_compiles_nothing():
    x = tg.ones(100, requires_grad=True)
    for p in (0.1, 0.2, 0.25):  # the third backward compiles its replay
        out = tg.nn.functional.dropout(x, p)
        out.sum().backward()
        out.detach().numpy()  # deferred ops run (and compile) when a value is read
    with _no_compiles():
        for p in (0.3, 0.45, 0.7):
            out = tg.nn.functional.dropout(x, p)
            out.sum().backward()
            kept = out.detach().numpy()
            np.testing.assert_allclose(kept[kept != 0], 1 / (1 - p), rtol=1e-6)


def test_values_keep_their_python_type_in_the_result():
    # PyTorch's pad value is a double (2**60 + 1 pads as 2**60), truncated into an int tensor;
    # index_add's alpha keeps its Python type (an int alpha scales an int tensor exactly).
    for value in (2**60 + 1, -3, 2.9, -2.9, True):
        ours = tg.nn.functional.pad(tg.tensor([1, 2]), (1, 1), value=value)
        want = torch.nn.functional.pad(torch.tensor([1, 2]), (1, 1), value=value)
        assert ours.tolist() == want.tolist()
        assert ours.dtype.name == "int64"
    for m in (tg, torch):
        big = m.tensor([1, 2**60])
        out = big.index_add(0, m.tensor([1]), m.tensor([1]), alpha=3)
        assert out.tolist() == [1, 2**60 + 3]


@pytest.mark.parametrize(
    "index",
    [
        lambda m: (1, slice(None), m.tensor([0, 2])),
        lambda m: (m.tensor([2, 0]), slice(1, 4, 2), 3),
        lambda m: (slice(None), 2, None, m.tensor([[4], [1]])),
    ],
)
def test_ints_next_to_index_tensors_select_first_as_in_pytorch(index):
    # PyTorch applies ints and slices before the index tensors: x[1, :, t] has shape
    # (4, len(t)), where numpy's rule (the int is an advanced index too) gives (len(t), 4).
    a = np.arange(60.0).reshape(3, 4, 5)
    ours, want = tg.tensor(a), torch.tensor(a)
    got, expected = ours[index(tg)], want[index(torch)]
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    value = np.linspace(-1.0, 1.0, expected.numel()).reshape(tuple(expected.shape))
    ours[index(tg)] = tg.tensor(value)
    want[index(torch)] = torch.tensor(value)
    np.testing.assert_array_equal(ours.numpy(), want.numpy())


SECOND_ORDER = {
    "index tensor, slice": lambda m, x, v: x[m.tensor([0, 2]), v : v + 2] ** 3,
    "index_put tensor, int": lambda m, x, v: _setitem(x * x, (m.tensor([1]), v), x[0, 0] ** 3),
    "layer_norm eps": lambda m, x, v: m.nn.functional.layer_norm(x, (5,), eps=v / 10),
    "var correction": lambda m, x, v: x.var(1, correction=v / 4),
    "pad value": lambda m, x, v: m.nn.functional.pad(x**2, (1, 1), value=v / 3),
}


@pytest.mark.parametrize("case", list(SECOND_ORDER))
def test_second_order_gradients_through_new_values_match_torch(case):
    a = np.random.default_rng(3).standard_normal((4, 5))
    for v in (1, 2, 3):
        got = []
        for m in (tg, torch):
            x = m.tensor(a, requires_grad=True)
            (g,) = m.autograd.grad(SECOND_ORDER[case](m, x, v).sum(), x, create_graph=True)
            (g * g).sum().backward()
            got.append((g.detach().numpy(), x.grad.numpy()))
        (g, gg), (want_g, want_gg) = got
        np.testing.assert_allclose(g, want_g, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gg, want_gg, rtol=1e-12, atol=1e-12)
