"""``nn.Module`` and ``nn.Parameter`` against PyTorch: registration, iteration orders and names,
``state_dict`` / ``load_state_dict`` (results and error texts), hooks, modes, dtype conversion,
``repr``."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest

import tapegrad

torch = pytest.importorskip("torch")


def tg_state(module) -> dict:
    """A torch module's state_dict as tapegrad tensors (through NumPy)."""
    return {k: tapegrad.tensor(v.detach().numpy()) for k, v in module.state_dict().items()}


def make_net(m):
    nn = m.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 3)
            self.act = nn.ReLU()
            self.block = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
            self.register_buffer("scale", m.full((3,), 2.0))
            self.register_buffer("scratch", m.zeros(1), persistent=False)
            self.head = nn.Linear(3, 2, bias=False)

        def forward(self, x):
            return self.head(self.block(self.act(self.fc1(x))) * self.scale)

    return Net()


def twin_nets():
    """A torch Net and a tapegrad Net holding the same values."""
    tnet = make_net(torch)
    gnet = make_net(tapegrad)
    gnet.load_state_dict(tg_state(tnet))
    return tnet, gnet


# ----- registration and iteration -------------------------------------------------------------
def test_iteration_orders_and_names(m):
    net = make_net(m)
    assert [(n, tuple(p.shape)) for n, p in net.named_parameters()] == [
        ("fc1.weight", (3, 4)),
        ("fc1.bias", (3,)),
        ("block.0.weight", (3, 3)),
        ("block.0.bias", (3,)),
        ("head.weight", (2, 3)),
    ]
    assert [n for n, _ in net.named_buffers()] == ["scale", "scratch"]
    assert [n for n, _ in net.named_modules()] == [
        "",
        "fc1",
        "act",
        "block",
        "block.0",
        "block.1",
        "head",
    ]
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "block", "head"]
    assert [type(c).__name__ for c in net.children()] == ["Linear", "ReLU", "Sequential", "Linear"]
    assert [type(c).__name__ for c in net.modules()][:3] == ["Net", "Linear", "ReLU"]
    assert [n for n, _ in net.named_parameters(prefix="model", recurse=False)] == []
    assert [n for n, _ in net.fc1.named_parameters(prefix="model")] == [
        "model.weight",
        "model.bias",
    ]
    assert len(list(net.parameters())) == 5
    assert len(list(net.parameters(recurse=False))) == 0
    assert all(isinstance(p, m.nn.Parameter) for p in net.parameters())
    assert all(p.requires_grad and p.is_leaf for p in net.parameters())
    assert not any(isinstance(b, m.nn.Parameter) for b in net.buffers())


def test_shared_modules_and_parameters_are_listed_once(m):
    nn = m.nn
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in seq.named_parameters(remove_duplicate=False)] == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]
    assert [n for n, _ in seq.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_attribute_assignment_registers(m):
    nn = m.nn
    mod = nn.Module()
    mod.w = nn.Parameter(m.ones(2))
    mod.sub = nn.Linear(1, 1)
    mod.plain = m.ones(1)  # a plain tensor is an ordinary attribute
    mod.register_buffer("buf", m.zeros(2))
    assert list(mod._parameters) == ["w"]
    assert list(mod._modules) == ["sub"]
    assert list(mod._buffers) == ["buf"]
    assert "plain" in mod.__dict__
    mod.buf = m.ones(3)  # assigning to a buffer name replaces the buffer
    assert mod._buffers["buf"].tolist() == [1.0, 1.0, 1.0]
    mod.w = None
    assert mod._parameters["w"] is None
    assert list(mod.state_dict()) == ["buf", "sub.weight", "sub.bias"]
    mod.sub = nn.Parameter(m.zeros(1))  # re-assigning a name moves it between registries
    assert list(mod._modules) == []
    assert list(mod._parameters) == ["w", "sub"]
    del mod.sub
    del mod.buf
    assert list(mod._parameters) == ["w"]
    assert list(mod._buffers) == []
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'buf'"):
        mod.buf


ERROR_CASES = {
    "tensor-as-parameter": lambda m, mod: setattr(mod, "weight", m.ones(1)),
    "int-as-module": lambda m, mod: setattr(mod, "child", 3),
    "int-as-buffer": lambda m, mod: setattr(mod, "buf", 3),
    "buffer-dotted": lambda m, mod: mod.register_buffer("a.b", m.ones(1)),
    "buffer-empty": lambda m, mod: mod.register_buffer("", m.ones(1)),
    "buffer-exists": lambda m, mod: mod.register_buffer("weight", m.ones(1)),
    "buffer-not-tensor": lambda m, mod: mod.register_buffer("x", [1.0]),
    "buffer-name-int": lambda m, mod: mod.register_buffer(1, m.ones(1)),
    "parameter-dotted": lambda m, mod: mod.register_parameter("a.b", None),
    "parameter-not-parameter": lambda m, mod: mod.register_parameter("p", m.ones(1)),
    "parameter-non-leaf": lambda m, mod: mod.register_parameter("p", m.nn.Parameter(m.ones(1)) * 2),
    "module-not-module": lambda m, mod: mod.add_module("x", 3),
    "module-dotted": lambda m, mod: mod.add_module("a.b", m.nn.ReLU()),
    "module-exists": lambda m, mod: mod.add_module("weight", m.nn.ReLU()),
    "missing-attribute": lambda m, mod: mod.nope,
    "train-not-bool": lambda m, mod: mod.train(1),
    "to-int-dtype": lambda m, mod: mod.to(m.int64),
    "forward-missing": lambda m, mod: m.nn.Module()(m.ones(1)),
    "init-kwargs": lambda m, mod: m.nn.Module(foo=1),
    "get-submodule": lambda m, mod: mod.get_submodule("child.x"),
}


def _raised(m, name):
    mod = m.nn.Linear(2, 2)
    mod.child = m.nn.Identity()
    mod.register_buffer("buf", m.zeros(1))
    try:
        ERROR_CASES[name](m, mod)
    except Exception as e:
        if name == "module-not-module":  # the qualified name of int is 'int' in both
            return type(e), str(e)
        return type(e), str(e).replace("tapegrad", "torch")
    raise AssertionError("no error raised")


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_registration_errors_match_torch(name):
    assert _raised(tapegrad, name) == _raised(torch, name)


# ----- Parameter ----------------------------------------------------------------------------
def test_parameter_basics(m):
    data = m.tensor([1.0, 2.0])
    p = m.nn.Parameter(data)
    assert isinstance(p, m.nn.Parameter)
    assert isinstance(p, m.Tensor)
    assert p.requires_grad
    assert p.is_leaf
    assert p.grad_fn is None
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    assert str(p) == repr(p)
    assert type(p * 2) is m.Tensor
    assert type(p.detach()) is m.Tensor
    assert type(p[0]) is m.Tensor
    # storage and version counter are shared with data, as detach() would
    data.add_(1)
    assert p.tolist() == [2.0, 3.0]
    assert p._version == 1
    q = m.nn.Parameter(m.zeros(2, dtype=m.float64), requires_grad=False)
    assert repr(q) == "Parameter containing:\ntensor([0., 0.], dtype=torch.float64)"
    assert repr(m.nn.Parameter()) == "Parameter containing:\ntensor([], requires_grad=True)"
    r = m.nn.Parameter(m.ones(2, requires_grad=True) * 3)
    assert r.is_leaf
    assert r.requires_grad
    assert repr(m.nn.Parameter(m.zeros(2, dtype=m.int64), requires_grad=False)) == (
        "Parameter containing:\ntensor([0, 0])"
    )
    with pytest.raises(
        RuntimeError, match="Only Tensors of floating point and complex dtype can require gradients"
    ):
        m.nn.Parameter(m.zeros(2, dtype=m.int64))


def test_parameter_gradient_and_deepcopy(m):
    p = m.nn.Parameter(m.tensor([1.0, 2.0]))
    (p * p).sum().backward()
    assert p.grad.tolist() == [2.0, 4.0]
    q = copy.deepcopy(p)
    assert type(q) is m.nn.Parameter
    assert q is not p
    assert q.tolist() == [1.0, 2.0]
    assert q.requires_grad


# ----- forward, hooks, modes ----------------------------------------------------------------
def test_forward_output_and_gradients_match_torch(rng):
    tnet, gnet = twin_nets()
    x = rng.standard_normal((5, 4)).astype(np.float32)
    tout = tnet(torch.tensor(x))
    gout = gnet(tapegrad.tensor(x))
    np.testing.assert_allclose(gout.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert gout.grad_fn.name() == tout.grad_fn.name()
    tout.pow(2).sum().backward()
    gout.pow(2).sum().backward()
    for (tn, tp), (gn, gp) in zip(tnet.named_parameters(), gnet.named_parameters(), strict=True):
        assert tn == gn
        np.testing.assert_allclose(gp.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_hooks(m):
    lin = m.nn.Linear(2, 2)
    calls = []

    def pre(mod, args):
        calls.append(("pre", type(mod).__name__, len(args)))
        return args[0] * 0  # a single value is wrapped in a tuple

    def pre_first(mod, args):
        calls.append(("pre_first",))

    def post(mod, args, out):
        calls.append(("post", args[0].tolist()))
        return out + 1

    def post_kwargs(mod, args, kwargs, out):
        calls.append(("post_kwargs", kwargs))

    h1 = lin.register_forward_pre_hook(pre)
    h0 = lin.register_forward_pre_hook(pre_first, prepend=True)
    h2 = lin.register_forward_hook(post)
    h3 = lin.register_forward_hook(post_kwargs, with_kwargs=True)
    with m.no_grad():
        lin.bias.fill_(0.5)
    out = lin(m.ones(1, 2))
    assert out.tolist() == [[1.5, 1.5]]
    assert calls == [
        ("pre_first",),
        ("pre", "Linear", 1),
        ("post", [[0.0, 0.0]]),
        ("post_kwargs", {}),
    ]
    for h in (h0, h1, h2, h3):
        h.remove()
    calls.clear()
    assert lin(m.zeros(1, 2)).tolist() == [[0.5, 0.5]]
    assert calls == []


def test_pre_hook_with_kwargs_must_return_pair(m):
    mod = m.nn.Identity()
    mod.register_forward_pre_hook(lambda mod, args, kwargs: 3, with_kwargs=True)
    with pytest.raises(RuntimeError) as info:
        mod(m.ones(1))
    assert str(info.value) == (
        "forward pre-hook must return None or a tuple of (new_args, new_kwargs), but got 3."
    )


def test_pre_hook_with_kwargs_replaces_args(m):
    mod = m.nn.Identity()
    mod.register_forward_pre_hook(lambda mod, a, kw: ((a[0] + 1,), kw), with_kwargs=True)
    assert mod(m.ones(1)).tolist() == [2.0]


def test_always_call_hook_runs_when_forward_raises(m):
    mod = m.nn.Linear(2, 2)
    seen = []
    mod.register_forward_hook(lambda mod, args, out: seen.append(out), always_call=True)
    with pytest.raises(RuntimeError):
        mod(m.ones(3, 3))
    assert seen == [None]


def test_train_eval_flags(m):
    net = make_net(m)
    assert all(mod.training for mod in net.modules())
    assert net.eval() is net
    assert not any(mod.training for mod in net.modules())
    net.block.train()
    assert [mod.training for mod in net.modules()] == [False, False, False, True, True, True, False]
    net.train(True)
    assert all(mod.training for mod in net.modules())


def test_zero_grad_and_requires_grad(m):
    net = make_net(m)
    net(m.ones(1, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())
    net.fc1.requires_grad_()
    assert [p.requires_grad for p in net.parameters()] == [True, True, False, False, False]


def test_apply_visits_children_first(m):
    net = make_net(m)
    seen = []
    assert net.apply(lambda mod: seen.append(type(mod).__name__)) is net
    assert seen == ["Linear", "ReLU", "Linear", "Tanh", "Sequential", "Linear", "Net"]


def test_apply_with_init(m):
    net = m.nn.Sequential(m.nn.Linear(2, 2), m.nn.Linear(2, 2))

    @m.no_grad()
    def init_weights(mod):
        if type(mod) is m.nn.Linear:
            mod.weight.fill_(1.0)

    net.apply(init_weights)
    assert all(lin.weight.tolist() == [[1.0, 1.0], [1.0, 1.0]] for lin in net)
    assert all(lin.weight.requires_grad for lin in net)


def test_to_float64_keeps_parameter_identity(m):
    net = make_net(m)
    net.register_buffer("steps", m.tensor(3))
    net(m.ones(1, 4)).sum().backward()
    params = list(net.parameters())
    assert net.to(m.float64) is net
    assert params == list(net.parameters())
    assert all(p.dtype == m.float64 and p.grad.dtype == m.float64 for p in params)
    assert all(type(p) is m.nn.Parameter and p.requires_grad for p in params)
    assert net.scale.dtype == m.float64
    assert net.steps.dtype == m.int64  # integer buffers keep their dtype
    assert net(m.ones(1, 4, dtype=m.float64)).dtype == m.float64
    net.float()
    assert all(p.dtype == m.float32 for p in net.parameters())
    net.double()
    assert net.fc1.weight.dtype == m.float64
    net.to(m.ones(1, dtype=m.float32))
    assert net.fc1.weight.dtype == m.float32
    assert net.to("cpu") is net
    assert net.cpu() is net
    assert net.to(dtype=m.float64).fc1.bias.dtype == m.float64


# ----- state_dict ---------------------------------------------------------------------------
def test_state_dict_keys_values_and_metadata():
    tnet, gnet = twin_nets()
    tsd, gsd = tnet.state_dict(), gnet.state_dict()
    assert type(gsd) is OrderedDict
    assert (
        list(gsd)
        == list(tsd)
        == [
            "scale",
            "fc1.weight",
            "fc1.bias",
            "block.0.weight",
            "block.0.bias",
            "head.weight",
        ]
    )
    assert gsd._metadata == tsd._metadata
    for k in tsd:
        np.testing.assert_array_equal(gsd[k].numpy(), tsd[k].numpy())
        assert not gsd[k].requires_grad
        assert gsd[k].grad_fn is None
        assert type(gsd[k]) is tapegrad.Tensor
    kept = gnet.state_dict(keep_vars=True)
    assert kept["fc1.weight"] is gnet.fc1.weight
    assert list(gnet.state_dict(prefix="model.")) == [f"model.{k}" for k in tsd]


def test_state_dict_positional_arguments_are_deprecated(m):
    lin = m.nn.Linear(2, 2)
    with pytest.warns(FutureWarning, match="Positional args are being deprecated"):
        sd = lin.state_dict(None, "p.")
    assert list(sd) == ["p.weight", "p.bias"]


def test_state_dict_shares_storage_with_parameters(m):
    lin = m.nn.Linear(2, 2)
    sd = lin.state_dict()
    with m.no_grad():
        lin.weight.fill_(3.0)
    assert sd["weight"].tolist() == [[3.0, 3.0], [3.0, 3.0]]


def test_load_state_dict_copies_in_place(m):
    lin = m.nn.Linear(3, 2)
    weight = lin.weight
    result = lin.load_state_dict({"weight": m.ones(2, 3), "bias": m.zeros(2)})
    assert repr(result) == "<All keys matched successfully>"
    assert result.missing_keys == []
    assert result.unexpected_keys == []
    assert lin.weight is weight
    assert weight.tolist() == [[1.0] * 3] * 2
    assert weight.requires_grad
    assert weight.is_leaf
    assert weight._version == 2
    lin.load_state_dict({"weight": m.ones(2, 3, dtype=m.float64), "bias": m.zeros(2)})
    assert lin.weight.dtype == m.float32  # copy_ casts


def test_load_state_dict_assign(m):
    lin = m.nn.Linear(3, 2)
    new = m.ones(2, 3, dtype=m.float64)
    lin.load_state_dict({"weight": new, "bias": m.zeros(2)}, assign=True)
    assert type(lin.weight) is m.nn.Parameter
    assert lin.weight.dtype == m.float64
    assert lin.weight.requires_grad


def _load_outcome(m, state, strict):
    net = make_net(m)
    nn_state = {k: (m.tensor(v) if isinstance(v, list) else v) for k, v in state.items()}
    try:
        result = net.load_state_dict(nn_state, strict=strict)
    except RuntimeError as e:
        return "error", str(e)
    return "ok", repr(result), result.missing_keys, result.unexpected_keys


LOAD_CASES = {
    "missing": {"fc1.weight": [[0.0] * 4] * 3},
    "unexpected": {"nope": [1.0], "fc1.extra": [1.0], "block.5.weight": [1.0]},
    "size-mismatch": {"fc1.bias": [1.0, 2.0]},
    "not-a-tensor": {"fc1.bias": 3},
}


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("case", sorted(LOAD_CASES))
def test_load_state_dict_results_and_errors_match_torch(case, strict):
    # Complete the state dict unless the case is about missing keys.
    full = {k: v.tolist() for k, v in make_net(torch).state_dict().items()}
    state = dict(LOAD_CASES[case]) if case == "missing" else {**full, **LOAD_CASES[case]}
    assert _load_outcome(tapegrad, state, strict) == _load_outcome(torch, state, strict)


def test_load_state_dict_error_text_for_linear(m):
    with pytest.raises(RuntimeError) as info:
        m.nn.Linear(3, 2).load_state_dict({"weight": m.ones(2, 3)})
    assert str(info.value) == (
        'Error(s) in loading state_dict for Linear:\n\tMissing key(s) in state_dict: "bias". '
    )
    with pytest.raises(RuntimeError) as info:
        m.nn.Linear(3, 2).load_state_dict({"weight": m.ones(3, 3), "bias": m.ones(2)})
    assert str(info.value) == (
        "Error(s) in loading state_dict for Linear:\n\tsize mismatch for weight: copying a param "
        "with shape torch.Size([3, 3]) from checkpoint, the shape in current model is "
        "torch.Size([2, 3])."
    )
    with pytest.raises(
        TypeError, match=r"Expected state_dict to be dict-like, got <class 'list'>\."
    ):
        m.nn.Linear(3, 2).load_state_dict([])


def test_round_trip_between_modules(m):
    a, b = make_net(m), make_net(m)
    b.load_state_dict(a.state_dict())
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert pa.tolist() == pb.tolist()
        assert pa is not pb


# ----- repr ---------------------------------------------------------------------------------
def test_repr_of_nested_model_matches_torch_character_for_character():
    def build(m):
        nn = m.nn
        net = make_net(m)
        net.extra = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.GELU(), nn.Linear(2, 2)])
        net.heads = nn.ModuleDict({"a": nn.Softmax(dim=1), "b": nn.LeakyReLU(0.2, inplace=True)})
        net.empty = nn.ModuleList()
        net.none = None
        return net

    expected = repr(build(torch))
    assert repr(build(tapegrad)) == expected
    assert expected.splitlines()[:3] == [
        "Net(",
        "  (fc1): Linear(in_features=4, out_features=3, bias=True)",
        "  (act): ReLU()",
    ]


def test_repr_with_multiline_extra_repr(m):
    class Custom(m.nn.Module):
        def extra_repr(self):
            return "first\nsecond"

    outer = m.nn.Sequential(Custom(), m.nn.Sequential(m.nn.ReLU()))
    assert repr(outer) == (
        "Sequential(\n  (0): Custom(\n    first\n    second\n  )\n  (1): Sequential(\n"
        "    (0): ReLU()\n  )\n)"
    )


def test_get_submodule_parameter_buffer(m):
    net = make_net(m)
    assert net.get_submodule("block.0") is net.block[0]
    assert net.get_parameter("block.0.bias") is net.block[0].bias
    assert net.get_buffer("scale") is net.scale
    with pytest.raises(AttributeError, match=r"`act` is not an nn\.Parameter"):
        net.get_parameter("act")
    with pytest.raises(AttributeError, match="`weight` is not a buffer"):
        net.get_buffer("fc1.weight")


def test_module_deepcopy(m):
    net = make_net(m)
    clone = copy.deepcopy(net)
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in net.named_parameters()]
    assert all(
        a is not b and a.tolist() == b.tolist()
        for a, b in zip(clone.parameters(), net.parameters(), strict=True)
    )
    assert all(type(p) is m.nn.Parameter for p in clone.parameters())
