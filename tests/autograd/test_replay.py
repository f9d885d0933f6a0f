"""Backward of a graph whose structure repeats runs as one jitted replay from its second
occurrence on: every step of these loops must still give PyTorch's gradients, ``.grad``
identities and versions, hooks, errors and released graphs."""

import numpy as np
import pytest

pytest.importorskip("torch")

W = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], np.float32)
X = np.array([[1.0, 2.0], [-0.5, 0.3], [2.0, -1.0], [0.1, 0.4]], np.float32)


def _step(m, w, x):
    h = m.tanh(x @ w)
    a, _unused = h.split([2, 1], dim=1)  # a multi-output node, one output unused
    return (a * a).sum() + (h * 0.5).relu().mean() + w.exp().sum()


def test_repeated_backward_matches_torch_and_accumulates(m):
    w = m.tensor(W, requires_grad=True)
    x = m.tensor(X)
    seen = []  # (PyTorch's InputBuffer sums in place, so its .grad versions differ: not compared)
    for i in range(4):
        loss = _step(m, w, x)
        if i == 2:
            w.grad = None
        held = w.grad
        loss.backward()
        assert (held is None) or (w.grad is held)  # accumulated in place into the same tensor
        seen.append(w.grad.numpy().copy())
    torch = pytest.importorskip("torch")
    t = torch.tensor(W, requires_grad=True)
    for i, grad in enumerate(seen):
        loss = _step(torch, t, torch.tensor(X))
        if i == 2:
            t.grad = None
        loss.backward()
        np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_replay_is_bitwise_the_engine():
    import tapegrad
    from tapegrad._kernel_cache import KERNELS
    from tapegrad.autograd import _replay

    def plans() -> list:
        return [key for key in KERNELS if key[0] == "replay"]

    def run(compile_after):
        old = _replay._COMPILE_AFTER
        _replay._COMPILE_AFTER = compile_after
        try:
            w = tapegrad.tensor(W, requires_grad=True)
            out = []
            for _ in range(3):
                _step(tapegrad, w, tapegrad.tensor(X)).backward()
                out.append((w.grad.numpy().copy(), w.grad._version))
            return out
        finally:
            _replay._COMPILE_AFTER = old

    KERNELS.discard(lambda key, _: key[0] == "replay")
    replayed = run(1)
    assert plans()
    for (a, va), (b, vb) in zip(run(10**9), replayed, strict=True):
        np.testing.assert_array_equal(a, b)
        assert va == vb


def test_hooks_added_later_still_run(m):
    w = m.tensor(W, requires_grad=True)
    calls = []
    for i in range(3):
        y = (w * 2).sum()
        if i == 2:
            y.grad_fn.register_hook(lambda gi, go: calls.append("node"))
            w.register_hook(lambda g: calls.append("leaf"))
        y.backward()
    assert calls == ["node", "leaf"]
    assert w.grad.tolist() == [[6.0] * 3] * 2


def test_released_graph_and_retain_graph(m):
    w = m.tensor(W, requires_grad=True)
    for _ in range(3):
        y = (w * w).sum()
        y.backward(retain_graph=True)
        y.backward()
        with pytest.raises(RuntimeError, match="Trying to backward through the graph a second"):
            y.backward()
    assert w.grad.tolist() == (12 * W).tolist()


def test_saved_tensor_modified_in_place_raises(m):
    w = m.tensor(W, requires_grad=True)
    for i in range(3):
        h = w * 1
        y = (h * h).sum()
        if i == 2:
            h.add_(1)
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                y.backward()
        else:
            y.backward()
    assert w.grad.tolist() == (4 * W).tolist()


def test_leaf_that_stopped_requiring_grad(m):
    w = m.tensor(W, requires_grad=True)
    v = m.tensor(W, requires_grad=True)
    for i in range(3):
        y = (w * v).sum()
        if i == 2:
            v.requires_grad_(False)
        y.backward()
    assert w.grad.tolist() == (3 * W).tolist()
    assert v.grad.tolist() == (2 * W).tolist()


def test_a_new_batch_size_replays_its_first_backward():
    import jax

    import tapegrad
    from tapegrad._kernel_cache import KERNELS

    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, duration, **kw: (
            compiles.append(1) if event == "/jax/core/compile/backend_compile_duration" else None
        )
    )

    def replays() -> int:
        return sum(1 for key in KERNELS if key[0] == "replay")

    x7 = np.random.default_rng(0).standard_normal((7, 2)).astype(np.float32)
    w = tapegrad.tensor(W, requires_grad=True)
    for _ in range(3):  # batch 4: the engine, then a replay from the second step on
        _step(tapegrad, w, tapegrad.tensor(X)).backward()
    before = replays()
    _step(tapegrad, w, tapegrad.tensor(x7)).backward()  # a new batch size: replayed at once
    assert replays() == before + 1
    n = len(compiles)
    _step(tapegrad, w, tapegrad.tensor(x7)).backward()
    assert len(compiles) == n  # nothing left to compile at this size
    torch = pytest.importorskip("torch")
    t = torch.tensor(W, requires_grad=True)
    for x in (X, X, X, x7, x7):
        _step(torch, t, torch.tensor(x)).backward()
    np.testing.assert_allclose(w.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-6)
