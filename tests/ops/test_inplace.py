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


# ----- scenarios run on both libraries: every value, flag, version and error must agree -------
def _outcome(mod, scenario):
    """What ``scenario(mod)`` returns, or its exception's type and text."""
    try:
        return scenario(mod)
    except Exception as e:  # the error itself is what is compared
        return f"{type(e).__name__}: {e}"


def _same_on_both(scenario):
    torch = pytest.importorskip("torch")
    import tapegrad

    expected = _outcome(torch, scenario)
    assert _outcome(tapegrad, scenario) == expected
    return expected


VIEWS = {
    "narrow": lambda y: y.narrow(1, 1, 2),
    "select": lambda y: y.select(0, 1),
    "unbind": lambda y: y.unbind(0)[2],
    "split": lambda y: y.split(2, 1)[1],
    "chunk": lambda y: y.chunk(3, 0)[0],
    "diagonal": lambda y: y.diagonal(),
    "t": lambda y: y.t(),
    "transpose": lambda y: y.transpose(0, 1),
    "permute": lambda y: y.permute(1, 0),
    "unsqueeze": lambda y: y.unsqueeze(0),
    "squeeze": lambda y: y.unsqueeze(1).squeeze(1),
    "slices": lambda y: y[None, 1:, ::2],
    "view": lambda y: y.view(2, 6),
    "reshape": lambda y: y.reshape(12),
    "expand-row": lambda y: y[0].expand(1, 4),
    "view-of-view": lambda y: y.t()[1:].narrow(1, 0, 2),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_writes_through_every_view_op_reach_the_base_and_other_views(name):
    def scenario(m):
        base = m.arange(12.0).reshape(3, 4)
        other = base.view(12)
        view = VIEWS[name](base)
        view.add_(100)
        view.mul_(2)
        base[0, 0] = -1.0  # and a write into the base shows through the view
        return (
            base.tolist(),
            other.tolist(),
            view.tolist(),
            (base._version, other._version, view._version),
            view._base is base,
            view.is_contiguous(),
        )

    _same_on_both(scenario)


def test_version_numbers_over_a_sequence_of_in_place_ops():
    def scenario(m):
        x = m.ones(3)
        seen = [x._version]
        x.add_(1)
        x += 1
        x[0] = 5
        x[m.tensor([1])] = 2.0
        seen.append(x._version)
        d = x.detach()
        d.mul_(2)
        seen.append((x._version, d._version))
        data = x.data
        data.mul_(2)
        seen.append((x._version, data._version))
        v = x[1:]
        v.zero_()
        seen.append((x._version, v._version, d._version))
        x.copy_(m.zeros(3))
        x.fill_(1)
        x.zero_()
        seen.append(x._version)
        x.clamp_(0, 1)
        x.exp_()
        x.neg_()
        x.abs_()
        x.sqrt_()
        x.relu_()
        seen.append(x._version)
        x.masked_fill_(x > 0, 1.0)
        x.index_add_(0, m.tensor([0]), m.ones(1))
        x.scatter_(0, m.tensor([2]), 4.0)
        x.normal_()
        x.uniform_()
        seen.append(x._version)
        x **= 2
        x /= 2
        x -= 1
        x *= 3
        seen.append(x._version)
        seen.append((x.clone()._version, (x * 1)._version))
        x.requires_grad_()
        seen.append(x._version)
        return seen

    assert _same_on_both(scenario)[-1] == 24


def test_in_place_ops_on_tensors_that_require_grad_keep_pytorchs_flags_and_names():
    def scenario(m):
        x = m.tensor([0.5, 1.0, 2.0], requires_grad=True)
        out = []
        for op in (
            lambda y: y.add_(1),
            lambda y: y.sub_(m.ones(3)),
            lambda y: y.mul_(x),
            lambda y: y.div_(2),
            lambda y: y.pow_(2),
            lambda y: y.clamp_(0.1, 3.0),
            lambda y: y.relu_(),
            lambda y: y.exp_(),
            lambda y: y.neg_(),
            lambda y: y.abs_(),
            lambda y: y.sqrt_(),
            lambda y: y.zero_(),
            lambda y: y.fill_(2.0),
            lambda y: y.fill_(x[1]),
            lambda y: y.copy_(x),
            lambda y: y.masked_fill_(x > 0.7, 0.0),
            lambda y: y.index_add_(0, m.tensor([1]), x[:1]),
            lambda y: y.scatter_(0, m.tensor([2]), x[:1]),
            lambda y: y.__iadd__(x),
            lambda y: y.__imul__(2.0),
            lambda y: y.__ipow__(2),
        ):
            y = x * 1
            r = op(y)
            y.sum().backward()
            out.append((r is y, y.is_leaf, y.requires_grad, y.grad_fn.name(), y._version))
            out.append([round(g, 5) for g in x.grad.tolist()])
            x.grad = None
        return out

    _same_on_both(scenario)


def test_manual_sgd_under_no_grad_keeps_the_leaf_and_accumulates():
    def scenario(m):
        w = m.tensor([1.0, -2.0, 3.0], requires_grad=True)
        out = []
        for _ in range(3):
            loss = (w * w).sum()
            loss.backward()
            with m.no_grad():
                w -= 0.1 * w.grad
            out.append((w.tolist(), w.grad.tolist(), w.is_leaf, w.requires_grad, w._version))
        w.grad.zero_()
        out.append(w.grad.tolist())
        return out

    _same_on_both(scenario)


def test_gradients_through_writes_into_slices_and_views():
    def scenario(m):
        w = m.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        y = w * 1
        y.view(2, 2)[:, 0].mul_(w[:2])
        y.narrow(0, 2, 2).pow_(2)
        y[1:3].exp_()
        y[3] = w[0] * 5
        (y * m.tensor([1.0, 0.5, 0.25, 2.0])).sum().backward()
        return [round(g, 3) for g in w.grad.tolist()], y.grad_fn.name(), y._version

    _same_on_both(scenario)


def test_a_view_sees_the_history_of_a_base_modified_after_it_was_made():
    def scenario(m):
        x = m.ones(2, 3, requires_grad=True)
        y = x * 1
        v, w = y[0], y[1]
        y.mul_(2)  # v and w were made before: their grad_fn is regenerated from y's new one
        v.mul_(3)  # and a write through v reaches w's history too
        (v.sum() + w.sum()).backward()
        return x.grad.tolist(), v.grad_fn.name(), w.grad_fn.name()

    assert _same_on_both(scenario)[0] == [[6.0] * 3, [2.0] * 3]


def test_a_view_of_a_leaf_modified_under_no_grad_is_regenerated():
    def scenario(m):
        x = m.ones(3, requires_grad=True)
        v = x[:2]
        with m.no_grad():
            x.mul_(2)
        (v * v).sum().backward()
        return x.grad.tolist(), v.grad_fn.name(), v.tolist()

    _same_on_both(scenario)


FAILED_WRITES = {
    "add_-shape": lambda m, x: x.add_(m.ones(4)),
    "copy_-shape": lambda m, x: x.copy_(m.ones(4)),
    "setitem-shape": lambda m, x: x.__setitem__(slice(None), m.ones(2)),
    "setitem-too-many-dims": lambda m, x: x.__setitem__(slice(None), m.ones(2, 3)),
    "mul_-broadcast-grows": lambda m, x: x.mul_(m.ones(2, 3)),
    "int-add_-float": lambda m, x: x.long().add_(1.5),
    "int-mul_-float-tensor": lambda m, x: x.long().mul_(m.tensor([1.5, 1.0, 1.0])),
    "int-div_": lambda m, x: x.long().div_(2),
    "int-sqrt_": lambda m, x: x.long().sqrt_(),
    "int-iadd-float": lambda m, x: x.long().__iadd__(0.5),
    "bool-add_": lambda m, x: x.bool().add_(1),
    "int-normal_": lambda m, x: x.long().normal_(),
    "leaf-add_": lambda m, x: x.requires_grad_().add_(1),
    "leaf-zero_": lambda m, x: x.requires_grad_().zero_(),
    "leaf-setitem": lambda m, x: x.requires_grad_().__setitem__(0, 3.0),
    "leaf-uniform_": lambda m, x: x.requires_grad_().uniform_(),
    "leaf-scatter_": lambda m, x: x.requires_grad_().scatter_(0, m.tensor([0]), 1.0),
    "expanded-add_": lambda m, x: x[:1].expand(3).add_(1),
    "expanded-copy_": lambda m, x: x[:1].expand(2, 3).copy_(m.ones(2, 3)),
    "expanded-setitem": lambda m, x: x[None].expand(2, 3).__setitem__(slice(None), 5.0),
    "scatter_-bad-index": lambda m, x: x.scatter_(0, m.tensor([3]), 1.0),
    "fill_-1d-value": lambda m, x: x.fill_(m.ones(2)),
    "inference-add_": lambda m, x: _inference_ones(m).add_(1),
}


def _inference_ones(m):
    with m.inference_mode():
        return m.ones(3)


@pytest.mark.parametrize("name", sorted(FAILED_WRITES))
def test_a_failed_in_place_op_changes_nothing(name):
    def scenario(m):
        x = m.tensor([1.0, 2.0, 3.0])
        before = x.clone()
        try:
            FAILED_WRITES[name](m, x)
        except RuntimeError as e:
            error = str(e)
        else:
            error = None
        return error, x.tolist(), x._version, x.tolist() == before.tolist()

    error, _, version, unchanged = _same_on_both(scenario)
    assert error is not None
    assert unchanged
    assert version == 0


def test_fills_of_an_expanded_tensor_are_allowed(m):
    e = m.zeros(3).expand(2, 3)
    e.zero_()
    e.fill_(1.0)
    e[0, 0] = 5.0  # one element: the whole column of the expanded view shows it
    assert e.tolist() == [[5.0, 1.0, 1.0], [5.0, 1.0, 1.0]]


def test_masked_fill_of_an_expanded_tensor_warns_as_pytorch(m):
    e = m.zeros(3).expand(2, 3)
    with pytest.warns(UserWarning, match=r"^Use of masked_fill_ on expanded tensors is deprecated"):
        e.masked_fill_(m.ones(2, 3, dtype=m.bool), 1.0)
    with pytest.warns(UserWarning, match=r"^Use of index_put_ on expanded tensors is deprecated"):
        e[m.tensor([0])] = 2.0


REBASE = {
    "unbind-output": lambda m, y: y.unbind(0)[1].mul_(2),
    "split-output": lambda m, y: y.split(1, 0)[0].mul_(2),
    "split-sizes-output": lambda m, y: y.split([1, 1], 0)[0].add_(1),
    "chunk-output": lambda m, y: y.chunk(2, 0)[0].zero_(),
    "view-of-unbind-output": lambda m, y: y.unbind(0)[0][1:].mul_(2),
    "no_grad-view-of-non-leaf": lambda m, y: _no_grad_view(m, y).mul_(2),
    "no_grad-view-then-view": lambda m, y: _no_grad_view(m, y)[1:].mul_(2),
    "plain-unbind-written-with-grad": lambda m, y: m.ones(2, 3).unbind(0)[0].add_(y[0]),
    "unbind-base-modified-then-used": lambda m, y: _use_after_base_write(m, y),
    "unbind-sibling-modified-under-no_grad": lambda m, y: _sibling_written(m, y),
}


def _no_grad_view(m, y):
    with m.no_grad():
        return y[0]


def _use_after_base_write(m, y):
    _, b = y.unbind(0)
    y.mul_(2)
    return (b * 1).sum()


def _sibling_written(m, y):
    a, b = y.unbind(0)
    with m.no_grad():
        a.mul_(2)
    return b.grad_fn


@pytest.mark.parametrize("name", sorted(REBASE))
def test_writes_pytorch_forbids_into_multi_output_and_no_grad_views(name):
    def scenario(m):
        x = m.ones(2, 3, requires_grad=True)
        y = x * 1
        try:
            REBASE[name](m, y)
        except RuntimeError as e:
            return str(e), y.tolist(), y._version
        return None

    error = _same_on_both(scenario)
    assert error is not None


def test_the_same_views_may_be_written_where_pytorch_allows_it():
    def scenario(m):
        plain = m.ones(2, 3)
        plain.unbind(0)[0].mul_(2)  # nothing requires grad
        x = m.ones(2, 3, requires_grad=True)
        y = x * 1
        a, _ = y.unbind(0)
        with m.no_grad():
            a.mul_(3)  # not recorded, so allowed
        with m.no_grad():
            v = y[1]
            v.add_(1)  # made and written under no_grad
        d = y.unbind(0)[1].detach()
        d.mul_(2)  # a detached alias is no view for autograd
        return plain.tolist(), y.tolist(), y._version

    _same_on_both(scenario)


def test_detach_and_data_aliases():
    def scenario(m):
        out = []
        x = m.ones(2, requires_grad=True)
        y = x * 2
        for make in (lambda: y[0:1], lambda: x.detach()[0:1], lambda: m.ones(3)[1:]):
            try:
                make().detach_()
                out.append("detached")
            except RuntimeError as e:
                out.append(str(e))
        z = x * 3
        z.detach_()
        out.append((z.requires_grad, z.is_leaf, z.grad_fn))
        d = y.detach()
        out.append((d._is_view(), d._base is None, d.requires_grad, d._version == y._version))
        a = m.ones(2)
        a.data = m.zeros(3)
        out.append((a.tolist(), a._version))
        out.append((x.clone().grad_fn.name(), x.data.requires_grad, x.data.is_leaf))
        q = m.zeros(2, 3)
        q.copy_(m.tensor([1, 2, 3]))
        out.append((q.tolist(), str(q.dtype)))
        n = m.zeros(2, dtype=m.int32)
        n.copy_(m.tensor([1.7, -2.7]))
        out.append((n.tolist(), str(n.dtype)))
        return out

    _same_on_both(scenario)


def test_writes_through_data_are_invisible_to_autograd(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    x.data.mul_(10)  # no version bump: backward runs, on the overwritten values (PyTorch too)
    y.sum().backward()
    assert x.grad.tolist() == [20.0, 40.0]
    assert x._version == 0


SETITEM_FORMS = {
    "int": lambda m: ((0,), 9.0),
    "negative-int-and-slice": lambda m: ((-1, slice(1, None)), m.tensor([7.0, 8.0])),
    "ellipsis": lambda m: ((Ellipsis, 1), 9.0),
    "none": lambda m: ((None, 0), 9.0),
    "step-slice": lambda m: ((slice(None, None, 2),), 9.0),
    "lists": lambda m: (([0, 1], [1, 2]), 9.0),
    "bool-mask-rows": lambda m: ((m.tensor([True, False]),), 9.0),
    "int-and-list": lambda m: ((1, [0, 2]), m.tensor([3.0, 4.0])),
    "0-d-index-tensor": lambda m: ((m.tensor(1),), 5.0),
    "2-d-index-tensor": lambda m: ((slice(None), m.tensor([[0], [2]])), 1.0),
    "bool-mask-elements": lambda m: ((m.tensor([[True, False, True], [False, True, False]]),), 0.0),
    "broadcast-row": lambda m: ((slice(None),), m.tensor([1.0, 2.0, 3.0])),
    "int-tensor-value": lambda m: ((0,), m.tensor([1, 2, 3])),
    "float-into-int": lambda m: ((0, 0), 2.7),
}


@pytest.mark.parametrize("name", sorted(SETITEM_FORMS))
def test_setitem_with_every_index_form_matches_torch(name):
    def scenario(m):
        x = m.arange(6.0).reshape(2, 3)
        i = m.arange(6).reshape(2, 3)
        index, value = SETITEM_FORMS[name](m)
        x[index] = value
        if not isinstance(value, m.Tensor) or not value.dtype.is_floating_point:
            i[index] = value
        return x.tolist(), x._version, i.tolist(), i._version

    _same_on_both(scenario)


@pytest.mark.parametrize(
    ("name", "args"),
    [("absolute_", ()), ("negative_", ()), ("clip_", (0.0, 1.0))],
)
def test_in_place_aliases_match_pytorch(m, name, args):
    x = m.tensor([-1.5, 0.25, 2.0], requires_grad=True)
    y = x * 1
    out = getattr(y, name)(*args)
    assert out is y
    assert y._version == 1
    out.sum().backward()
    record = (y.detach().tolist(), y.grad_fn.name(), x.grad.tolist(), m.absolute(x).tolist())
    expected = {
        "absolute_": ([1.5, 0.25, 2.0], "AbsBackward0", [-1.0, 1.0, 1.0]),
        "negative_": ([1.5, -0.25, -2.0], "NegBackward0", [-1.0, -1.0, -1.0]),
        "clip_": ([0.0, 0.25, 1.0], "ClampBackward1", [0.0, 1.0, 0.0]),
    }[name]
    assert record == (*expected, [1.5, 0.25, 2.0])
