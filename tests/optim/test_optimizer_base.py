"""The Optimizer base against PyTorch's: parameter groups and their defaults, argument
validation errors, zero_grad, repr, state_dict layout and load_state_dict."""

import io
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import tapegrad  # noqa: E402

OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


def outcome(fn, m):
    """What ``fn(m)`` does: ('ok', None) or (exception type name, message)."""
    try:
        fn(m)
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return "ok", None


def leaf(m, *values):
    return m.tensor(list(values) or [1.0, 2.0], requires_grad=True)


BAD_ARGUMENTS = {
    "sgd-lr": lambda m: m.optim.SGD([leaf(m)], lr=-1.0),
    "sgd-int-lr": lambda m: m.optim.SGD([leaf(m)], lr=-1),
    "sgd-momentum": lambda m: m.optim.SGD([leaf(m)], momentum=-0.5),
    "sgd-weight-decay": lambda m: m.optim.SGD([leaf(m)], weight_decay=-1e-3),
    "sgd-nesterov-no-momentum": lambda m: m.optim.SGD([leaf(m)], nesterov=True),
    "sgd-nesterov-dampening": lambda m: m.optim.SGD(
        [leaf(m)], momentum=0.9, dampening=0.1, nesterov=True
    ),
    "sgd-fused-foreach": lambda m: m.optim.SGD([leaf(m)], fused=True, foreach=True),
    "adam-lr": lambda m: m.optim.Adam([leaf(m)], lr=-0.1),
    "adam-eps": lambda m: m.optim.Adam([leaf(m)], eps=-1.0),
    "adam-beta0": lambda m: m.optim.Adam([leaf(m)], betas=(1.0, 0.999)),
    "adam-beta1": lambda m: m.optim.Adam([leaf(m)], betas=(0.9, -0.5)),
    "adam-int-betas": lambda m: m.optim.Adam([leaf(m)], betas=(0, 0.999)),
    "adam-weight-decay": lambda m: m.optim.Adam([leaf(m)], weight_decay=-1),
    "adamw-beta0": lambda m: m.optim.AdamW([leaf(m)], betas=(-0.1, 0.9)),
    "rmsprop-alpha": lambda m: m.optim.RMSprop([leaf(m)], alpha=-0.5),
    "rmsprop-momentum": lambda m: m.optim.RMSprop([leaf(m)], momentum=-0.5),
    "rmsprop-eps": lambda m: m.optim.RMSprop([leaf(m)], eps=-0.5),
    "adagrad-lr-decay": lambda m: m.optim.Adagrad([leaf(m)], lr_decay=-0.5),
    "adagrad-initial-accumulator": lambda m: m.optim.Adagrad(
        [leaf(m)], initial_accumulator_value=-1.0
    ),
    "adagrad-eps": lambda m: m.optim.Adagrad([leaf(m)], eps=-1.0),
    "params-is-a-tensor": lambda m: m.optim.SGD(leaf(m), lr=0.1),
    "empty-params": lambda m: m.optim.SGD([], lr=0.1),
    "params-in-a-set": lambda m: m.optim.SGD([{"params": {leaf(m)}}], lr=0.1),
    "non-leaf": lambda m: m.optim.SGD([leaf(m) * 2], lr=0.1),
    "not-a-tensor": lambda m: m.optim.SGD([1.0], lr=0.1),
    "one-param-in-two-groups": lambda m: (
        lambda p: m.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    )(leaf(m)),
    "add-param-group-not-a-dict": lambda m: m.optim.SGD([leaf(m)]).add_param_group([leaf(m)]),
    "add-param-group-already-there": lambda m: (
        lambda p: m.optim.SGD([p]).add_param_group({"params": p})
    )(leaf(m)),
    "names-and-no-names": lambda m: m.optim.SGD([("w", leaf(m)), leaf(m)]),
}


@pytest.mark.parametrize("name", sorted(BAD_ARGUMENTS))
def test_argument_errors_match_torch(name):
    expected = outcome(BAD_ARGUMENTS[name], torch)
    assert expected[0] != "ok"
    assert outcome(BAD_ARGUMENTS[name], tapegrad) == expected


def test_duplicate_parameters_in_a_group_warn(m):
    p = leaf(m)
    with pytest.warns(UserWarning, match=re.escape("duplicate parameters; in future")):
        m.optim.SGD([p, p], lr=0.1)


def test_differentiable_is_not_supported():
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        tapegrad.optim.SGD([leaf(tapegrad)], differentiable=True)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_default_param_groups_and_repr_match_torch(name):
    def run(m):
        opt = getattr(m.optim, name)([leaf(m)])
        group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
        return group, list(opt.param_groups[0]), repr(opt), opt.defaults

    assert run(tapegrad) == run(torch)


def test_groups_override_defaults(m):
    a, b = leaf(m), leaf(m)
    opt = m.optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0, 0.9]
    assert opt.param_groups[1]["params"][0] is b
    c = leaf(m)
    opt.add_param_group({"params": [c], "weight_decay": 0.1})
    assert opt.param_groups[2]["lr"] == 0.1
    assert opt.param_groups[2]["weight_decay"] == 0.1
    assert repr(opt).count("Parameter Group") == 3


def test_named_parameters_keep_their_names(m):
    opt = m.optim.Adam([("w", leaf(m)), ("b", leaf(m))])
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]


def test_zero_grad_sets_to_none(m):
    w = leaf(m)
    opt = m.optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad()
    assert w.grad is None


def test_zero_grad_without_set_to_none_zeroes_in_place(m):
    w = leaf(m)
    opt = m.optim.SGD([w], lr=0.1)
    grad = leaf(m, 3.0, 4.0) * 2  # a gradient with a history, as create_graph=True gives
    w.grad = grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is grad
    assert grad.tolist() == [0.0, 0.0]
    assert not grad.requires_grad
    assert grad.grad_fn is None


def test_state_is_a_defaultdict_keyed_by_parameter(m):
    w = leaf(m)
    opt = m.optim.Adam([w])
    assert dict(opt.state) == {}
    (w * w).sum().backward()
    opt.step()
    assert list(opt.state) == [w]
    assert opt.state[w]["step"].item() == 1.0
    assert opt.state[leaf(m)] == {}  # a defaultdict


def _state_dict_after_steps(m, name, kwargs, steps=3):
    params = [m.tensor([1.0, -2.0], requires_grad=True), m.tensor([[0.5, 1.5]], requires_grad=True)]
    extra = m.tensor([3.0], requires_grad=True)
    opt = getattr(m.optim, name)([{"params": params}, {"params": [extra], "lr": 0.2}], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        ((params[0] ** 2).sum() + (params[1] ** 3).sum() + (extra * 2).sum()).backward()
        opt.step()
    return opt.state_dict()


def _describe(sd):
    """A state dict with tensors replaced by (dtype, shape)."""
    state = {
        i: {k: (str(v.dtype), tuple(v.shape)) for k, v in s.items()} for i, s in sd["state"].items()
    }
    return {"state": state, "param_groups": sd["param_groups"]}


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", {"lr": 0.1}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("Adam", {"amsgrad": True}),
        ("AdamW", {}),
        ("RMSprop", {"centered": True, "momentum": 0.5}),
        ("Adagrad", {"lr_decay": 0.1}),
    ],
)
def test_state_dict_layout_matches_torch(name, kwargs):
    actual = _state_dict_after_steps(tapegrad, name, kwargs)
    expected = _state_dict_after_steps(torch, name, kwargs)
    assert _describe(actual) == _describe(expected)
    for i, state in expected["state"].items():
        for key, value in state.items():
            np.testing.assert_allclose(
                actual["state"][i][key].tolist(), value.tolist(), rtol=1e-5, atol=1e-6
            )


def test_state_dict_holds_the_state_tensors_themselves(m):
    w = leaf(m)
    opt = m.optim.SGD([w], lr=0.1, momentum=0.9)
    (w * w).sum().backward()
    opt.step()
    sd = opt.state_dict()
    assert sd["state"][0]["momentum_buffer"] is opt.state[w]["momentum_buffer"]
    assert sd["param_groups"][0] is not opt.param_groups[0]


def test_load_state_dict_group_count_mismatch(m):
    a, b = leaf(m), leaf(m)
    sd = m.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).state_dict()
    with pytest.raises(ValueError, match=r"^loaded state dict has a different number of parameter"):
        m.optim.SGD([a, b], lr=0.1).load_state_dict(sd)


def test_load_state_dict_group_size_mismatch(m):
    a, b = leaf(m), leaf(m)
    sd = m.optim.SGD([a], lr=0.1).state_dict()
    with pytest.raises(
        ValueError, match=r"^loaded state dict contains a parameter group that doesn't match the"
    ):
        m.optim.SGD([a, b], lr=0.1).load_state_dict(sd)


def test_load_state_dict_takes_the_saved_options_and_casts_state(m):
    w64 = m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True)
    src = m.optim.Adam([w64], lr=0.5)
    (w64 * w64).sum().backward()
    src.step()
    w32 = leaf(m)
    dst = m.optim.Adam([w32], lr=0.1)
    dst.load_state_dict(src.state_dict())
    assert dst.param_groups[0]["lr"] == 0.5
    assert dst.param_groups[0]["params"][0] is w32
    state = dst.state[w32]
    assert state["exp_avg"].dtype == m.float32
    assert state["step"].dtype == m.float32
    assert state["step"].item() == 1.0


def test_load_state_dict_converts_a_number_step(m):
    w = leaf(m)
    opt = m.optim.Adam([w])
    (w * w).sum().backward()
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["step"] = 4
    opt.load_state_dict(sd)
    assert m.is_tensor(opt.state[w]["step"])
    assert opt.state[w]["step"].dtype == m.float32
    opt.step()
    assert opt.state[w]["step"].item() == 5.0


ROUND_TRIP = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
]


@pytest.mark.parametrize(("name", "kwargs"), ROUND_TRIP, ids=[c[0] for c in ROUND_TRIP])
def test_resuming_from_a_saved_state_dict_is_bit_exact(name, kwargs):
    rng = np.random.default_rng(3)
    x = tapegrad.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    w0 = rng.standard_normal((3, 2)).astype(np.float32)

    def steps(opt, w, n):
        for _ in range(n):
            opt.zero_grad()
            (tapegrad.matmul(x, w).tanh() ** 2).mean().backward()
            opt.step()

    def new(values):
        w = tapegrad.tensor(values, requires_grad=True)
        return w, getattr(tapegrad.optim, name)([w], **kwargs)

    w, opt = new(w0)
    steps(opt, w, 10)
    buffer = io.BytesIO()
    tapegrad.save({"w": w, "optimizer": opt.state_dict()}, buffer)
    steps(opt, w, 10)

    buffer.seek(0)
    checkpoint = tapegrad.load(buffer)
    w2, opt2 = new(checkpoint["w"].detach().numpy())
    opt2.load_state_dict(checkpoint["optimizer"])
    steps(opt2, w2, 10)

    np.testing.assert_array_equal(w2.detach().numpy(), w.detach().numpy())
    for key, value in opt.state[w].items():
        np.testing.assert_array_equal(opt2.state[w2][key].numpy(), value.numpy())


def test_a_tensor_learning_rate_matches_torch():
    def run(m):
        w = m.tensor([1.0, 2.0], requires_grad=True)
        opt = m.optim.SGD([w], lr=m.tensor(0.5), momentum=0.5)
        sched = m.optim.lr_scheduler.ExponentialLR(opt, 0.5)
        for _ in range(3):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
            sched.step()
        return w.tolist(), [lr.item() for lr in sched.get_last_lr()]

    assert run(tapegrad) == run(torch)


@pytest.mark.parametrize(
    "lr", [pytest.param(-0.5, id="negative"), pytest.param([0.5, 1.0], id="two-elements")]
)
def test_tensor_learning_rate_errors_match_torch(lr):
    def make(m):
        m.optim.Adam([leaf(m)], lr=m.tensor(lr))

    assert outcome(make, tapegrad) == outcome(make, torch)
