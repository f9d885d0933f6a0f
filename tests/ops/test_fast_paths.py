"""The eager fast paths give PyTorch's results: a deferred ``scalar * tensor`` fused into the
``add``/``sub`` that consumes it (``p -= lr * p.grad``), read on its own, written into, or
used after its input changed."""

import numpy as np
import pytest

pytest.importorskip("torch")

P = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], np.float32)
G = np.array([[0.1, 0.2, -0.3], [-0.4, 0.5, 0.6]], np.float32)


def test_manual_sgd_update_matches_torch(m):
    p = m.tensor(P, requires_grad=True)
    (p * p).sum().backward()
    with m.no_grad():
        for _ in range(3):
            p -= 0.1 * p.grad
            p += p.grad * 0.05
    np.testing.assert_allclose(p.detach().numpy(), P - 3 * 0.05 * 2 * P, rtol=1e-6)
    assert (p._version, p.requires_grad, p.grad_fn, p.is_leaf) == (6, True, None, True)
    np.testing.assert_array_equal(p.grad.numpy(), 2 * P)  # the gradient is left as it was


def test_scaled_tensor_read_on_its_own(m):
    g = m.tensor(G)
    u = 0.5 * g
    assert (u.dtype, u.shape, u.requires_grad, u.grad_fn) == (m.float32, (2, 3), False, None)
    v = p = m.tensor(P)
    p -= u  # fused with the pending product: u itself stays readable
    np.testing.assert_array_equal(u.numpy(), G * np.float32(0.5))
    np.testing.assert_allclose(v.numpy(), P - G * 0.5, rtol=1e-6)
    assert str(2.0 * m.tensor([1.0, 2.0])) == "tensor([2., 4.])"


def test_scaled_tensor_keeps_the_value_its_input_had(m):
    g = m.tensor(G)
    u = g * 2.0
    g.zero_()  # after the product: u still holds 2 * G
    w = m.tensor(P)
    w -= u
    np.testing.assert_allclose(w.numpy(), P - 2 * G, rtol=1e-6)
    np.testing.assert_array_equal(u.numpy(), 2 * G)


def test_scaled_tensor_written_in_place_and_used_with_grad(m):
    u = 3.0 * m.tensor(G)
    u.add_(1.0)
    np.testing.assert_allclose(u.numpy(), 3 * G + 1, rtol=1e-6)
    s = 2.0 * m.tensor(G)
    s.requires_grad_()
    x = m.tensor(P, requires_grad=True)
    y = x - s
    assert y.grad_fn.name() == "SubBackward0"
    y.sum().backward()
    np.testing.assert_array_equal(s.grad.numpy(), -np.ones_like(G))


def test_scaled_integer_and_double_tensors_promote_as_torch(m):
    i = m.tensor([1, 2, 3])
    assert (0.5 * i).dtype == m.float32
    assert (i - 0.5 * i).tolist() == [0.5, 1.0, 1.5]
    d = m.tensor([1.0, 2.0], dtype=m.float64)
    f = m.tensor([1.0, 2.0])
    assert (f + 0.5 * d).dtype == m.float64
    f += 0.5 * d
    assert (f.dtype, f.tolist()) == (m.float32, [1.5, 3.0])


def test_fused_update_errors_are_torchs(m):
    i = m.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired"):
        i -= 0.5 * m.tensor([1.0, 2.0, 3.0])
    assert i.tolist() == [1, 2, 3]
    p = m.tensor(P)
    with pytest.raises(RuntimeError, match=r"output with shape \[2, 3\] doesn't match"):
        p -= 0.5 * m.ones(4, 2, 3)
    with pytest.raises(RuntimeError, match="The size of tensor a"):
        p -= 0.5 * m.ones(4)
    with pytest.raises(RuntimeError, match="with a bool tensor is not supported"):
        m.tensor([True]) - 0.5 * m.ones(1)
    np.testing.assert_array_equal(p.numpy(), P)


def test_fused_update_in_inference_mode(m):
    with m.inference_mode():
        p = m.tensor(P)
        p -= 0.1 * m.tensor(G)
        assert p.is_inference()
        q = m.tensor(P) - 0.1 * m.tensor(G)
        assert q.is_inference()
    np.testing.assert_allclose(p.numpy(), P - 0.1 * G, rtol=1e-6)


def test_the_update_runs_one_fused_kernel():
    import tapegrad
    from tapegrad._storage import DeferredStorage

    p = tapegrad.tensor(P)
    u = 0.1 * tapegrad.tensor(G)
    assert type(u._storage) is DeferredStorage
    p -= u
    assert u._storage.pending is not None  # the product never ran on its own
    u.numpy()
    assert u._storage.pending is None


def test_fused_update_rounds_as_torchs_two_kernels(rng):
    import torch

    import tapegrad

    p0 = rng.standard_normal((50, 40)).astype(np.float32)
    g0 = rng.standard_normal((50, 40)).astype(np.float32)
    out = []
    for m in (torch, tapegrad):
        p, g = m.tensor(p0), m.tensor(g0)
        for lr in (1e-4, 0.3, 1.7):
            p -= lr * g
            p += g * lr / 3
        out.append(p.numpy())
    np.testing.assert_array_equal(out[1], out[0])
