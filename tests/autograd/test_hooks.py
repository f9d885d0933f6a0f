"""Tensor hooks, retain_grad hooks and Node pre/post hooks, with PyTorch as the oracle.

Tests taking the fixture ``m`` run on ``torch`` and on ``tapegrad`` with the same literal
expectations; ``*_matches_torch`` tests compare logs recorded on both.
"""

from __future__ import annotations

import re

import pytest

import tapegrad


def _vals(gs):
    return tuple(None if g is None else g.tolist() for g in gs)


# ----- Tensor.register_hook ---------------------------------------------------------------------
def test_leaf_hook_sees_and_replaces_the_gradient(m):
    seen = []
    x = m.tensor([1.0, 2.0], requires_grad=True)

    def hook(g):
        seen.append((g.tolist(), g.requires_grad))
        return g * 10

    x.register_hook(hook)
    (x * x).sum().backward()
    assert seen == [([2.0, 4.0], False)]
    assert x.grad.tolist() == [20.0, 40.0]


def test_non_leaf_hook_changes_what_flows_on(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: g + 1)
    (y * 2).sum().backward()
    assert x.grad.tolist() == [9.0, 9.0]  # (2 + 1) * 3


def test_hooks_run_in_registration_order(m):
    log = []
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: log.append(("first", g.tolist())))
    y.register_hook(lambda g: g * 10)
    y.register_hook(lambda g: log.append(("third", g.tolist())))
    x.register_hook(lambda g: log.append(("leaf", g.tolist())))
    y.sum().backward()
    assert log == [("first", [1.0, 1.0]), ("third", [10.0, 10.0]), ("leaf", [20.0, 20.0])]


def test_hook_returning_none_or_its_argument_changes_nothing(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: None)
    x.register_hook(lambda g: g)
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_handle_remove(m):
    log = []
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    h1 = y.register_hook(lambda g: log.append("y"))
    h2 = x.register_hook(lambda g: g * 100)
    h1.remove()
    h2.remove()
    h2.remove()  # removing twice is harmless
    y.sum().backward()
    assert (log, x.grad.tolist()) == ([], [1.0, 1.0])


def test_handle_as_context_manager(m):
    log = []
    x = m.tensor([1.0], requires_grad=True)
    with x.register_hook(lambda g: log.append("in")):
        (x * 1).sum().backward()
    (x * 1).sum().backward()
    assert log == ["in"]


def test_hook_runs_on_every_backward(m):
    log = []
    x = m.tensor([1.0], requires_grad=True)
    x.register_hook(lambda g: log.append(g.item()))
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    assert (log, x.grad.tolist()) == ([2.0, 3.0], [5.0])


def test_hook_added_during_backward_waits_for_the_next_one(m):
    log = []
    x = m.tensor([1.0], requires_grad=True)

    def first(g):
        log.append("first")
        x.register_hook(lambda g: log.append("late"))

    x.register_hook(first)
    (x * 2).sum().backward()
    assert log == ["first"]


def test_hook_with_retain_grad_runs_before_it(m):
    # The retains_grad hook always runs last, whatever the registration order.
    for retain_first in (True, False):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        if retain_first:
            y.retain_grad()
        y.register_hook(lambda g: g * 10)
        if not retain_first:
            y.retain_grad()
        y.sum().backward()
        assert (y.grad.tolist(), x.grad.tolist()) == ([10.0, 10.0], [20.0, 20.0])


def test_leaf_retain_grad_and_hook(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    x.retain_grad()
    x.register_hook(lambda g: g * 10)
    (x * 1).sum().backward()
    assert x.grad.tolist() == [10.0, 10.0]


def test_hook_on_tensor_without_grad(m):
    with pytest.raises(
        RuntimeError, match=r"^cannot register a hook on a tensor that doesn't require gradient$"
    ):
        m.ones(2).register_hook(lambda g: g)


def test_hook_called_with_none_for_outputs_without_gradient(m):
    log = []
    x = m.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    a, b = x.unbind()
    b.register_hook(lambda g: log.append(("b", g)))
    a.register_hook(lambda g: log.append(("a", g.tolist())))
    a.sum().backward()
    assert log == [("b", None), ("a", [1.0, 1.0])]
    assert x.grad.tolist() == [[1.0, 1.0], [0.0, 0.0]]


def test_hook_sees_a_differentiable_gradient_under_create_graph(m):
    seen = []
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x**3
    y.register_hook(lambda g: seen.append(g.requires_grad))
    x.register_hook(lambda g: seen.append(g.requires_grad))
    (g,) = m.autograd.grad(y.sum(), x, create_graph=True)
    assert seen == [False, True]
    assert g.tolist() == [3.0, 12.0]


def test_hook_exception_propagates_and_restores_grad_mode(m):
    x = m.tensor([1.0], requires_grad=True)

    def bad(g):
        raise ValueError("from hook")

    x.register_hook(bad)
    with pytest.raises(ValueError, match="from hook"):
        (x * 2).sum().backward()
    assert m.is_grad_enabled()


# ----- errors from hook results ------------------------------------------------------------------
def _named_hook(g):
    return g[:1]


@pytest.mark.parametrize("leaf", [True, False])
@pytest.mark.parametrize(
    ("hook", "name"),
    [(lambda g: g.sum(), "<lambda>"), (_named_hook, "_named_hook")],
)
def test_hook_changing_the_size(m, leaf, hook, name):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    t = x if leaf else x * 1
    t.register_hook(hook)
    with pytest.raises(RuntimeError) as info:
        (t * 1).sum().backward()
    assert str(info.value) == f"hook '{name}' has changed the size of value"


def test_hook_without_a_name(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)

    class Hook:
        def __call__(self, g):
            return m.ones(3)

    x.register_hook(Hook())
    with pytest.raises(RuntimeError) as info:
        (x * 1).sum().backward()
    assert str(info.value) == "hook '<unknown>' has changed the size of value"


def test_hook_changing_the_dtype(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)

    def to_double(g):
        return g.double()

    x.register_hook(to_double)
    with pytest.raises(RuntimeError) as info:
        (x * 1).sum().backward()
    assert str(info.value) == (
        "hook 'to_double' has changed the type of value (was torch.FloatTensor got "
        "torch.DoubleTensor)"
    )


@pytest.mark.parametrize(("value", "typename"), [(3, "int"), ([1.0, 2.0], "list"), ("g", "str")])
def test_hook_returning_a_non_tensor(m, value, typename):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: value)
    with pytest.raises(TypeError) as info:
        (x * 1).sum().backward()
    assert str(info.value) == f"expected Variable, but hook returned '{typename}'"


def test_hook_replacing_a_missing_gradient(m):
    x = m.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    a, b = x.unbind()
    b.register_hook(lambda g: m.ones(2))
    with pytest.raises(RuntimeError) as info:
        a.sum().backward()
    assert str(info.value) == "can't replace a None gradient with a non-None value"


# ----- Node.register_prehook / register_hook -----------------------------------------------------
def test_node_hooks_see_gradients(m):
    log = []
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.grad_fn.register_prehook(lambda go: log.append(("pre", _vals(go))))
    y.grad_fn.register_hook(lambda gi, go: log.append(("post", _vals(gi), _vals(go))))
    (y * 3).sum().backward()
    assert log == [
        ("pre", ([3.0, 3.0],)),
        ("post", ([3.0, 3.0], None), ([3.0, 3.0],)),  # one grad_input per next_functions entry
    ]


def test_prehook_replaces_grad_outputs(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.grad_fn.register_prehook(lambda go: (go[0] * 2,))
    (y * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]


def test_posthook_replaces_grad_inputs(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.grad_fn.register_hook(lambda gi, go: (gi[0] * 2, None))
    (y * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]


def test_posthook_none_entries_drop_gradients(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    w = m.tensor([3.0, 4.0], requires_grad=True)
    y = x * w
    y.grad_fn.register_hook(lambda gi, go: (None, gi[1]))
    y.sum().backward()
    assert (x.grad, w.grad.tolist()) == (None, [1.0, 2.0])


def test_nodes_with_only_missing_gradients_still_run_their_hooks(m):
    log = []
    x = m.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: log.append(("x hook", g)))
    y = x * 2
    y.register_hook(lambda g: log.append(("y hook", g)))
    y.grad_fn.register_prehook(lambda go: log.append(("y pre", go)))
    y.grad_fn.register_hook(lambda gi, go: log.append(("y post", gi, go)))
    acc = y.grad_fn.next_functions[0][0]
    acc.register_prehook(lambda go: log.append(("acc pre", go)))
    acc.register_hook(lambda gi, go: log.append(("acc post", gi, go)))
    z = y * 1
    z.grad_fn.register_hook(lambda gi, go: (None, None))
    z.sum().backward()
    assert log == [
        ("y hook", None),
        ("y pre", (None,)),
        ("y post", (None, None), (None,)),
        ("x hook", None),
        ("acc pre", (None,)),
        ("acc post", (), (None,)),
    ]
    assert x.grad is None


def test_accumulate_grad_hooks(m):
    log = []
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    acc = y.grad_fn.next_functions[0][0]
    x.register_hook(lambda g: log.append(("tensor", g.tolist())))
    acc.register_prehook(lambda go: log.append(("pre", _vals(go))) or (go[0] + 1,))
    acc.register_hook(lambda gi, go: log.append(("post", gi, _vals(go))))
    y.sum().backward()
    assert log == [("tensor", [2.0, 2.0]), ("pre", ([2.0, 2.0],)), ("post", (), ([3.0, 3.0],))]
    assert x.grad.tolist() == [3.0, 3.0]


def test_hook_order_on_a_non_leaf(m):
    # tensor hooks, then retain_grad, then the node's pre-hooks, the node, its post-hooks
    log = []
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.grad_fn.register_prehook(lambda go: log.append(("pre", _vals(go))) or (go[0] * 5,))
    y.register_hook(lambda g: log.append(("tensor", g.tolist())) or g + 1)
    y.grad_fn.register_hook(lambda gi, go: log.append(("post", _vals(gi), _vals(go))))
    y.sum().backward()
    assert log == [
        ("tensor", [1.0, 1.0]),
        ("pre", ([2.0, 2.0],)),
        ("post", ([20.0, 20.0], None), ([10.0, 10.0],)),
    ]
    assert (y.grad.tolist(), x.grad.tolist()) == ([2.0, 2.0], [20.0, 20.0])


def test_node_hook_handle_remove(m):
    log = []
    x = m.tensor([1.0], requires_grad=True)
    y = x * 1
    h1 = y.grad_fn.register_prehook(lambda go: log.append("pre"))
    h2 = y.grad_fn.register_hook(lambda gi, go: log.append("post"))
    h1.remove()
    h2.remove()
    y.sum().backward()
    assert log == []


def test_node_hook_returning_a_tensor(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.grad_fn.register_hook(lambda gi, go: gi[0])
    with pytest.raises(TypeError) as info:
        y.sum().backward()
    assert str(info.value) == "expected tuple, but hook returned 'Tensor'"


def test_prehook_returning_a_tensor(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.grad_fn.register_prehook(lambda go: go[0])
    with pytest.raises(TypeError) as info:
        y.sum().backward()
    assert str(info.value) == "expected tuple, but hook returned 'Tensor'"


def test_node_hook_returning_too_many_values(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1

    def three(gi, go):
        return (gi[0], None, None)

    y.grad_fn.register_hook(three)
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    assert str(info.value) == (
        "hook 'three' has returned an incorrect number of values (got 3, but expected 2)"
    )


def test_node_hook_filling_a_missing_gradient(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1

    def fill(gi, go):
        return (gi[0], gi[0])

    y.grad_fn.register_hook(fill)
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    assert str(info.value) == "can't replace a None gradient with a non-None value"


def test_prehook_changing_the_dtype(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1

    def pre(go):
        return (go[0].double(),)

    y.grad_fn.register_prehook(pre)
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    assert str(info.value) == (
        "hook 'pre' has changed the type of value (was torch.FloatTensor got torch.DoubleTensor)"
    )


def test_node_hooks_in_autograd_grad(m):
    log = []
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    z = y * 2
    y.grad_fn.register_prehook(lambda go: log.append("y pre"))
    z.grad_fn.register_hook(lambda gi, go: log.append("z post"))
    x.register_hook(lambda g: log.append("x tensor hook"))
    (g,) = m.autograd.grad(z.sum(), x)
    assert g.tolist() == [4.0, 8.0]
    assert log == ["z post", "y pre", "x tensor hook"]
    assert x.grad is None


def test_grad_captures_before_the_hooks_of_a_needed_node(m):
    # y's node must run (x lies behind it), and its captured gradient is the one it received,
    # before y's own tensor hook; the hook's result flows on to x and into y.grad.
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g * 10)
    gy, gx = m.autograd.grad((y * y).sum(), [y, x])
    assert (gy.tolist(), gx.tolist(), y.grad.tolist()) == ([4.0, 8.0], [80.0, 160.0], [40.0, 80.0])


def test_grad_runs_the_hooks_of_a_captured_leaf(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (g,) = m.autograd.grad((x * x).sum(), x)
    assert (g.tolist(), x.grad) == ([20.0, 40.0], None)


def test_hook_error_messages_are_pytorchs():
    from tapegrad.autograd import _errors

    x = tapegrad.tensor([1.0])
    assert re.fullmatch(r"hook 'h' has changed the size of value", _errors.hook_changed_size("h"))
    assert _errors.hook_changed_type("h", x, x.double()) == (
        "hook 'h' has changed the type of value (was torch.FloatTensor got torch.DoubleTensor)"
    )
    assert _errors.hook_not_tensor(x) == "expected Variable, but hook returned 'Tensor'"


@pytest.mark.parametrize("where", ["leaf", "non_leaf", "prehook", "posthook"])
def test_hook_writing_into_the_gradient_in_place(m, where):
    # A hook receives the gradient itself: an in-place write changes what flows on.
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1

    def scale(*args):
        g = args[0][0] if isinstance(args[0], tuple) else args[0]
        g.mul_(10)

    register = {
        "leaf": x.register_hook,
        "non_leaf": y.register_hook,
        "prehook": y.grad_fn.register_prehook,
        "posthook": y.grad_fn.register_hook,
    }[where]
    register(scale)
    (y * 3).sum().backward()
    assert x.grad.tolist() == [30.0, 30.0]


def test_hooks_and_in_place_ops(m):
    log = []
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.register_hook(lambda g: log.append(("before", g.tolist())))
    y.mul_(3)
    y.register_hook(lambda g: log.append(("after", g.tolist())))
    (y * 2).sum().backward()
    assert log == [("after", [2.0, 2.0]), ("before", [6.0, 6.0])]
    assert x.grad.tolist() == [6.0, 6.0]


def test_retain_grad_follows_in_place_ops(m):
    # PyTorch moves the retain_grad hook to the tensor's new grad_fn (rebase_history).
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.retain_grad()
    y.mul_(3)
    (y * 2).sum().backward()
    assert y.grad.tolist() == [2.0, 2.0]
