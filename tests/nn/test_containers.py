"""``Sequential``, ``ModuleList`` and ``ModuleDict`` against PyTorch: indexing, slicing, length,
mutation, iteration, naming, printing and errors."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import tapegrad

torch = pytest.importorskip("torch")


def names(module) -> list[str]:
    return [type(c).__name__ for c in module]


def test_sequential_indexing_and_slicing(m):
    nn = m.nn
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1), nn.Sigmoid())
    assert len(seq) == 4
    assert type(seq[0]).__name__ == "Linear"
    assert type(seq[-1]).__name__ == "Sigmoid"
    assert seq[-4] is seq[0]
    head = seq[1:3]
    assert type(head) is nn.Sequential
    assert names(head) == ["ReLU", "Linear"]
    assert list(head._modules) == ["1", "2"]  # slicing keeps the names
    assert head[1] is seq[2]
    assert names(seq[::-1]) == ["Sigmoid", "Linear", "ReLU", "Linear"]
    with pytest.raises(IndexError, match="index 4 is out of range"):
        seq[4]
    with pytest.raises(IndexError, match="index -5 is out of range"):
        seq[-5]
    with pytest.raises(TypeError):
        seq["0"]


def test_sequential_mutation(m):
    nn = m.nn
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    assert seq.append(nn.Tanh()) is seq
    assert list(seq._modules) == ["0", "1", "2"]
    seq[1] = nn.GELU()
    assert names(seq) == ["Linear", "GELU", "Tanh"]
    del seq[0]
    assert list(seq._modules) == ["0", "1"]  # renumbered
    assert names(seq) == ["GELU", "Tanh"]
    seq.insert(0, nn.Identity())
    assert names(seq) == ["Identity", "GELU", "Tanh"]
    seq.extend([nn.ReLU()])
    assert type(seq.pop(-1)).__name__ == "ReLU"
    assert names(seq + nn.Sequential(nn.ReLU())) == ["Identity", "GELU", "Tanh", "ReLU"]
    seq += nn.Sequential(nn.SiLU())
    assert names(seq) == ["Identity", "GELU", "Tanh", "SiLU"]
    doubled = nn.Sequential(nn.ReLU()) * 2
    assert list(doubled._modules) == ["0", "1"]
    assert doubled[0] is doubled[1]
    del seq[1:3]
    assert names(seq) == ["Identity", "SiLU"]


def test_sequential_from_ordered_dict(m):
    nn = m.nn
    seq = nn.Sequential(OrderedDict([("conv", nn.Linear(1, 1)), ("act", nn.ReLU())]))
    assert [n for n, _ in seq.named_children()] == ["conv", "act"]
    assert seq.act is seq[1]
    assert list(seq.state_dict()) == ["conv.weight", "conv.bias"]


def test_sequential_forward_matches_torch(rng):
    def build(m):
        nn = m.nn
        return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))

    tseq, gseq = build(torch), build(tapegrad)
    gseq.load_state_dict({k: tapegrad.tensor(v.numpy()) for k, v in tseq.state_dict().items()})
    x = rng.standard_normal((3, 4)).astype(np.float32)
    tout, gout = tseq(torch.tensor(x)), gseq(tapegrad.tensor(x))
    np.testing.assert_allclose(gout.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    tout.sum().backward()
    gout.sum().backward()
    for tp, gp in zip(tseq.parameters(), gseq.parameters(), strict=True):
        np.testing.assert_allclose(gp.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_empty_sequential_is_identity(m):
    x = m.ones(2)
    assert m.nn.Sequential()(x) is x
    assert repr(m.nn.Sequential()) == "Sequential()"


def test_sequential_errors_match_torch():
    def raised(m, fn):
        try:
            fn(m.nn)
        except Exception as e:
            return type(e), str(e).replace("tapegrad.nn.modules", "torch.nn.modules")
        raise AssertionError("no error")

    cases = [
        lambda nn: nn.Sequential(nn.ReLU()).__add__(nn.ReLU()),
        lambda nn: nn.Sequential(nn.ReLU()) * 0,
        lambda nn: nn.Sequential(nn.ReLU()).insert(5, nn.ReLU()),
        lambda nn: nn.Sequential(3),
    ]
    for case in cases:
        t, g = raised(torch, case), raised(tapegrad, case)
        assert g[0] is t[0]
        assert g[1].replace("container.Sequential", "X") == t[1].replace(
            "container.Sequential", "X"
        )


def test_module_list(m):
    nn = m.nn
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3
    assert layers[-1] is layers[2]
    assert type(layers[1:]) is nn.ModuleList
    assert list(layers[1:]._modules) == ["0", "1"]  # a new list, renumbered
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers.insert(0, nn.Identity())
    assert names(layers) == ["Identity", "Linear", "Linear", "Linear", "ReLU", "Tanh"]
    layers[0] = nn.GELU()
    del layers[1]
    assert names(layers) == ["GELU", "Linear", "Linear", "ReLU", "Tanh"]
    assert type(layers.pop(0)).__name__ == "GELU"
    assert [n for n, _ in layers.named_parameters()] == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
    ]
    combined = layers + nn.ModuleList([nn.ReLU()])
    assert len(combined) == 5
    with pytest.raises(IndexError, match="index 9 is out of range"):
        layers[9]
    with pytest.raises(TypeError, match=r"ModuleList\.extend should be called with an iterable"):
        layers.extend(3)


def test_module_dict(m):
    nn = m.nn
    d = nn.ModuleDict({"b": nn.ReLU(), "a": nn.Linear(1, 1)})
    assert list(d) == ["b", "a"]  # insertion order
    assert list(d.keys()) == ["b", "a"]
    assert "a" in d
    assert len(d) == 2
    d["c"] = nn.Tanh()
    d.update([("e", nn.GELU())])
    assert [type(v).__name__ for v in d.values()] == ["ReLU", "Linear", "Tanh", "GELU"]
    assert [k for k, _ in d.items()] == ["b", "a", "c", "e"]
    assert type(d.pop("b")).__name__ == "ReLU"
    del d["c"]
    assert list(d) == ["a", "e"]
    assert list(d.state_dict()) == ["a.weight", "a.bias"]
    d.clear()
    assert len(d) == 0
    with pytest.raises(ValueError, match="ModuleDict update sequence element #0 has length 1"):
        d.update([("x",)])


CONTAINER_REPRS = {
    "sequential": lambda nn: nn.Sequential(nn.Linear(1000, 100), nn.ReLU()),
    "nested": lambda nn: nn.Sequential(
        nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1)), nn.ModuleDict({"x": nn.Tanh()})
    ),
    "repeated": lambda nn: nn.ModuleList(
        [nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.ReLU(), nn.ReLU(), nn.Linear(2, 2)]
    ),
    "nested-repeated": lambda nn: nn.ModuleList([nn.Sequential(nn.ReLU(), nn.Tanh())] * 2),
    "empty-list": lambda nn: nn.ModuleList(),
    "empty-dict": lambda nn: nn.ModuleDict(),
}


@pytest.mark.parametrize("name", sorted(CONTAINER_REPRS))
def test_container_repr_matches_torch(name):
    assert repr(CONTAINER_REPRS[name](tapegrad.nn)) == repr(CONTAINER_REPRS[name](torch.nn))


def test_sequential_repr_literal(m):
    seq = m.nn.Sequential(m.nn.Linear(1000, 100), m.nn.ReLU())
    assert repr(seq) == (
        "Sequential(\n  (0): Linear(in_features=1000, out_features=100, bias=True)\n"
        "  (1): ReLU()\n)"
    )
