"""``device`` objects (parsing, printing, equality) against ``torch.device``, and placing tensors.

JAX sees no GPU here: asking for ``cuda`` must fail with a clear RuntimeError.
"""

from __future__ import annotations

import copy
import pickle

import jax
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402

NO_GPU = not any(d.platform == "gpu" for d in jax.devices())
needs_no_gpu = pytest.mark.skipif(not NO_GPU, reason="JAX sees a GPU on this machine")

SPECS = {
    "cpu": ("cpu",),
    "cpu-0": ("cpu:0",),
    "cuda": ("cuda",),
    "cuda-1": ("cuda:1",),
    "cuda-0-index": ("cuda", 0),
    "cuda-12": ("cuda:12",),
    "meta": ("meta",),
    "cpu-index": ("cpu", 0),
    "device": "device",
}


def _args(m, key):
    spec = SPECS[key]
    return (m.device("cuda:3"),) if spec == "device" else spec


def describe(d):
    return (repr(d), str(d), d.type, d.index)


@pytest.mark.parametrize("key", SPECS.keys())
def test_device_parsing_and_printing_match_torch(key):
    t, g = torch.device(*_args(torch, key)), tg.device(*_args(tg, key))
    assert describe(g) == describe(t)


def test_device_keywords_and_equality_match_torch():
    for m in (torch, tg):
        assert repr(m.device(type="cuda", index=2)) == "device(type='cuda', index=2)"
        assert m.device("cuda:1") == m.device("cuda", 1)
        assert m.device("cuda") != m.device("cuda:0")  # no index is not index 0
        assert m.device("cpu") != m.device("cuda")
        assert (m.device("cpu") == "cpu") is False  # only devices compare equal
        assert (m.device("cpu") == 1) is False
        assert hash(m.device("cuda:1")) == hash(m.device("cuda", 1))
        assert len({m.device("cpu"), m.device("cpu"), m.device("cuda:0")}) == 2


def test_device_pickles_and_copies():
    d = tg.device("cuda:1")
    for other in (pickle.loads(pickle.dumps(d)), copy.deepcopy(d), tg.device(d)):
        assert other == d
        assert repr(other) == "device(type='cuda', index=1)"


@pytest.mark.parametrize(
    "args",
    [
        ("cuda:x",),
        ("cuda:-1",),
        ("cuda:1:2",),
        ("cuda:01",),
        (" cpu",),
        ("gpu",),
        ("foo",),
        ("CPU",),
        ("cuda:1", 1),
        ("cuda", -1),
    ],
    ids=str,
)
def test_invalid_device_strings_raise_torchs_runtime_error(args):
    with pytest.raises(RuntimeError) as expected:
        torch.device(*args)
    with pytest.raises(RuntimeError) as got:
        tg.device(*args)
    assert str(got.value) == str(expected.value)


def test_device_of_other_types_raises_type_error():
    with pytest.raises(TypeError) as expected:
        torch.device(None)
    with pytest.raises(TypeError) as got:
        tg.device(None)
    assert str(got.value).splitlines()[0] == str(expected.value).splitlines()[0]


@needs_no_gpu
def test_device_of_an_int_needs_an_accelerator():
    with pytest.raises(RuntimeError, match=r"^Cannot access accelerator device when none is"):
        torch.device(1)
    with pytest.raises(RuntimeError, match=r"^Cannot access accelerator device when none is"):
        tg.device(1)


# ----- tensors on devices ---------------------------------------------------------------------
@pytest.mark.parametrize("device", ["cpu", "cpu:0", "device"], ids=str)
def test_device_argument_of_factories(device):
    dev = tg.device("cpu") if device == "device" else device
    made = [
        tg.tensor([1.0], device=dev),
        tg.ones(2, device=dev),
        tg.zeros(2, device=dev),
        tg.full((2,), 1.0, device=dev),
        tg.arange(3, device=dev),
        tg.linspace(0, 1, 3, device=dev),
        tg.eye(2, device=dev),
        tg.rand(2, device=dev),
        tg.randn(2, device=dev),
        tg.randint(3, (2,), device=dev),
        tg.zeros_like(tg.ones(2), device=dev),
        tg.as_tensor([1, 2], device=dev),
    ]
    for t in made:
        assert repr(t.device) == "device(type='cpu')"


def test_to_cpu_returns_the_tensor_itself():
    for m in (torch, tg):
        t = m.ones(2)
        assert t.to("cpu") is t
        assert t.to(m.device("cpu")) is t
        assert t.to(device="cpu") is t
        assert t.cpu() is t
        assert repr(t.to("cpu").device) == "device(type='cpu')"


@needs_no_gpu
@pytest.mark.parametrize(
    "call",
    [
        lambda: tg.ones(2, device="cuda"),
        lambda: tg.tensor([1.0], device="cuda:0"),
        lambda: tg.zeros(2, device=tg.device("cuda", 1)),
        lambda: tg.rand(2, device="cuda"),
        lambda: tg.arange(3, device="cuda"),
        lambda: tg.ones(2).to("cuda"),
        lambda: tg.ones(2).cuda(),
    ],
    ids=["ones", "tensor", "zeros", "rand", "arange", "to", "cuda()"],
)
def test_asking_for_cuda_without_a_gpu_raises_a_clear_runtime_error(call):
    with pytest.raises(RuntimeError, match="JAX sees no GPU"):
        call()


def test_devices_torch_names_but_jax_cannot_run_raise_a_clear_error():
    d = tg.device("meta")
    assert repr(d) == repr(torch.device("meta"))
    with pytest.raises(RuntimeError, match="tapegrad has no 'meta' device"):
        tg.ones(2, device=d)
