"""In-place ops on tensors and on views, compared with PyTorch: values, versions, history and
gradients (the CopySlices rule for writes into views of tensors that require grad)."""

import pytest

pytest.importorskip("torch")

CASES = {
    "mul_-on-row": lambda m, y: y[0].mul_(2),
    "add_-on-transpose": lambda m, y: y.t().add_(1),
    "setitem-column": lambda m, y: y.__setitem__((slice(None), 1), m.tensor([5.0, 6.0])),
    "setitem-scalar": lambda m, y: y.__setitem__((1, 2), 7.0),
    "zero_-on-slice": lambda m, y: y[:, 1:].zero_(),
    "fill_-on-view": lambda m, y: y.view(6)[2:4].fill_(3.0),
    "exp_-on-row": lambda m, y: y[1].exp_(),
    "iadd-on-row": lambda m, y: y[0].__iadd__(y[1].detach()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_write_into_view_of_non_leaf_matches_torch(m, name):
    x = m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    y = x.clone()
    CASES[name](m, y)
    loss = (y * y).sum()
    loss.backward()
    result = (y.tolist(), y.grad_fn.name(), y._version, x.grad.tolist())
    expected = {
        "mul_-on-row": ([[2, 4, 6], [4, 5, 6]], 1, [[8, 16, 24], [8, 10, 12]]),
        "add_-on-transpose": ([[2, 3, 4], [5, 6, 7]], 1, [[4, 6, 8], [10, 12, 14]]),
        "setitem-column": ([[1, 5, 3], [4, 6, 6]], 1, [[2, 0, 6], [8, 0, 12]]),
        "setitem-scalar": ([[1, 2, 3], [4, 5, 7]], 1, [[2, 4, 6], [8, 10, 0]]),
        "zero_-on-slice": ([[1, 0, 0], [4, 0, 0]], 1, [[2, 0, 0], [8, 0, 0]]),
        "fill_-on-view": ([[1, 2, 3], [3, 5, 6]], 1, [[2, 4, 0], [0, 10, 12]]),
    }
    assert result[1] == "torch::autograd::CopySlices"
    if name in expected:
        values, version, grad = expected[name]
        assert result[0] == values
        assert result[2] == version
        assert result[3] == grad


def test_write_into_view_matches_torch_numerically(m):
    import numpy as np

    x = m.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], requires_grad=True)
    y = x * 1.0
    y[1].mul_(m.tensor([2.0, 3.0, 4.0]))
    y[:, 0].add_(3.0)
    y.sin().sum().backward()
    torch = pytest.importorskip("torch")
    xt = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], requires_grad=True)
    yt = xt * 1.0
    yt[1].mul_(torch.tensor([2.0, 3.0, 4.0]))
    yt[:, 0].add_(3.0)
    yt.sin().sum().backward()
    np.testing.assert_allclose(np.array(y.tolist()), yt.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.array(x.grad.tolist()), xt.grad.numpy(), rtol=1e-6)


def test_view_history_is_regenerated_after_the_write(m):
    x = m.ones(2, 3, requires_grad=True)
    y = x.clone()
    v = y[0]
    v.mul_(2)
    assert v.grad_fn.name() == "AsStridedBackward0"
    assert y.grad_fn.name() == "torch::autograd::CopySlices"
    assert (y._version, v._version) == (1, 1)


def test_writing_a_result_that_requires_grad_into_a_plain_tensor(m):
    s = m.tensor(2.0, requires_grad=True)
    w = m.zeros(3)
    w[1] = s * 3
    assert w.requires_grad
    assert w.grad_fn.name() == "torch::autograd::CopySlices"
    w.sum().backward()
    assert s.grad.item() == 3.0


def test_view_of_leaf_that_requires_grad_refuses_the_write(m):
    x = m.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[0].mul_(2)
    assert x._version == 0
    assert x.tolist() == [1.0, 1.0]
    with m.no_grad():
        x[0] = 5.0
    assert x.tolist() == [5.0, 1.0]
    assert x.is_leaf
    assert x.requires_grad


ADVANCED = {
    "mask": lambda m, z: z.__setitem__(z > 3.5, 0.0),
    "int-index": lambda m, z: z.__setitem__(m.tensor([0]), 3.0),
    "pair-of-index-tensors": lambda m, z: z.__setitem__(
        (m.tensor([1, 0]), m.tensor([2, 1])), m.tensor([10.0, 20.0])
    ),
    "slice-and-index": lambda m, z: z.__setitem__(
        (slice(None), m.tensor([0, 2])), m.tensor([7.0, 8.0])
    ),
}


@pytest.mark.parametrize("name", sorted(ADVANCED))
def test_setitem_with_index_tensors_matches_torch(m, name):
    torch = pytest.importorskip("torch")
    results = []
    for mod in (m, torch):
        x = mod.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        z = x.clone()
        ADVANCED[name](mod, z)
        (z * z).sum().backward()
        results.append((z.tolist(), z.grad_fn.name(), z._version, x.grad.tolist()))
    assert results[0] == results[1]
    assert results[0][1] == "IndexPutBackward0"


def test_setitem_with_index_tensor_on_an_integer_tensor(m):
    w = m.zeros(5, dtype=m.int64)
    w[m.tensor([1, 3])] = 7
    assert w.tolist() == [0, 7, 0, 7, 0]
    assert w._version == 1


FILLS = {
    "masked_fill_-scalar": lambda m, y: y.masked_fill_(y > 2.5, 2.0),
    "masked_fill-tensor-value": lambda m, y: y.masked_fill(
        m.tensor([True, False, True]), m.tensor(5.0)
    ),
    "index_add_-alpha": lambda m, y: y.index_add_(
        1, m.tensor([0, 2]), m.tensor([[1.0, 2.0], [3.0, 4.0]]), alpha=2
    ),
    "index_add-dim0": lambda m, y: y.index_add(0, m.tensor([1]), m.ones(1, 3)),
}


@pytest.mark.parametrize("name", sorted(FILLS))
def test_masked_fill_and_index_add_match_torch(m, name):
    torch = pytest.importorskip("torch")
    results = []
    for mod in (m, torch):
        x = mod.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        y = FILLS[name](mod, x * 1.0)
        (y * y).sum().backward()
        results.append(
            (y.tolist(), y.grad_fn.name(), len(y.grad_fn.next_functions), x.grad.tolist())
        )
    assert results[0] == results[1]


def test_masked_fill_refuses_a_float_mask(m):
    x = m.ones(3)
    with pytest.raises(RuntimeError, match="masked_fill_ only supports boolean masks"):
        x.masked_fill(x, 1.0)


@pytest.mark.parametrize(
    ("method", "args", "node"),
    [
        ("normal_", (), "NormalBackward0"),
        ("uniform_", (0.0, 1.0), "UniformBackward0"),
    ],
)
def test_random_fills_follow_torchs_autograd_rules(m, method, args, node):
    x = m.ones(3, requires_grad=True)
    y = x * 2
    getattr(y, method)(*args)
    assert y.grad_fn.name() == node
    assert y._version == 1
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        getattr(x, method)(*args)
    with m.no_grad():
        getattr(x, method)(*args)
    assert (x.is_leaf, x.requires_grad, x._version) == (True, True, 1)
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        getattr(m.ones(2, dtype=m.int64), method)(*args)


def test_random_fills_are_seeded_and_have_the_asked_distribution():
    import numpy as np

    import tapegrad as tg

    tg.manual_seed(0)
    a = np.array(tg.empty(4000).normal_(2.0, 3.0).tolist())
    tg.manual_seed(0)
    b = np.array(tg.empty(4000).normal_(2.0, 3.0).tolist())
    assert (a == b).all()
    assert abs(a.mean() - 2.0) < 0.3
    assert abs(a.std() - 3.0) < 0.3
    u = np.array(tg.empty(4000).uniform_(-2.0, 5.0).tolist())
    assert u.min() >= -2.0
    assert u.max() < 5.0
    assert abs(u.mean() - 1.5) < 0.2
