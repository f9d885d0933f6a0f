"""``nn.init`` and the layers' default initialisations against PyTorch.

Random initialisations cannot match PyTorch's numbers (the generators differ), so each one is
compared as a distribution: a two-sample Kolmogorov-Smirnov test between tapegrad's draw and
PyTorch's draw of the same call, plus the exact bounds. Both generators are seeded, so the
tests are deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad

torch = pytest.importorskip("torch")

SHAPE = (200, 50)  # 10,000 samples; fan_in 50, fan_out 200


@pytest.fixture(autouse=True)
def _seeded():
    tapegrad.manual_seed(0)
    torch.manual_seed(0)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    a, b = np.sort(a.ravel()), np.sort(b.ravel())
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.abs(cdf_a - cdf_b).max())


def assert_same_distribution(ours: np.ndarray, theirs: np.ndarray) -> None:
    # Critical value at significance 0.001: c(alpha) * sqrt((n + m) / (n m)), c = 1.95.
    n, k = ours.size, theirs.size
    critical = 1.95 * math.sqrt((n + k) / (n * k))
    statistic = ks_statistic(ours, theirs)
    assert statistic < critical, f"KS statistic {statistic:.4f} >= {critical:.4f}"


def values(t) -> np.ndarray:
    return np.asarray(t.detach().numpy(), dtype=np.float64)


RANDOM_INITS = {
    "uniform_": lambda m, t: m.nn.init.uniform_(t),
    "uniform_-bounds": lambda m, t: m.nn.init.uniform_(t, -0.3, 0.7),
    "normal_": lambda m, t: m.nn.init.normal_(t),
    "normal_-mean-std": lambda m, t: m.nn.init.normal_(t, 2.0, 0.5),
    "xavier_uniform_": lambda m, t: m.nn.init.xavier_uniform_(t),
    "xavier_uniform_-gain": lambda m, t: m.nn.init.xavier_uniform_(t, gain=5 / 3),
    "xavier_normal_": lambda m, t: m.nn.init.xavier_normal_(t),
    "kaiming_uniform_": lambda m, t: m.nn.init.kaiming_uniform_(t),
    "kaiming_uniform_-sqrt5": lambda m, t: m.nn.init.kaiming_uniform_(t, a=math.sqrt(5)),
    "kaiming_uniform_-fan_out-relu": lambda m, t: m.nn.init.kaiming_uniform_(
        t, mode="fan_out", nonlinearity="relu"
    ),
    "kaiming_normal_": lambda m, t: m.nn.init.kaiming_normal_(t),
    "kaiming_normal_-fan_out-tanh": lambda m, t: m.nn.init.kaiming_normal_(
        t, mode="fan_out", nonlinearity="tanh"
    ),
    "trunc_normal_": lambda m, t: m.nn.init.trunc_normal_(t),
    "trunc_normal_-narrow": lambda m, t: m.nn.init.trunc_normal_(t, 0.5, 2.0, a=0.0, b=1.0),
    "orthogonal_": lambda m, t: m.nn.init.orthogonal_(t),
    "orthogonal_-gain": lambda m, t: m.nn.init.orthogonal_(t, gain=2.0),
}


@pytest.mark.parametrize("name", sorted(RANDOM_INITS))
def test_random_init_matches_torch_distribution(name):
    init = RANDOM_INITS[name]
    ours = tapegrad.empty(*SHAPE)
    theirs = torch.empty(*SHAPE)
    assert init(tapegrad, ours) is ours
    init(torch, theirs)
    a, b = values(ours), values(theirs)
    assert_same_distribution(a, b)
    # The support: the extremes of tapegrad's draw lie within PyTorch's bounds.
    if name.startswith(("uniform", "xavier_uniform", "kaiming_uniform", "trunc")):
        spread = b.max() - b.min()
        assert a.min() >= b.min() - 0.01 * spread
        assert a.max() <= b.max() + 0.01 * spread
    assert ours.dtype == tapegrad.float32


def test_orthogonal_rows_are_orthonormal(m):
    w = m.empty(3, 5)
    m.nn.init.orthogonal_(w)
    np.testing.assert_allclose(values(w @ w.T), np.eye(3), atol=1e-5)
    tall = m.empty(6, 2, 2)  # dimensions after the first are flattened: 6 x 4
    m.nn.init.orthogonal_(tall, gain=3.0)
    flat = values(tall).reshape(6, 4)
    np.testing.assert_allclose(flat.T @ flat, 9 * np.eye(4), atol=1e-4)


def test_uniform_bounds_exact(m):
    bound = 1 / math.sqrt(50)
    w = m.empty(*SHAPE)
    m.nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    a = values(w)
    assert a.min() >= -bound
    assert a.max() < bound
    assert a.min() < -0.99 * bound
    assert a.max() > 0.99 * bound


def test_trunc_normal_stays_within_bounds(m):
    w = m.empty(*SHAPE)
    m.nn.init.trunc_normal_(w, mean=0.0, std=1.0, a=-0.5, b=0.25)
    assert values(w).min() >= -0.5
    assert values(w).max() <= 0.25


def test_trunc_normal_far_mean_warns(m):
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        m.nn.init.trunc_normal_(m.empty(3), mean=5.0, std=1.0, a=-1.0, b=1.0)


DETERMINISTIC = {
    "constant_": (lambda m, t: m.nn.init.constant_(t, 0.3), (2, 3)),
    "ones_": (lambda m, t: m.nn.init.ones_(t), (2, 3)),
    "zeros_": (lambda m, t: m.nn.init.zeros_(t), (2, 3)),
    "eye_": (lambda m, t: m.nn.init.eye_(t), (2, 3)),
    "eye_-tall": (lambda m, t: m.nn.init.eye_(t), (3, 2)),
    "dirac_": (lambda m, t: m.nn.init.dirac_(t), (4, 2, 3)),
    "dirac_-groups": (lambda m, t: m.nn.init.dirac_(t, groups=2), (4, 2, 3, 3)),
}


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_deterministic_init_matches_torch(name):
    fn, shape = DETERMINISTIC[name]
    ours = tapegrad.nn.Parameter(tapegrad.full(shape, 7.0))
    theirs = torch.nn.Parameter(torch.full(shape, 7.0))
    out = fn(tapegrad, ours)
    fn(torch, theirs)
    assert out is ours
    np.testing.assert_array_equal(values(ours), values(theirs))
    assert ours.requires_grad
    assert ours.is_leaf
    assert ours._version == theirs._version


def test_init_on_parameter_is_not_recorded(m):
    p = m.nn.Parameter(m.zeros(4, 3))
    m.nn.init.kaiming_uniform_(p)
    assert p.is_leaf
    assert p.grad_fn is None
    assert p.requires_grad
    assert p._version == 1


GAINS = [
    ("linear", None),
    ("conv2d", None),
    ("conv_transpose3d", None),
    ("sigmoid", None),
    ("tanh", None),
    ("relu", None),
    ("leaky_relu", None),
    ("leaky_relu", 0.2),
    ("leaky_relu", 3),
    ("leaky_relu", math.sqrt(5)),
    ("selu", None),
]


@pytest.mark.parametrize(("nonlinearity", "param"), GAINS)
def test_calculate_gain_matches_torch(nonlinearity, param):
    ours = tapegrad.nn.init.calculate_gain(nonlinearity, param)
    theirs = torch.nn.init.calculate_gain(nonlinearity, param)
    assert ours == theirs
    assert type(ours) is type(theirs)


@pytest.mark.parametrize("shape", [(3, 4), (5, 3, 2), (8, 4, 3, 3), (2, 0)])
def test_fan_in_and_fan_out_match_torch(shape):
    ours = tapegrad.nn.init._calculate_fan_in_and_fan_out(tapegrad.empty(*shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


ERRORS = {
    "gain-unknown": lambda m: m.nn.init.calculate_gain("softplus"),
    "gain-bad-slope": lambda m: m.nn.init.calculate_gain("leaky_relu", True),
    "fan-1d": lambda m: m.nn.init.xavier_uniform_(m.empty(3)),
    "kaiming-1d": lambda m: m.nn.init.kaiming_normal_(m.empty(3)),
    "kaiming-mode": lambda m: m.nn.init.kaiming_uniform_(m.empty(2, 2), mode="fan_avg"),
    "eye-3d": lambda m: m.nn.init.eye_(m.empty(2, 2, 2)),
    "dirac-2d": lambda m: m.nn.init.dirac_(m.empty(2, 2)),
    "dirac-groups": lambda m: m.nn.init.dirac_(m.empty(3, 2, 2), groups=2),
    "orthogonal-1d": lambda m: m.nn.init.orthogonal_(m.empty(3)),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_init_errors_match_torch(name):
    def raised(m):
        with pytest.raises(Exception) as info:  # noqa: PT011 - the type is compared below
            ERRORS[name](m)
        return type(info.value), str(info.value)

    assert raised(tapegrad) == raised(torch)


def test_zero_element_kaiming_warns(m):
    w = m.empty(0, 3)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert m.nn.init.kaiming_uniform_(w) is w


# ----- the layers' default initialisations --------------------------------------------------
DEFAULTS = {  # the layer, its random parameters and their uniform bound (None: normal)
    "Linear": (lambda nn: nn.Linear(256, 64), ["weight"], 1 / 16),
    "Linear-bias": (lambda nn: nn.Linear(16, 2000), ["bias"], 1 / 4),
    "Bilinear": (lambda nn: nn.Bilinear(10, 20, 40), ["weight", "bias"], 1 / math.sqrt(10)),
    "Conv1d": (lambda nn: nn.Conv1d(8, 64, 5), ["weight", "bias"], 1 / math.sqrt(40)),
    "Conv2d": (lambda nn: nn.Conv2d(16, 32, 3), ["weight"], 1 / 12),
    "Conv2d-groups": (lambda nn: nn.Conv2d(16, 64, 3, groups=4), ["weight", "bias"], 1 / 6),
    "Embedding": (lambda nn: nn.Embedding(500, 16), ["weight"], None),
}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_default_initialisation_matches_torch_distribution(name):
    build, params, bound = DEFAULTS[name]
    ours, theirs = build(tapegrad.nn), build(torch.nn)
    for p in params:
        a, b = values(getattr(ours, p)), values(getattr(theirs, p))
        assert a.shape == b.shape
        assert_same_distribution(a, b)
        if bound is not None:
            assert np.abs(b).max() <= bound  # the bound is PyTorch's ...
            assert np.abs(a).max() <= bound  # ... and ours
            assert np.abs(a).max() >= 0.8 * bound  # (at least 40 samples: 0.8**40 < 1e-3)
    for p in ours.parameters():
        assert type(p) is tapegrad.nn.Parameter
        assert p.is_leaf
        assert p.requires_grad


def test_embedding_padding_row_is_zero(m):
    emb = m.nn.Embedding(6, 3, padding_idx=-2)
    assert emb.padding_idx == 4
    assert emb.weight[4].tolist() == [0.0, 0.0, 0.0]
    assert emb.weight.is_leaf
    assert emb.weight.requires_grad


CONSTANT_DEFAULTS = {
    "BatchNorm1d": lambda nn: nn.BatchNorm1d(3),
    "BatchNorm2d-no-affine": lambda nn: nn.BatchNorm2d(3, affine=False),
    "LayerNorm": lambda nn: nn.LayerNorm((2, 3)),
    "LayerNorm-no-bias": lambda nn: nn.LayerNorm(3, bias=False),
}


@pytest.mark.parametrize("name", sorted(CONSTANT_DEFAULTS))
def test_constant_defaults_match_torch(name):
    ours = CONSTANT_DEFAULTS[name](tapegrad.nn).state_dict()
    theirs = CONSTANT_DEFAULTS[name](torch.nn).state_dict()
    assert list(ours) == list(theirs)
    for k in theirs:
        assert ours[k].tolist() == theirs[k].tolist()
        assert str(ours[k].dtype) == str(theirs[k].dtype)


def test_factory_dtype(m):
    lin = m.nn.Linear(3, 2, dtype=m.float64)
    assert lin.weight.dtype == m.float64
    assert lin.bias.dtype == m.float64
    bn = m.nn.BatchNorm1d(2, dtype=m.float64)
    assert bn.running_mean.dtype == m.float64
    assert bn.num_batches_tracked.dtype == m.int64
