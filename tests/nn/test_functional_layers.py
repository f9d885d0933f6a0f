"""tapegrad.nn.functional layers against torch.nn.functional: activations, linear, bilinear,
dropout, batch_norm, layer_norm and embedding (values, dtypes, grad_fn names, gradients,
running statistics, errors). Convolutions and pooling: test_functional_conv.py; losses:
test_functional_losses.py.

``check`` runs the same lambda on torch and on tapegrad with the same NumPy inputs and compares
every output and every input gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.nn.functional as TF

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)}


# ----- the parity helper --------------------------------------------------------------------
def node_chain(t) -> list[str]:
    """Names of the nodes reachable from ``t.grad_fn``, depth first (AccumulateGrad omitted)."""
    out, stack, seen = [], [t.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or type(node).__name__ == "AccumulateGrad":
            continue
        seen.add(id(node))
        out.append(type(node).__name__)
        stack.extend(f for f, _ in reversed(node.next_functions))
    return out


def _run(m, fn, arrays, requires_grad):
    inputs = [
        m.tensor(a, requires_grad=g) if isinstance(a, np.ndarray) else a
        for a, g in zip(arrays, requires_grad, strict=True)
    ]
    out = fn(m, *inputs)
    outs = out if isinstance(out, tuple) else (out,)
    first = outs[0]
    if first.requires_grad:
        upstream = np.cos(np.arange(first.numel())).reshape(tuple(first.shape))
        first.backward(m.tensor(upstream, dtype=first.dtype))
    return {
        "values": [o.detach().numpy() for o in outs],
        "dtypes": [str(o.dtype) for o in outs],
        "requires_grad": [o.requires_grad for o in outs],
        "grad_fn": [type(o.grad_fn).__name__ for o in outs],
        "chain": node_chain(first) if first.grad_fn is not None else [],
        "next": [None if f is None else type(f).__name__ for f, _ in first.grad_fn.next_functions]
        if first.grad_fn is not None
        else [],
        "grads": [
            None if not isinstance(t, m.Tensor) or t.grad is None else t.grad.numpy()
            for t in inputs
        ],
    }


def check(fn, *arrays, grad=None, tol: float = 1.0, chain: bool = True, edges: bool = True):
    """Run ``fn(m, *tensors)`` on torch and tapegrad and compare outputs (values, dtypes,
    requires_grad, grad_fn names, the node chain and edges) and input gradients. Floating
    arrays require grad unless ``grad`` (one bool per input) says otherwise."""
    if grad is None:
        grad = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays]
    ref = _run(torch, fn, arrays, grad)
    got = _run(tapegrad, fn, arrays, grad)
    for key in ("dtypes", "requires_grad", "grad_fn", "next"):
        if key != "next" or edges:
            assert got[key] == ref[key], key
    if chain:
        assert got["chain"] == ref["chain"]
    for r, g, d in zip(ref["values"], got["values"], ref["dtypes"], strict=True):
        rtol, atol = TOL.get(d.removeprefix("torch."), (0, 0))
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=rtol * tol, atol=atol * tol, equal_nan=True)
    for r, g in zip(ref["grads"], got["grads"], strict=True):
        assert (r is None) == (g is None)
        if r is not None:
            rtol, atol = TOL[str(r.dtype)]
            np.testing.assert_allclose(g, r, rtol=rtol * tol, atol=atol * tol, equal_nan=True)
    return ref, got


def error_text(fn):
    """The exception type and message that torch raises for ``fn(torch)``."""
    try:
        fn(torch)
    except Exception as exc:
        return type(exc), str(exc)
    raise AssertionError("torch raised nothing")


def assert_same_error(fn):
    """``fn(tapegrad)`` raises torch's exception type with torch's message."""
    exc, text = error_text(fn)
    with pytest.raises(exc) as info:
        fn(tapegrad)
    assert str(info.value) == text


def randn(rng, *shape, dtype="float32"):
    return rng.standard_normal(shape).astype(dtype)


# ----- activations -------------------------------------------------------------------------
ACTIVATIONS = {
    "relu": lambda m, x: m.nn.functional.relu(x),
    "relu-inplace": lambda m, x: m.nn.functional.relu(x * 1, inplace=True),
    "relu_": lambda m, x: m.nn.functional.relu_(x * 1),
    "leaky_relu": lambda m, x: m.nn.functional.leaky_relu(x, 0.2),
    "leaky_relu-inplace": lambda m, x: m.nn.functional.leaky_relu(x * 1, 0.2, inplace=True),
    "leaky_relu_": lambda m, x: m.nn.functional.leaky_relu_(x * 1),
    "gelu": lambda m, x: m.nn.functional.gelu(x),
    "gelu-tanh": lambda m, x: m.nn.functional.gelu(x, approximate="tanh"),
    "silu": lambda m, x: m.nn.functional.silu(x),
    "silu-inplace": lambda m, x: m.nn.functional.silu(x * 1, inplace=True),
    "sigmoid": lambda m, x: m.nn.functional.sigmoid(x),
    "tanh": lambda m, x: m.nn.functional.tanh(x),
    "softplus": lambda m, x: m.nn.functional.softplus(x),
    "softplus-beta": lambda m, x: m.nn.functional.softplus(x * 10, beta=2, threshold=5),
    "softmax": lambda m, x: m.nn.functional.softmax(x, dim=1),
    "softmax-dtype": lambda m, x: m.nn.functional.softmax(x, -1, dtype=m.float64),
    "log_softmax": lambda m, x: m.nn.functional.log_softmax(x, 0),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_torch(name, dtype, rng):
    check(ACTIVATIONS[name], randn(rng, 3, 4, dtype=dtype))


def test_inplace_activation_keeps_the_tensor_and_bumps_its_version(m):
    x = m.tensor([[-1.0, 2.0], [3.0, -4.0]], requires_grad=True)
    y = x * 1
    for fn in (m.nn.functional.relu_, m.nn.functional.leaky_relu_):
        assert fn(y) is y
    assert y._version == 2
    assert m.nn.functional.relu(y, inplace=True) is y
    assert y.tolist() == [[0.0, 2.0], [3.0, 0.0]]


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_softmax_without_dim_warns_and_picks_torchs_dim(m, ndim):
    shape = (2, 3, 4)[-ndim:]
    x = m.arange(float(np.prod(shape))).reshape(shape) / 10
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        s = m.nn.functional.softmax(x)
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax"):
        ls = m.nn.functional.log_softmax(x)
    dim = 0 if ndim in (1, 3) else 1
    np.testing.assert_allclose(s.sum(dim).numpy(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(ls.exp().sum(dim).numpy(), 1.0, rtol=1e-6)


def test_gelu_rejects_unknown_approximation():
    assert_same_error(lambda m: m.nn.functional.gelu(m.ones(2), approximate="erf"))


# ----- linear and bilinear -----------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_matches_torch(dtype, rng):
    x, w, b = (
        randn(rng, 4, 3, dtype=dtype),
        randn(rng, 5, 3, dtype=dtype),
        randn(rng, 5, dtype=dtype),
    )
    # linear is one node here (AddmmBackward0) where PyTorch also tapes the weight's TBackward0.
    check(lambda m, x, w, b: m.nn.functional.linear(x, w, b), x, w, b, chain=False, edges=False)
    check(lambda m, x, w: m.nn.functional.linear(x, w), x, w, chain=False, edges=False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("s1", "s2", "bias"),
    [((4, 3), (4, 5), True), ((3,), (5,), False), ((2, 4, 3), (2, 4, 5), True)],
)
def test_bilinear_matches_torch(s1, s2, bias, dtype, rng):
    x1, x2 = randn(rng, *s1, dtype=dtype), randn(rng, *s2, dtype=dtype)
    w, b = randn(rng, 2, 3, 5, dtype=dtype), randn(rng, 2, dtype=dtype)
    if bias:
        check(lambda m, a, c, w, b: m.nn.functional.bilinear(a, c, w, b), x1, x2, w, b)
    else:
        check(lambda m, a, c, w: m.nn.functional.bilinear(a, c, w), x1, x2, w)


BILINEAR_ERRORS = {
    "input1-size": ((4, 4), (4, 5), (2, 3, 5), (2,)),
    "input2-size": ((4, 3), (4, 4), (2, 3, 5), (2,)),
    "dims": ((4, 3), (1, 4, 5), (2, 3, 5), (2,)),
    "batch": ((4, 3), (3, 5), (2, 3, 5), (2,)),
    "weight-2d": ((4, 3), (4, 5), (3, 5), (2,)),
    "bias": ((4, 3), (4, 5), (2, 3, 5), (3,)),
}


@pytest.mark.parametrize("name", sorted(BILINEAR_ERRORS))
def test_bilinear_errors_match_torch(name):
    s1, s2, sw, sb = BILINEAR_ERRORS[name]
    assert_same_error(
        lambda m: m.nn.functional.bilinear(m.ones(s1), m.ones(s2), m.ones(sw), m.ones(sb))
    )


def test_bilinear_dtype_error_matches_torch():
    assert_same_error(
        lambda m: m.nn.functional.bilinear(
            m.ones(4, 3), m.ones(4, 5), m.ones(2, 3, 5, dtype=m.float64), m.ones(2)
        )
    )


# ----- dropout -----------------------------------------------------------------------------
def test_dropout_zeroes_a_fraction_p_and_scales_the_rest():
    tapegrad.manual_seed(0)
    x = tapegrad.ones(200, 100, requires_grad=True)
    y = TF.dropout(x, 0.3)
    values = y.detach().numpy()
    assert abs((values == 0).mean() - 0.3) < 0.02
    np.testing.assert_allclose(values[values != 0], 1 / 0.7, rtol=1e-6)
    assert type(y.grad_fn).__name__ == "MulBackward0"
    assert y.dtype is tapegrad.float32


def test_dropout_gradient_is_the_mask_times_the_scale():
    tapegrad.manual_seed(1)
    x = tapegrad.tensor(np.linspace(-2, 2, 60).reshape(6, 10), requires_grad=True)
    y = TF.dropout(x, 0.5)
    upstream = np.cos(np.arange(60)).reshape(6, 10)
    y.backward(tapegrad.tensor(upstream))
    mask = (y.detach().numpy() != 0).astype(np.float64)
    np.testing.assert_allclose(x.grad.numpy(), upstream * mask * 2.0)
    np.testing.assert_allclose(y.detach().numpy(), x.detach().numpy() * mask * 2.0)


def test_dropout_masks_follow_the_seed_and_differ_call_to_call():
    x = tapegrad.ones(8, 16)
    tapegrad.manual_seed(5)
    a, b = TF.dropout(x, 0.5), TF.dropout(x, 0.5)
    tapegrad.manual_seed(5)
    a2 = TF.dropout(x, 0.5)
    assert (a == a2).all().item()
    assert not (a == b).all().item()


def test_dropout_is_the_identity_when_not_training_or_p_is_zero(m):
    x = m.randn(3, 4, requires_grad=True)
    assert m.nn.functional.dropout(x, 0.5, training=False) is x
    assert m.nn.functional.dropout(x, 0.0) is x
    assert m.nn.functional.dropout(x, 0.5, False, True) is x


def test_dropout_with_p_one_multiplies_by_zero(m):
    x = m.tensor([[1.0, -2.0], [3.0, -4.0]], requires_grad=True)
    y = m.nn.functional.dropout(x, 1.0)
    assert y.tolist() == [[0.0, -0.0], [0.0, -0.0]]
    assert np.signbit(y.detach().numpy()).tolist() == [[False, True], [False, True]]
    assert type(y.grad_fn).__name__ == "MulBackward0"
    assert y.grad_fn.next_functions[1] == (None, 0)
    y.sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_inplace_dropout_writes_into_the_input(m):
    x = m.ones(4, 5, requires_grad=True)
    y = x * 1
    out = m.nn.functional.dropout(y, 0.5, inplace=True)
    assert out is y
    assert y._version == 1
    assert node_chain(y) == ["MulBackward0", "MulBackward0"]
    assert set(np.unique(y.detach().numpy())) <= {0.0, 2.0}


@pytest.mark.parametrize("p", [1.5, -0.1])
def test_dropout_probability_outside_0_1_raises_like_torch(p):
    assert_same_error(lambda m: m.nn.functional.dropout(m.ones(2), p))
    assert_same_error(lambda m: m.nn.functional.dropout(m.ones(2), p, training=False))


def test_dropout_of_integers_raises_like_torch():
    assert_same_error(lambda m: m.nn.functional.dropout(m.ones(2, dtype=m.int64), 0.5))


# ----- batch_norm --------------------------------------------------------------------------
def _batch_norm_case(shape, training, affine, dtype, rng, momentum=0.1, eps=1e-5):
    c = shape[1]
    x = randn(rng, *shape, dtype=dtype)
    w, b = randn(rng, c, dtype=dtype), randn(rng, c, dtype=dtype)
    rm = randn(rng, c, dtype=dtype)
    rv = rng.uniform(0.5, 2.0, c).astype(dtype)
    stats = {}

    def fn(m, x, w, b):
        mean, var = m.tensor(rm), m.tensor(rv)
        out = m.nn.functional.batch_norm(
            x, mean, var, w if affine else None, b if affine else None, training, momentum, eps
        )
        stats[m.__name__] = (mean.numpy(), var.numpy(), mean._version, var._version)
        return out

    check(fn, x, w, b, grad=[True, affine, affine])
    ref, got = stats["torch"], stats["tapegrad"]
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(got[0], ref[0], rtol=rtol, atol=atol)
    np.testing.assert_allclose(got[1], ref[1], rtol=rtol, atol=atol)
    assert got[2:] == ref[2:]
    return ref


@pytest.mark.parametrize("shape", [(4, 3), (4, 3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch_float64(shape, training, rng):
    ref = _batch_norm_case(shape, training, True, "float64", rng)
    if training:  # the running statistics moved, without a version bump (as in PyTorch)
        assert ref[2:] == (0, 0)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch_float32_without_affine(training, rng):
    _batch_norm_case((4, 3, 5), training, False, "float32", rng, momentum=0.3, eps=1e-3)


def test_batch_norm_running_update_is_unbiased(m):
    x = m.tensor([[1.0, 2.0], [3.0, 6.0]])
    mean, var = m.zeros(2), m.ones(2)
    m.nn.functional.batch_norm(x, mean, var, training=True, momentum=0.5)
    assert mean.tolist() == [1.0, 2.0]
    assert var.tolist() == [1.5, 4.5]  # 0.5 * 1 + 0.5 * unbiased var (2 and 8)


def test_batch_norm_in_training_without_running_statistics(rng):
    x = randn(rng, 4, 3, dtype="float64")
    check(lambda m, x: m.nn.functional.batch_norm(x, None, None, training=True), x)


BATCH_NORM_ERRORS = {
    "one-value-2d": lambda m: m.nn.functional.batch_norm(
        m.ones(1, 3), m.zeros(3), m.ones(3), training=True
    ),
    "one-value-4d": lambda m: m.nn.functional.batch_norm(
        m.ones(1, 3, 1, 1), m.zeros(3), m.ones(3), training=True
    ),
    "running-mean-size": lambda m: m.nn.functional.batch_norm(
        m.ones(4, 3), m.zeros(2), m.ones(3), training=True
    ),
    "running-var-size": lambda m: m.nn.functional.batch_norm(m.ones(4, 3), m.zeros(3), m.ones(2)),
    "weight-size": lambda m: m.nn.functional.batch_norm(
        m.ones(4, 3), m.zeros(3), m.ones(3), m.ones(2)
    ),
    "bias-size": lambda m: m.nn.functional.batch_norm(
        m.ones(4, 3), m.zeros(3), m.ones(3), None, m.ones(2)
    ),
    "eval-without-stats": lambda m: m.nn.functional.batch_norm(m.ones(4, 3), None, None),
    "integer-input": lambda m: m.nn.functional.batch_norm(
        m.ones(4, 3, dtype=m.int64), m.zeros(3), m.ones(3), training=True
    ),
    "momentum-none": lambda m: m.nn.functional.batch_norm(
        m.ones(4, 3), m.zeros(3), m.ones(3), training=True, momentum=None
    ),
    "running-mean-requires-grad": lambda m: m.nn.functional.batch_norm(
        m.ones(4, 3), m.zeros(3, requires_grad=True), m.ones(3)
    ),
    "zero-eps-in-training": lambda m: m.nn.functional.batch_norm(
        m.ones(4, 3), m.zeros(3), m.ones(3), training=True, eps=0.0
    ),
    "negative-eps-in-eval": lambda m: m.nn.functional.batch_norm(
        m.ones(4, 3), m.zeros(3), m.ones(3), eps=-1.0
    ),
    "module-zero-eps": lambda m: m.nn.BatchNorm1d(3, eps=0)(m.ones(4, 3)),
}


@pytest.mark.parametrize("name", sorted(BATCH_NORM_ERRORS))
def test_batch_norm_errors_match_torch(name):
    assert_same_error(BATCH_NORM_ERRORS[name])


# ----- layer_norm --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("shape", "normalized", "affine"),
    [
        ((4, 3), (3,), (True, True)),
        ((2, 4, 3), (4, 3), (False, True)),
        ((2, 4, 3), [3], (True, False)),
    ],
)
def test_layer_norm_matches_torch(shape, normalized, affine, dtype, rng):
    x = randn(rng, *shape, dtype=dtype)
    w, b = randn(rng, *tuple(normalized), dtype=dtype), randn(rng, *tuple(normalized), dtype=dtype)

    def fn(m, x, w, b):
        return m.nn.functional.layer_norm(
            x, normalized, w if affine[0] else None, b if affine[1] else None, 1e-3
        )

    check(fn, x, w, b, grad=[True, *affine])


LAYER_NORM_ERRORS = {
    "shape": lambda m: m.nn.functional.layer_norm(m.ones(4, 3), (4,)),
    "int-shape": lambda m: m.nn.functional.layer_norm(m.ones(4, 3), 3),
    "weight": lambda m: m.nn.functional.layer_norm(m.ones(4, 3), (3,), m.ones(2)),
    "bias": lambda m: m.nn.functional.layer_norm(m.ones(4, 3), (3,), None, m.ones(2)),
    "integer": lambda m: m.nn.functional.layer_norm(m.ones(4, 3, dtype=m.int64), (3,)),
}


@pytest.mark.parametrize("name", sorted(LAYER_NORM_ERRORS))
def test_layer_norm_errors_match_torch(name):
    assert_same_error(LAYER_NORM_ERRORS[name])


# ----- embedding ---------------------------------------------------------------------------
EMBEDDINGS = {
    "plain": ([1, 2, 2, 5], {}),
    "2d-indices": ([[1, 2], [2, 9]], {}),
    "padding": ([[1, 2], [2, 9]], {"padding_idx": 2}),
    "negative-padding": ([[1, 2], [2, 9]], {"padding_idx": -1}),
    "scale-by-frequency": (
        [[1, 2], [2, 9], [2, 2]],
        {"scale_grad_by_freq": True, "padding_idx": 9},
    ),
    "scalar-index": (3, {}),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(EMBEDDINGS))
def test_embedding_matches_torch(name, dtype, rng):
    indices, kwargs = EMBEDDINGS[name]
    w = randn(rng, 10, 3, dtype=dtype)
    check(lambda m, w: m.nn.functional.embedding(m.tensor(indices), w, **kwargs), w)


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_embedding_max_norm_renormalizes_rows_in_place(norm_type, rng):
    w = randn(rng, 10, 3, dtype="float64")
    weights = {}

    def fn(m, w):
        out = m.nn.functional.embedding(
            m.tensor([[1, 2], [2, 9]]), w, max_norm=0.8, norm_type=norm_type
        )
        weights[m.__name__] = (w.detach().numpy(), w._version)
        return out

    check(fn, w)
    np.testing.assert_allclose(weights["tapegrad"][0], weights["torch"][0], rtol=1e-10)
    assert weights["tapegrad"][1] == weights["torch"][1] == 1


def test_embedding_indices_are_not_differentiable(m):
    w = m.randn(10, 3, requires_grad=True)
    y = m.nn.functional.embedding(m.tensor([1, 2]), w)
    assert len(y.grad_fn.next_functions) == 1


EMBEDDING_ERRORS = {
    "out-of-range": lambda m: m.nn.functional.embedding(m.tensor([1, 10]), m.ones(10, 3)),
    "negative": lambda m: m.nn.functional.embedding(m.tensor([1, -1]), m.ones(10, 3)),
    "float-indices": lambda m: m.nn.functional.embedding(m.tensor([1.0]), m.ones(10, 3)),
    "bool-indices": lambda m: m.nn.functional.embedding(m.tensor([True]), m.ones(10, 3)),
    "padding-too-large": lambda m: m.nn.functional.embedding(
        m.tensor([1]), m.ones(10, 3), padding_idx=10
    ),
    "padding-too-small": lambda m: m.nn.functional.embedding(
        m.tensor([1]), m.ones(10, 3), padding_idx=-11
    ),
    "weight-1d": lambda m: m.nn.functional.embedding(m.tensor([1]), m.ones(10)),
    "max-norm-out-of-range": lambda m: m.nn.functional.embedding(
        m.tensor([1, 12]), m.ones(10, 3), max_norm=1.0
    ),
}


@pytest.mark.parametrize("name", sorted(EMBEDDING_ERRORS))
def test_embedding_errors_match_torch(name):
    assert_same_error(EMBEDDING_ERRORS[name])


def test_functional_names_are_torchs():
    for name in TF.__all__:
        assert hasattr(F, name), name
    assert TF.linear is tapegrad.linear


# ----- second derivatives ------------------------------------------------------------------
SECOND_ORDER = {
    "batch_norm": lambda m, x: m.nn.functional.batch_norm(x, None, None, training=True).pow(3),
    "layer_norm": lambda m, x: m.nn.functional.layer_norm(x, (3,)).pow(3),
    "embedding": lambda m, x: m.nn.functional.embedding(m.tensor([0, 2, 2]), x).pow(3),
    "gelu": lambda m, x: m.nn.functional.gelu(x),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives_match_torch(name, rng):
    def fn(m, x):
        (g,) = m.autograd.grad(SECOND_ORDER[name](m, x).sum(), x, create_graph=True)
        return g.pow(2).sum()

    check(fn, randn(rng, 4, 3, dtype="float64"), chain=False, edges=False)
