"""Every layer against PyTorch: torch's initial weights are loaded into the tapegrad layer
(``load_state_dict`` through NumPy), then outputs, dtypes, ``grad_fn`` names, input and
parameter gradients, buffers and ``repr`` are compared. Dropout and BatchNorm have their own
tests (training vs evaluation, running statistics)."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest

import tapegrad

torch = pytest.importorskip("torch")

TOL = {"float32": (1e-5, 1e-5), "float64": (1e-10, 1e-12)}  # float32 grads sum many terms


def tg_state(module) -> dict:
    return {k: tapegrad.tensor(v.detach().numpy()) for k, v in module.state_dict().items()}


def twins(build: Callable, dtype: str = "float32"):
    """The same layer in torch and tapegrad, with torch's initial values in both."""
    tlayer = build(torch.nn)
    glayer = build(tapegrad.nn)
    if dtype == "float64":
        tlayer.double()
        glayer.double()
    glayer.load_state_dict(tg_state(tlayer))
    return tlayer, glayer


class Case(NamedTuple):
    build: Callable  # nn -> layer
    inputs: tuple  # shapes; an ("index", shape, high) entry is an int64 index tensor
    dtypes: tuple = ("float32", "float64")
    inplace: bool = False  # the layer writes into its input: feed it a non-leaf copy


CASES = {
    "Linear": Case(lambda nn: nn.Linear(4, 3), ((5, 4),)),
    "Linear-no-bias-3d": Case(lambda nn: nn.Linear(4, 3, bias=False), ((2, 5, 4),)),
    "Linear-1d-input": Case(lambda nn: nn.Linear(4, 3), ((4,),), ("float32",)),
    "Bilinear": Case(lambda nn: nn.Bilinear(3, 4, 2), ((5, 3), (5, 4))),
    "Identity": Case(lambda nn: nn.Identity(7, unused=True), ((2, 3),), ("float32",)),
    "Flatten": Case(lambda nn: nn.Flatten(), ((2, 3, 4),), ("float32",)),
    "Flatten-0-1": Case(lambda nn: nn.Flatten(0, 1), ((2, 3, 4),), ("float32",)),
    "Unflatten": Case(lambda nn: nn.Unflatten(1, (2, 2)), ((3, 4),), ("float32",)),
    "ReLU": Case(lambda nn: nn.ReLU(), ((5, 4),)),
    "ReLU-inplace": Case(lambda nn: nn.ReLU(inplace=True), ((5, 4),), inplace=True),
    "LeakyReLU": Case(lambda nn: nn.LeakyReLU(0.2), ((5, 4),)),
    "LeakyReLU-inplace": Case(lambda nn: nn.LeakyReLU(inplace=True), ((5, 4),), inplace=True),
    "GELU": Case(lambda nn: nn.GELU(), ((5, 4),)),
    "GELU-tanh": Case(lambda nn: nn.GELU(approximate="tanh"), ((5, 4),)),
    "SiLU": Case(lambda nn: nn.SiLU(), ((5, 4),)),
    "SiLU-inplace": Case(lambda nn: nn.SiLU(inplace=True), ((5, 4),), ("float32",), True),
    "Sigmoid": Case(lambda nn: nn.Sigmoid(), ((5, 4),)),
    "Tanh": Case(lambda nn: nn.Tanh(), ((5, 4),)),
    "Softmax": Case(lambda nn: nn.Softmax(dim=1), ((5, 4),)),
    "LogSoftmax": Case(lambda nn: nn.LogSoftmax(dim=-1), ((5, 4),)),
    "LayerNorm": Case(lambda nn: nn.LayerNorm(4), ((2, 3, 4),)),
    "LayerNorm-2d-no-affine": Case(
        lambda nn: nn.LayerNorm((3, 4), elementwise_affine=False), ((2, 3, 4),)
    ),
    "LayerNorm-no-bias": Case(lambda nn: nn.LayerNorm(4, eps=1e-3, bias=False), ((2, 3, 4),)),
    "Embedding": Case(lambda nn: nn.Embedding(10, 3), (("index", (2, 4), 10),)),
    "Embedding-padding": Case(
        lambda nn: nn.Embedding(10, 3, padding_idx=2), (("index", (2, 4), 4),), ("float32",)
    ),
    "Conv1d": Case(lambda nn: nn.Conv1d(2, 4, 3), ((2, 2, 8),)),
    "Conv1d-stride-padding": Case(
        lambda nn: nn.Conv1d(2, 4, 3, stride=2, padding=1, bias=False), ((2, 2, 8),), ("float32",)
    ),
    "Conv2d": Case(lambda nn: nn.Conv2d(3, 4, 3), ((2, 3, 6, 6),)),
    "Conv2d-same-dilation": Case(
        lambda nn: nn.Conv2d(3, 4, (3, 2), padding="same", dilation=2),
        ((2, 3, 6, 6),),
        ("float32",),
    ),
    "Conv2d-groups-stride": Case(
        lambda nn: nn.Conv2d(4, 6, 3, stride=2, padding=(1, 0), groups=2), ((2, 4, 6, 6),)
    ),
    "Conv2d-valid": Case(
        lambda nn: nn.Conv2d(3, 2, 2, padding="valid", bias=False), ((2, 3, 6, 6),), ("float32",)
    ),
    "Conv1d-circular": Case(
        lambda nn: nn.Conv1d(2, 3, 3, padding=2, padding_mode="circular"), ((2, 2, 8),)
    ),
    "Conv2d-reflect": Case(
        lambda nn: nn.Conv2d(3, 4, 3, padding=(1, 2), padding_mode="reflect"), ((2, 3, 6, 6),)
    ),
    "Conv2d-replicate-same": Case(
        lambda nn: nn.Conv2d(3, 2, 4, padding="same", padding_mode="replicate"),
        ((2, 3, 6, 6),),
        ("float32",),
    ),
    "MaxPool2d": Case(lambda nn: nn.MaxPool2d(2), ((2, 3, 6, 6),)),
    "MaxPool2d-stride-padding": Case(
        lambda nn: nn.MaxPool2d(3, stride=2, padding=1), ((2, 3, 6, 6),), ("float32",)
    ),
    "AvgPool2d": Case(lambda nn: nn.AvgPool2d(2), ((2, 3, 6, 6),)),
    "AvgPool2d-padding": Case(
        lambda nn: nn.AvgPool2d(3, 2, 1, count_include_pad=False), ((2, 3, 6, 6),), ("float32",)
    ),
    "AdaptiveAvgPool2d": Case(lambda nn: nn.AdaptiveAvgPool2d((2, 3)), ((2, 3, 6, 6),)),
    "AdaptiveAvgPool2d-1": Case(lambda nn: nn.AdaptiveAvgPool2d(1), ((2, 3, 6, 6),), ("float32",)),
    "BatchNorm1d": Case(lambda nn: nn.BatchNorm1d(4), ((5, 4),)),
    "BatchNorm1d-3d": Case(lambda nn: nn.BatchNorm1d(3), ((2, 3, 5),), ("float32",)),
    "BatchNorm2d": Case(lambda nn: nn.BatchNorm2d(3), ((2, 3, 6, 6),)),
}


def make_inputs(name: str, case: Case, dtype: str) -> list[np.ndarray]:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = []
    for spec in case.inputs:
        if spec[0] == "index":
            _, shape, high = spec
            arrays.append(rng.integers(0, high, shape).astype(np.int64))
        else:
            arrays.append(rng.standard_normal(spec).astype(dtype))
    return arrays


def run(m, layer, arrays, inplace):
    leaves = [
        m.tensor(a, requires_grad=a.dtype.kind == "f") if a.dtype.kind == "f" else m.tensor(a)
        for a in arrays
    ]
    inputs = [x * 1 if inplace else x for x in leaves]
    out = layer(*inputs)
    return leaves, out


def compare(ours, theirs, dtype, what):
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(
        np.asarray(ours.detach().numpy()),
        theirs.detach().numpy(),
        rtol=rtol,
        atol=atol,
        err_msg=what,
    )


PARAMS = [(name, d) for name, case in sorted(CASES.items()) for d in case.dtypes]


@pytest.mark.parametrize(("name", "dtype"), PARAMS)
def test_layer_matches_torch(name, dtype):
    case = CASES[name]
    tlayer, glayer = twins(case.build, dtype)
    assert repr(glayer) == repr(tlayer)
    arrays = make_inputs(name, case, dtype)
    tleaves, tout = run(torch, tlayer, arrays, case.inplace)
    gleaves, gout = run(tapegrad, glayer, arrays, case.inplace)
    assert str(gout.dtype) == str(tout.dtype)
    assert tuple(gout.shape) == tuple(tout.shape)
    compare(gout, tout, dtype, "output")
    assert gout.requires_grad == tout.requires_grad
    if tout.grad_fn is not None:
        assert type(gout.grad_fn).__name__ == type(tout.grad_fn).__name__
    upstream = np.random.default_rng(1).standard_normal(tuple(tout.shape)).astype(dtype)
    tout.backward(torch.tensor(upstream))
    gout.backward(tapegrad.tensor(upstream))
    for i, (gx, tx) in enumerate(zip(gleaves, tleaves, strict=True)):
        if tx.requires_grad:
            compare(gx.grad, tx.grad, dtype, f"input {i} grad")
    tparams = dict(tlayer.named_parameters())
    for pname, gp in glayer.named_parameters():
        compare(gp.grad, tparams[pname].grad, dtype, f"{pname} grad")
    tstate = tlayer.state_dict()
    for key, value in glayer.state_dict().items():  # buffers updated by the forward
        compare(value, tstate[key], dtype, key)


def test_softmax_without_dim_warns_and_picks_torch_dim(m):
    x = m.tensor([[1.0, 2.0], [3.0, 5.0]])
    with pytest.warns(
        UserWarning, match="Implicit dimension choice for softmax has been deprecated"
    ):
        out = m.nn.Softmax()(x)
    assert out.sum(1).tolist() == pytest.approx([1.0, 1.0])  # 2-D: dim 1
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax"):
        out = m.nn.LogSoftmax()(m.tensor([1.0, 2.0]))
    assert out.exp().sum().item() == pytest.approx(1.0)


def test_inplace_activation_writes_into_its_input(m):
    x = m.tensor([-1.0, 2.0])
    assert m.nn.ReLU(inplace=True)(x) is x
    assert x.tolist() == [0.0, 2.0]
    assert x._version == 1


def test_embedding_padding_gradient_is_zero(m):
    emb = m.nn.Embedding(5, 2, padding_idx=0)
    emb(m.tensor([[0, 1], [0, 3]])).sum().backward()
    assert emb.weight.grad.tolist() == [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]


def test_embedding_from_pretrained(m):
    weights = m.tensor([[1.0, 2.5, 3.0], [4.0, 5.5, 6.25]])
    emb = m.nn.Embedding.from_pretrained(weights)
    assert not emb.weight.requires_grad
    assert emb(m.tensor([1])).tolist() == [[4.0, 5.5, 6.25]]
    assert repr(emb) == "Embedding(2, 3)"
    assert m.nn.Embedding.from_pretrained(weights, freeze=False).weight.requires_grad


def test_max_pool_return_indices_matches_torch():
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 6)).astype(np.float32)
    tout, tidx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    gout, gidx = tapegrad.nn.MaxPool2d(2, return_indices=True)(tapegrad.tensor(x))
    np.testing.assert_array_equal(gout.numpy(), tout.numpy())
    np.testing.assert_array_equal(gidx.numpy(), tidx.numpy())
    assert gidx.dtype == tapegrad.int64


# ----- Dropout ------------------------------------------------------------------------------
def test_dropout_training_zeroes_and_scales(m):
    m.manual_seed(0)
    drop = m.nn.Dropout(p=0.25)
    x = m.ones(100, 100, requires_grad=True)
    out = drop(x)
    values = out.detach().numpy()
    kept = values != 0
    assert set(np.unique(values).tolist()) == {0.0, float(np.float32(4.0) / np.float32(3.0))}
    assert abs(kept.mean() - 0.75) < 0.02
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept * (4.0 / 3.0), rtol=1e-6)


def test_dropout_eval_is_identity(m):
    drop = m.nn.Dropout(p=0.5).eval()
    x = m.randn(4, 4)
    assert drop(x).tolist() == x.tolist()
    assert drop.training is False


def test_dropout_extremes_and_inplace(m):
    x = m.ones(3, 3)
    assert m.nn.Dropout(p=0.0)(x).tolist() == x.tolist()
    assert not m.nn.Dropout(p=1.0)(x).any()
    y = m.ones(3, 3)
    assert m.nn.Dropout(p=0.5, inplace=True)(y) is y
    assert repr(m.nn.Dropout(0.2, True)) == "Dropout(p=0.2, inplace=True)"


# ----- BatchNorm ----------------------------------------------------------------------------
BN_VARIANTS = {
    "default": (lambda nn: nn.BatchNorm1d(3), (6, 3)),
    "momentum-None": (lambda nn: nn.BatchNorm1d(3, momentum=None), (6, 3)),
    "momentum-0.3": (lambda nn: nn.BatchNorm2d(3, momentum=0.3), (2, 3, 4, 4)),
    "momentum-None-2d": (lambda nn: nn.BatchNorm2d(3, momentum=None), (2, 3, 4, 4)),
    "no-running-stats": (lambda nn: nn.BatchNorm1d(3, track_running_stats=False), (6, 3)),
    "no-affine": (lambda nn: nn.BatchNorm2d(3, affine=False), (2, 3, 4, 4)),
    "no-bias": (lambda nn: nn.BatchNorm1d(3, bias=False), (6, 3)),
}


@pytest.mark.parametrize("variant", sorted(BN_VARIANTS))
def test_batchnorm_training_steps_then_eval_match_torch(variant):
    build, shape = BN_VARIANTS[variant]
    tbn, gbn = twins(build)
    assert repr(gbn) == repr(tbn)
    assert [n for n, _ in gbn.named_buffers()] == [n for n, _ in tbn.named_buffers()]
    rng = np.random.default_rng(7)
    for step in range(3):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        tx = torch.tensor(x, requires_grad=True)
        gx = tapegrad.tensor(x, requires_grad=True)
        tout, gout = tbn(tx), gbn(gx)
        compare(gout, tout, "float32", f"step {step} output")
        assert type(gout.grad_fn).__name__ == type(tout.grad_fn).__name__
        # Not a function of the normalised values alone (their sum of squares is constant).
        upstream = rng.standard_normal(shape).astype(np.float32)
        (tout * torch.tensor(upstream)).sum().backward()
        (gout * tapegrad.tensor(upstream)).sum().backward()
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
        tstate = tbn.state_dict()
        for key, value in gbn.state_dict().items():
            compare(value, tstate[key], "float32", f"step {step} {key}")
            assert str(value.dtype) == str(tstate[key].dtype)
    tparams = dict(tbn.named_parameters())
    for pname, gp in gbn.named_parameters():
        np.testing.assert_allclose(gp.grad.numpy(), tparams[pname].grad.numpy(), rtol=1e-4)
    tbn.eval()
    gbn.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    compare(gbn(tapegrad.tensor(x)), tbn(torch.tensor(x)), "float32", "eval output")
    if gbn.num_batches_tracked is not None:
        assert gbn.num_batches_tracked.item() == tbn.num_batches_tracked.item() == 3


def test_batchnorm_eval_does_not_update_statistics(m):
    bn = m.nn.BatchNorm1d(2).eval()
    bn(m.tensor([[1.0, 2.0], [3.0, 5.0]]))
    assert bn.running_mean.tolist() == [0.0, 0.0]
    assert bn.running_var.tolist() == [1.0, 1.0]
    assert bn.num_batches_tracked.item() == 0


def test_batchnorm_buffers(m):
    bn = m.nn.BatchNorm2d(3)
    assert bn.num_batches_tracked.dtype == m.int64
    assert bn.num_batches_tracked.ndim == 0
    assert list(bn.state_dict()) == [
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]
    assert bn.state_dict()._metadata[""] == {"version": 2}
    untracked = m.nn.BatchNorm2d(3, track_running_stats=False)
    assert untracked.running_mean is None
    assert list(untracked.state_dict()) == ["weight", "bias"]
    bn.running_mean.add_(1)
    bn.num_batches_tracked.add_(4)
    bn.reset_running_stats()
    assert bn.running_mean.tolist() == [0.0, 0.0, 0.0]
    assert bn.num_batches_tracked.item() == 0


def test_batchnorm_loads_state_dict_without_num_batches_tracked(m):
    bn = m.nn.BatchNorm1d(2)
    state = {"weight": m.ones(2), "bias": m.zeros(2), "running_mean": m.ones(2)}
    state["running_var"] = m.ones(2)
    assert repr(bn.load_state_dict(state)) == "<All keys matched successfully>"


@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (lambda nn: nn.BatchNorm1d(3), (2, 3, 4, 4)),
        (lambda nn: nn.BatchNorm1d(3), (3,)),
        (lambda nn: nn.BatchNorm2d(3), (2, 3)),
    ],
)
def test_batchnorm_input_dim_errors(m, build, shape):
    with pytest.raises(ValueError, match="input") as info:
        build(m.nn)(m.ones(*shape))
    expected = "expected 4D input" if shape == (2, 3) else "expected 2D or 3D input"
    assert str(info.value) == f"{expected} (got {len(shape)}D input)"


# ----- constructor errors -------------------------------------------------------------------
CONSTRUCTOR_ERRORS = {
    "conv-groups-zero": lambda nn: nn.Conv2d(2, 2, 3, groups=0),
    "conv-in-groups": lambda nn: nn.Conv2d(3, 2, 3, groups=2),
    "conv-out-groups": lambda nn: nn.Conv1d(2, 3, 3, groups=2),
    "conv-padding-string": lambda nn: nn.Conv2d(2, 2, 3, padding="full"),
    "conv-same-strided": lambda nn: nn.Conv2d(2, 2, 3, stride=2, padding="same"),
    "conv-padding-mode": lambda nn: nn.Conv2d(2, 2, 3, padding_mode="mirror"),
    "dropout-p": lambda nn: nn.Dropout(1.5),
    "unflatten-type": lambda nn: nn.Unflatten(1, 4),
    "unflatten-element": lambda nn: nn.Unflatten(1, (2, 2.0)),
    "embedding-padding": lambda nn: nn.Embedding(3, 2, padding_idx=3),
    "bilinear-features": lambda nn: nn.Bilinear(0, 2, 2),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTOR_ERRORS))
def test_constructor_errors_match_torch(name):
    def raised(m):
        with pytest.raises(Exception) as info:  # noqa: PT011 - the type is compared below
            CONSTRUCTOR_ERRORS[name](m.nn)
        return type(info.value), str(info.value)

    ours, theirs = raised(tapegrad), raised(torch)
    assert ours[0] is theirs[0]
    if name == "conv-padding-mode":  # PyTorch prints a set: its order is not stable
        assert ours[1].startswith("padding_mode must be one of {")
    else:
        assert ours == theirs


def test_layer_reprs_match_torch():
    builds = [
        lambda nn: nn.Conv2d(3, 8, 3, stride=2, padding=1, dilation=2, groups=1, bias=False),
        lambda nn: nn.Conv2d(4, 8, (3, 5), padding="same", groups=2),
        lambda nn: nn.Conv2d(4, 8, 3, padding_mode="reflect"),
        lambda nn: nn.Conv1d(4, 8, 3, padding="valid"),
        lambda nn: nn.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, ceil_mode=True),
        lambda nn: nn.AvgPool2d(3, count_include_pad=False),
        lambda nn: nn.AdaptiveAvgPool2d((None, 3)),
        lambda nn: nn.Embedding(10, 3, padding_idx=1, max_norm=2.0, scale_grad_by_freq=True),
        lambda nn: nn.LayerNorm([2, 3], eps=1e-6, bias=False),
        lambda nn: nn.BatchNorm1d(4, eps=1e-3, momentum=None, affine=False),
        lambda nn: nn.Unflatten(-1, [2, 3]),
        lambda nn: nn.Bilinear(2, 3, 4, bias=False),
        lambda nn: nn.SiLU(inplace=True),
        lambda nn: nn.Softmax(),
        lambda nn: nn.Identity(),
    ]
    for build in builds:
        assert repr(build(tapegrad.nn)) == repr(build(torch.nn))


def test_linear_errors_match_torch():
    def raised(m):
        with pytest.raises(RuntimeError) as info:
            m.nn.Linear(4, 3)(m.ones(2, 5))
        return str(info.value)

    assert raised(tapegrad) == raised(torch)


# ----- under a jax trace --------------------------------------------------------------------
@pytest.mark.parametrize("momentum", [0.1, None])
def test_training_step_runs_under_a_jax_trace(momentum):
    """A later tapegrad.compile runs modules with tracers inside the arrays: forward, backward
    and the running-statistics updates must not read values back to the host, and must
    compute what the eager step computes."""
    import jax

    from tapegrad._tensor import _wrap

    nn = tapegrad.nn
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=momentum), nn.ReLU())
    state = {k: v._data for k, v in model.state_dict().items()}
    x = np.linspace(-2, 2, 15, dtype=np.float32).reshape(5, 3)

    def step(state_arrays, x_array):
        # As a compile would lift them: each parameter and buffer gets its array as .data.
        for k, t in model.state_dict(keep_vars=True).items():
            t.data = _wrap(state_arrays[k])
        model.zero_grad()
        for _ in range(2):
            model(_wrap(x_array)).pow(2).mean().backward()
        grads = [p.grad._data for p in model.parameters()]
        return grads, {k: v._data for k, v in model.state_dict().items()}

    traced = jax.jit(step)(state, x)
    eager = step(state, jax.numpy.asarray(x))
    for a, b in zip(jax.tree.leaves(traced), jax.tree.leaves(eager), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    assert int(eager[1]["1.num_batches_tracked"]) == 2
