"""Losses of tapegrad.nn.functional against torch.nn.functional: every reduction, values,
dtypes, node chains, gradients of input and target, PyTorch's warnings and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from .test_functional_layers import assert_same_error, check, error_text, randn

torch = pytest.importorskip("torch")

REDUCTIONS = ["mean", "sum", "none"]


def probabilities(rng, *shape, dtype="float64"):
    z = np.exp(rng.standard_normal(shape))
    return (z / z.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)).astype(dtype)


# ----- regression losses -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss"])
def test_regression_loss_matches_torch(name, reduction, dtype, rng):
    x, t = randn(rng, 4, 3, dtype=dtype), randn(rng, 4, 3, dtype=dtype)
    check(lambda m, x, t: getattr(m.nn.functional, name)(x, t, reduction=reduction), x, t)


@pytest.mark.parametrize("beta", [0.0, 0.5, 2.0])
def test_smooth_l1_beta_matches_torch(beta, rng):
    x, t = randn(rng, 4, 3, dtype="float64"), randn(rng, 4, 3, dtype="float64")
    check(lambda m, x, t: m.nn.functional.smooth_l1_loss(x, t, beta=beta), x, t)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_regression_loss_matches_torch(name, reduction, rng):
    x, t = randn(rng, 4, 3, dtype="float64"), randn(rng, 4, 3, dtype="float64")
    w = rng.uniform(0.5, 2.0, (4, 3))
    check(
        lambda m, x, t, w: getattr(m.nn.functional, name)(x, t, reduction=reduction, weight=w),
        x,
        t,
        w,
        grad=[True, True, False],
    )


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss"])
def test_regression_loss_mixed_dtypes_match_torch(name, rng):
    x = randn(rng, 4, 3, dtype="float32")
    check(
        lambda m, x, t: getattr(m.nn.functional, name)(x, t), x, randn(rng, 4, 3, dtype="float64")
    )
    t = rng.integers(-2, 3, (4, 3))
    check(lambda m, x, t: getattr(m.nn.functional, name)(x, t), x, t)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss"])
def test_broadcasting_target_warns_like_torch(name, rng):
    x, t = randn(rng, 4, 3, dtype="float64"), randn(rng, 3, dtype="float64")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check(lambda m, x, t: getattr(m.nn.functional, name)(x, t), x, t)
    texts = [str(w.message) for w in caught]
    assert len(texts) == 2
    assert texts[0] == texts[1]
    assert texts[0].startswith("Using a target size (torch.Size([3])) that is different")


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss"])
def test_regression_loss_shape_mismatch_warns_then_raises_like_torch(name):
    def fn(m):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return getattr(m.nn.functional, name)(m.ones(4, 3), m.ones(5, 3))

    assert_same_error(fn)


def test_legacy_size_average_and_reduce_warn_like_torch(m):
    x, t = m.tensor([1.0, 2.0]), m.tensor([0.0, 0.0])
    with pytest.warns(UserWarning, match="please use reduction='sum' instead"):
        assert m.nn.functional.mse_loss(x, t, size_average=False).item() == 5.0
    with pytest.warns(UserWarning, match="please use reduction='none' instead"):
        assert m.nn.functional.l1_loss(x, t, reduce=False).tolist() == [1.0, 2.0]


REGRESSION_ERRORS = {
    "bad-reduction": lambda m: m.nn.functional.mse_loss(m.ones(2), m.ones(2), reduction="avg"),
    "bad-reduction-l1": lambda m: m.nn.functional.l1_loss(m.ones(2), m.ones(2), reduction="x"),
    "integers": lambda m: m.nn.functional.mse_loss(
        m.ones(2, dtype=m.int64), m.ones(2, dtype=m.int64)
    ),
    "smooth-l1-integers": lambda m: m.nn.functional.smooth_l1_loss(
        m.ones(2, dtype=m.int64), m.ones(2, dtype=m.int64)
    ),
    "negative-beta": lambda m: m.nn.functional.smooth_l1_loss(m.ones(2), m.ones(2), beta=-1.0),
    "weight-shape": lambda m: m.nn.functional.mse_loss(m.ones(2), m.ones(2), weight=m.ones(3)),
    "weighted-bad-reduction": lambda m: m.nn.functional.l1_loss(
        m.ones(2), m.ones(2), reduction="avg", weight=m.ones(2)
    ),
}


@pytest.mark.parametrize("name", sorted(REGRESSION_ERRORS))
def test_regression_loss_errors_match_torch(name):
    assert_same_error(REGRESSION_ERRORS[name])


# ----- nll_loss and cross_entropy with class indices ---------------------------------------
TARGETS = np.array([0, 2, 1, 0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_torch(reduction, dtype, rng):
    x = randn(rng, 4, 3, dtype=dtype)
    w = rng.uniform(0.5, 2.0, 3).astype(dtype)
    check(lambda m, x, t: m.nn.functional.nll_loss(x, t, reduction=reduction), x, TARGETS)
    check(
        lambda m, x, t, w: m.nn.functional.nll_loss(x, t, w, ignore_index=1, reduction=reduction),
        x,
        TARGETS,
        w,
        grad=[True, False, False],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("shape", "target_shape"),
    [((3,), ()), ((2, 3, 4), (2, 4)), ((2, 3, 4, 2), (2, 4, 2)), ((2, 3, 2, 2, 2), (2, 2, 2, 2))],
)
def test_nll_loss_of_other_ranks_matches_torch(shape, target_shape, reduction, rng):
    x = randn(rng, *shape, dtype="float64")
    t = rng.integers(0, 3, target_shape)
    check(lambda m, x, t: m.nn.functional.nll_loss(x, t, reduction=reduction), x, t)


def test_nll_loss_accepts_uint8_targets_and_unbatched_size_one_targets(m):
    x = m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert m.nn.functional.nll_loss(x, m.tensor([2, 0], dtype=m.uint8)).item() == -3.5
    assert m.nn.functional.nll_loss(x[0], m.tensor([2]), reduction="none").item() == -3.0


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_torch(reduction, label_smoothing, rng):
    x = randn(rng, 4, 3, dtype="float64")
    w = rng.uniform(0.5, 2.0, 3)
    kw = {"reduction": reduction, "label_smoothing": label_smoothing}
    check(lambda m, x, t: m.nn.functional.cross_entropy(x, t, **kw), x, TARGETS)
    check(
        lambda m, x, t, w: m.nn.functional.cross_entropy(x, t, w, ignore_index=0, **kw),
        x,
        TARGETS,
        w,
        grad=[True, False, False],
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("shape", "target_shape"), [((3,), ()), ((2, 3, 4, 2), (2, 4, 2))])
def test_cross_entropy_of_other_ranks_matches_torch(shape, target_shape, dtype, rng):
    x = randn(rng, *shape, dtype=dtype)
    t = rng.integers(0, 3, target_shape)
    check(lambda m, x, t: m.nn.functional.cross_entropy(x, t), x, t)
    check(lambda m, x, t: m.nn.functional.cross_entropy(x, t, label_smoothing=0.3), x, t)


def test_all_targets_ignored_give_nan_and_a_zero_gradient(rng):
    x = randn(rng, 4, 3, dtype="float64")
    ignored = np.full(4, -100)
    check(lambda m, x, t: m.nn.functional.nll_loss(x, t), x, ignored)
    check(lambda m, x, t: m.nn.functional.cross_entropy(x, t, label_smoothing=0.1), x, ignored)


# ----- cross_entropy with class probabilities ----------------------------------------------
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_probabilities_matches_torch(reduction, label_smoothing, rng):
    x, p = randn(rng, 4, 3, dtype="float64"), probabilities(rng, 4, 3)
    w = rng.uniform(0.5, 2.0, 3)
    kw = {"reduction": reduction, "label_smoothing": label_smoothing}
    check(lambda m, x, p: m.nn.functional.cross_entropy(x, p, **kw), x, p)
    check(
        lambda m, x, p, w: m.nn.functional.cross_entropy(x, p, w, **kw),
        x,
        p,
        w,
        grad=[True, True, False],
    )


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4)])
def test_cross_entropy_with_probabilities_of_other_ranks_matches_torch(shape, rng):
    x, p = randn(rng, *shape, dtype="float32"), probabilities(rng, *shape, dtype="float32")
    for reduction in REDUCTIONS:
        kw = {"reduction": reduction}
        check(lambda m, x, p, kw=kw: m.nn.functional.cross_entropy(x, p, **kw), x, p)


def test_cross_entropy_with_float64_probabilities_promotes_like_torch(rng):
    x, p = randn(rng, 4, 3, dtype="float32"), probabilities(rng, 4, 3)
    check(lambda m, x, p: m.nn.functional.cross_entropy(x, p), x, p)


def _nll(shape, target, fn="nll_loss", **kwargs):
    def call(m):
        t = m.tensor(target) if not isinstance(target, tuple) else m.zeros(target, dtype=m.int64)
        return getattr(m.nn.functional, fn)(m.ones(shape), t, **kwargs)

    return call


CLASSIFICATION_ERRORS = {
    "bad-reduction": _nll((4, 3), [0, 1, 2, 0], reduction="avg"),
    "batch-size": _nll((4, 3), [0, 1, 2]),
    "target-out-of-range": _nll((4, 3), [0, 3, 1, 0]),
    "target-negative": _nll((4, 3), [0, -1, 1, 0]),
    "spatial-target-out-of-range": _nll((4, 3, 5), [[3] * 5] * 4),
    "float-target": _nll((4, 3), [0.0, 1.0, 2.0, 0.0]),
    "int32-target": lambda m: m.nn.functional.nll_loss(m.ones(4, 3), m.zeros(4, dtype=m.int32)),
    "weight-size": lambda m: m.nn.functional.nll_loss(
        m.ones(4, 3), m.zeros(4, dtype=m.int64), m.ones(2)
    ),
    "weight-dtype": lambda m: m.nn.functional.nll_loss(
        m.ones(4, 3), m.zeros(4, dtype=m.int64), m.ones(3, dtype=m.float64)
    ),
    "weight-requires-grad": lambda m: m.nn.functional.nll_loss(
        m.ones(4, 3), m.zeros(4, dtype=m.int64), m.ones(3, requires_grad=True)
    ),
    "0d-input": lambda m: m.nn.functional.nll_loss(m.tensor(1.0), m.tensor(0)),
    "3d-target-size": _nll((4, 3, 5), (4, 6)),
    "4d-target-rank": _nll((4, 3, 5, 2), (4, 5)),
    "4d-target-size": _nll((4, 3, 5, 2), (4, 5, 3)),
    "5d-target-size": _nll((4, 3, 5, 2, 2), (4, 5, 2)),
    "4d-weight-size": lambda m: m.nn.functional.nll_loss(
        m.ones(4, 3, 5, 2), m.zeros(4, 5, 2, dtype=m.int64), m.ones(2)
    ),
    "multi-target": _nll((4, 3), (4, 1)),
    "unbatched-target-size": _nll((3,), [1, 2]),
    "integer-input": lambda m: m.nn.functional.nll_loss(
        m.ones(4, 3, dtype=m.int64), m.zeros(4, dtype=m.int64)
    ),
    "ce-bad-reduction": _nll((4, 3), [0, 1, 2, 0], "cross_entropy", reduction="avg"),
    "ce-target-out-of-range": _nll((4, 3), [0, 3, 1, 0], "cross_entropy"),
    "ce-smoothing-too-big": _nll((4, 3), [0, 1, 2, 0], "cross_entropy", label_smoothing=1.5),
    "ce-smoothing-target-out-of-range": _nll(
        (4, 3), [0, 3, 1, 0], "cross_entropy", label_smoothing=0.5
    ),
    "ce-integer-probabilities": lambda m: m.nn.functional.cross_entropy(m.ones(()), m.tensor(0)),
    "ce-probabilities-ignore-index": lambda m: m.nn.functional.cross_entropy(
        m.ones(4, 3), m.ones(4, 3), ignore_index=1
    ),
    "ce-probabilities-smoothing-too-big": lambda m: m.nn.functional.cross_entropy(
        m.ones(4, 3), m.ones(4, 3), label_smoothing=1.5
    ),
    "ce-probabilities-weight-size": lambda m: m.nn.functional.cross_entropy(
        m.ones(4, 3), m.ones(4, 3), m.ones(2)
    ),
    "ce-probability-shape": lambda m: m.nn.functional.cross_entropy(m.ones(4, 3), m.ones(4, 2)),
    "ce-integer-input": lambda m: m.nn.functional.cross_entropy(
        m.ones(4, 3, dtype=m.int64), m.zeros(4, dtype=m.int64)
    ),
}


@pytest.mark.parametrize("name", sorted(CLASSIFICATION_ERRORS))
def test_classification_loss_errors_match_torch(name):
    assert_same_error(CLASSIFICATION_ERRORS[name])


def test_negative_label_smoothing_is_ignored_like_torch(rng):
    x = randn(rng, 4, 3, dtype="float64")
    check(lambda m, x, t: m.nn.functional.cross_entropy(x, t, label_smoothing=-0.5), x, TARGETS)


# ----- binary cross entropy ----------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_torch(reduction, dtype, rng):
    p, t = rng.uniform(0.05, 0.95, (4, 3)).astype(dtype), rng.uniform(size=(4, 3)).astype(dtype)
    w = rng.uniform(0.5, 2.0, 3).astype(dtype)
    check(lambda m, p, t: m.nn.functional.binary_cross_entropy(p, t, reduction=reduction), p, t)
    check(
        lambda m, p, t, w: m.nn.functional.binary_cross_entropy(p, t, w, reduction=reduction),
        p,
        t,
        w,
        grad=[True, True, False],
    )


def test_binary_cross_entropy_clamps_its_logs_at_minus_100_like_torch():
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-50, 0.5])
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.25])
    check(lambda m, p, t: m.nn.functional.binary_cross_entropy(p, t, reduction="none"), p, t)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits_matches_torch(reduction, dtype, rng):
    x, t = randn(rng, 4, 3, dtype=dtype), rng.uniform(size=(4, 3)).astype(dtype)
    w, pw = rng.uniform(0.5, 2.0, 3).astype(dtype), rng.uniform(0.5, 2.0, 3).astype(dtype)
    f = "binary_cross_entropy_with_logits"
    check(lambda m, x, t: getattr(m.nn.functional, f)(x, t, reduction=reduction), x, t)
    check(
        lambda m, x, t, w, pw: getattr(m.nn.functional, f)(
            x, t, w, reduction=reduction, pos_weight=pw
        ),
        x,
        t,
        w,
        pw,
        grad=[True, True, False, False],
    )


@pytest.mark.parametrize(("x_dtype", "t_dtype"), [("float64", "float32"), ("float32", "float64")])
def test_binary_cross_entropy_with_logits_has_the_targets_dtype(x_dtype, t_dtype, rng):
    x, t = randn(rng, 4, 3, dtype=x_dtype), rng.uniform(size=(4, 3)).astype(t_dtype)
    check(lambda m, x, t: m.nn.functional.binary_cross_entropy_with_logits(x, t), x, t, tol=1e5)


def _bce(fn, shape=(4, 3), t_shape=(4, 3), p_dtype=None, t_dtype=None, scale=1.0, **kwargs):
    def call(m):
        p = m.full(shape, 0.5 * scale, dtype=p_dtype and getattr(m, p_dtype))
        t = m.full(t_shape, 0.25, dtype=t_dtype and getattr(m, t_dtype))
        kw = {k: (v(m) if callable(v) else v) for k, v in kwargs.items()}
        return getattr(m.nn.functional, fn)(p, t, **kw)

    return call


BCE = "binary_cross_entropy"
BCEL = "binary_cross_entropy_with_logits"
BCE_ERRORS = {
    "bad-reduction": _bce(BCE, reduction="avg"),
    "target-size": _bce(BCE, t_shape=(3,)),
    "input-out-of-range": _bce(BCE, scale=3.0),
    "target-dtype": _bce(BCE, t_dtype="float64"),
    "input-integers": _bce(BCE, p_dtype="int64", t_dtype="int64"),
    "weight-shape": _bce(BCE, weight=lambda m: m.ones(2)),
    "weight-requires-grad": _bce(BCE, weight=lambda m: m.ones(3, requires_grad=True)),
    "logits-bad-reduction": _bce(BCEL, reduction="avg"),
    "logits-target-size": _bce(BCEL, t_shape=(3,)),
    "logits-weight-shape": _bce(BCEL, weight=lambda m: m.ones(2)),
    "logits-weight-too-big": _bce(BCEL, weight=lambda m: m.ones(2, 4, 3)),
    "logits-pos-weight-shape": _bce(BCEL, pos_weight=lambda m: m.ones(2)),
    "logits-integer-target": _bce(BCEL, t_dtype="int64"),
    "logits-integer-input": _bce(BCEL, p_dtype="int64"),
    "logits-weight-requires-grad": _bce(BCEL, weight=lambda m: m.ones(3, requires_grad=True)),
    "logits-pos-weight-requires-grad": _bce(
        BCEL, pos_weight=lambda m: m.ones(3, requires_grad=True)
    ),
}


@pytest.mark.parametrize("name", sorted(BCE_ERRORS))
def test_binary_cross_entropy_errors_match_torch(name):
    assert_same_error(BCE_ERRORS[name])


def test_binary_cross_entropy_target_out_of_range_matches_torch():
    def fn(m):
        return m.nn.functional.binary_cross_entropy(m.full((2,), 0.5), m.tensor([0.5, 2.0]))

    assert error_text(fn)[1] == "all elements of target should be between 0 and 1"
    assert_same_error(fn)


# ----- second derivatives ------------------------------------------------------------------
SECOND_ORDER = {
    "mse_loss": lambda m, x, p: m.nn.functional.mse_loss(x, p),
    "smooth_l1_loss": lambda m, x, p: m.nn.functional.smooth_l1_loss(x * 3, p, beta=2.0),
    "cross_entropy": lambda m, x, p: m.nn.functional.cross_entropy(x, m.tensor([0, 2, 1, 0])),
    "cross_entropy-probabilities": lambda m, x, p: m.nn.functional.cross_entropy(x, p),
    "binary_cross_entropy": lambda m, x, p: m.nn.functional.binary_cross_entropy(x.sigmoid(), p),
    "binary_cross_entropy_with_logits": lambda m, x, p: (
        m.nn.functional.binary_cross_entropy_with_logits(x, p)
    ),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives_match_torch(name, rng):
    def fn(m, x, p):
        (g,) = m.autograd.grad(SECOND_ORDER[name](m, x, p), x, create_graph=True)
        return g.pow(2).sum()

    x, p = randn(rng, 4, 3, dtype="float64"), probabilities(rng, 4, 3)
    check(fn, x, p, grad=[True, False], chain=False, edges=False)
