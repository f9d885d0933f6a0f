"""The global random generator: seeding, shapes and dtypes, bounds, statistics, state and errors.

tapegrad's numbers are not PyTorch's (the generators differ), so values are checked for
reproducibility and distribution; shapes, dtypes, flags and errors are checked against PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402

MODULES = [pytest.param(torch, id="torch"), pytest.param(tg, id="tapegrad")]
FLOATS = ["float16", "bfloat16", "float32", "float64"]
DRAWS = {
    "rand": lambda m: m.rand(3, 2),
    "randn": lambda m: m.randn(3, 2),
    "randint": lambda m: m.randint(0, 1000, (3, 2)),
    "rand_like": lambda m: m.rand_like(m.zeros(3, 2)),
    "randn_like": lambda m: m.randn_like(m.zeros(3, 2)),
}


@pytest.fixture(autouse=True)
def _restore_generators():
    """Tests reseed both generators; put back their states and default dtypes afterwards."""
    t_state, g_state = torch.get_rng_state(), tg.get_rng_state()
    yield
    torch.set_rng_state(t_state)
    tg.set_rng_state(g_state)
    torch.set_default_dtype(torch.float32)
    tg.set_default_dtype(tg.float32)


def outcome(fn, m):
    try:
        value = fn(m)
    except Exception as exc:  # compared with torch's, not swallowed
        return (type(exc).__name__, str(exc))
    if isinstance(value, (torch.Tensor, tg.Tensor)):
        return ("tensor", str(value.dtype), tuple(value.shape), value.requires_grad, value.is_leaf)
    return (type(value).__name__, repr(value))


def assert_same(fn):
    """``fn`` gives a tensor of the same dtype, shape and flags (or the same error)."""
    assert outcome(fn, tg) == outcome(fn, torch)


# ----- seeding --------------------------------------------------------------------------------
@pytest.mark.parametrize("draw", DRAWS.values(), ids=DRAWS.keys())
def test_same_seed_gives_the_same_numbers(draw):
    tg.manual_seed(123)
    first = draw(tg).tolist()
    second = draw(tg).tolist()
    tg.manual_seed(123)
    assert draw(tg).tolist() == first
    assert draw(tg).tolist() == second
    assert first != second  # the generator advances


@pytest.mark.parametrize("draw", DRAWS.values(), ids=DRAWS.keys())
def test_different_seeds_give_different_numbers(draw):
    tg.manual_seed(1)
    first = draw(tg).tolist()
    tg.manual_seed(2)
    assert draw(tg).tolist() != first


def test_manual_seed_sets_initial_seed_like_torch():
    for seed in (0, 7, 2**63, 2**64 - 1, -1, -(2**63), True, 3.5):
        torch.manual_seed(seed)
        tg.manual_seed(seed)
        assert tg.initial_seed() == torch.initial_seed(), seed


def test_manual_seed_with_large_seeds_is_deterministic():
    tg.manual_seed(2**64 - 1)
    a = tg.rand(4).tolist()
    tg.manual_seed(-1)  # the same seed modulo 2**64
    assert tg.rand(4).tolist() == a
    tg.manual_seed(2**63)
    assert tg.rand(4).tolist() != a


@pytest.mark.parametrize(("exc_type", "seed"), [(ValueError, 2**64), (ValueError, -(2**63) - 1)])
def test_manual_seed_out_of_range_raises_like_torch(exc_type, seed):
    with pytest.raises(exc_type) as expected:
        torch.manual_seed(seed)
    with pytest.raises(exc_type) as got:
        tg.manual_seed(seed)
    assert str(got.value) == str(expected.value)


def test_manual_seed_of_a_string_raises_value_error():
    with pytest.raises(ValueError, match="invalid literal for int"):
        torch.manual_seed("a")
    with pytest.raises(ValueError, match="invalid literal for int"):
        tg.manual_seed("a")


def test_seed_reseeds_non_deterministically():
    s = tg.seed()
    assert tg.initial_seed() == s
    assert 0 <= s < 2**64


# ----- rng state ------------------------------------------------------------------------------
def test_rng_state_round_trip():
    tg.manual_seed(5)
    tg.rand(3)
    state = tg.get_rng_state()
    assert (state.dtype, state.ndim) == (tg.uint8, 1)
    assert str(state.dtype) == str(torch.get_rng_state().dtype)
    expected = [tg.rand(3).tolist(), tg.randn(2).tolist(), tg.randint(9, (4,)).tolist()]
    tg.manual_seed(99)
    tg.set_rng_state(state)
    assert [tg.rand(3).tolist(), tg.randn(2).tolist(), tg.randint(9, (4,)).tolist()] == expected
    assert tg.initial_seed() == 5
    assert tg.get_rng_state().tolist() != state.tolist()  # drawing moved the state on


def test_set_rng_state_errors():
    with pytest.raises(TypeError, match=r"^expected a torch\.ByteTensor, but got list$"):
        torch.set_rng_state([1])
    with pytest.raises(TypeError, match=r"^expected a torch\.ByteTensor, but got list$"):
        tg.set_rng_state([1])
    with pytest.raises(TypeError, match=r"^RNG state must be a torch\.ByteTensor$"):
        torch.set_rng_state(torch.ones(3))
    with pytest.raises(TypeError, match=r"^RNG state must be a torch\.ByteTensor$"):
        tg.set_rng_state(tg.ones(3))
    with pytest.raises(RuntimeError, match=r"input RNG state size to be 3$"):
        torch.set_rng_state(torch.ones(3, dtype=torch.uint8))
    with pytest.raises(RuntimeError, match=r"input RNG state size to be 3$"):
        tg.set_rng_state(tg.ones(3, dtype=tg.uint8))


# ----- shapes, dtypes, flags --------------------------------------------------------------------
SHAPES = {
    "varargs": (3, 2),
    "tuple": ((3, 2),),
    "list": ([3, 2],),
    "size": "Size",
    "0-d": ((),),
    "empty": (0,),
}


def _shape_args(m, key):
    return (m.Size([3, 2]),) if SHAPES[key] == "Size" else SHAPES[key]


@pytest.mark.parametrize("key", SHAPES.keys())
@pytest.mark.parametrize("fn", ["rand", "randn"])
def test_rand_and_randn_shapes_and_dtypes(fn, key):
    assert_same(lambda m: getattr(m, fn)(*_shape_args(m, key)))


@pytest.mark.parametrize("name", FLOATS)
@pytest.mark.parametrize("fn", ["rand", "randn"])
def test_rand_and_randn_take_float_dtypes_and_requires_grad(fn, name):
    assert_same(lambda m: getattr(m, fn)(2, dtype=getattr(m, name)))
    assert_same(lambda m: getattr(m, fn)(2, dtype=getattr(m, name), requires_grad=True))
    assert_same(lambda m: getattr(m, fn)((2,), device="cpu"))


@pytest.mark.parametrize("name", FLOATS)
def test_rand_and_randn_follow_the_default_dtype(name):
    torch.set_default_dtype(getattr(torch, name))
    tg.set_default_dtype(getattr(tg, name))
    assert_same(lambda m: m.rand(2))
    assert_same(lambda m: m.randn(2))


@pytest.mark.parametrize("name", ["int64", "int32", "bool", "uint8", "int8", "int16"])
@pytest.mark.parametrize(
    "draw",
    [
        lambda m, d: m.rand(2, dtype=d),
        lambda m, d: m.randn(2, dtype=d),
        lambda m, d: m.rand_like(m.ones(2, dtype=d)),
        lambda m, d: m.randn_like(m.ones(2, dtype=d)),
    ],
    ids=["rand", "randn", "rand_like", "randn_like"],
)
def test_non_float_dtypes_raise_torchs_not_implemented_error(draw, name):
    with pytest.raises(NotImplementedError) as expected:
        draw(torch, getattr(torch, name))
    with pytest.raises(NotImplementedError) as got:
        draw(tg, getattr(tg, name))
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize("name", ["float16", "float64", "bfloat16"])
def test_like_draws_keep_shape_and_dtype(name):
    assert_same(lambda m: m.rand_like(m.zeros(2, 3, dtype=getattr(m, name))))
    assert_same(lambda m: m.randn_like(m.zeros(2, 3, dtype=getattr(m, name))))
    assert_same(lambda m: m.rand_like(m.zeros(2, 3), dtype=getattr(m, name)))
    assert_same(lambda m: m.randn_like(m.zeros(2, 3), requires_grad=True))


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.randint(5, (3,)),
        lambda m: m.randint(-2, 3, (2, 2)),
        lambda m: m.randint(5, [2, 2]),
        lambda m: m.randint(5, m.Size([2])),
        lambda m: m.randint(5, size=(3,)),
        lambda m: m.randint(1, 5, size=(3,)),
        lambda m: m.randint(5, (3,), dtype=m.int16),
        lambda m: m.randint(5, (3,), dtype=m.float32),
        lambda m: m.randint(2, (3,), dtype=m.bool),
        lambda m: m.randint(255, (3,), dtype=m.uint8),
        lambda m: m.randint(5, (), device="cpu"),
    ],
    ids=[
        "high",
        "low-high",
        "list-size",
        "Size",
        "size-keyword",
        "low-high-size-keyword",
        "int16",
        "float32",
        "bool",
        "uint8",
        "0-d",
    ],
)
def test_randint_shapes_and_dtypes(call):
    assert_same(call)


@pytest.mark.parametrize(
    ("exc_type", "args", "kwargs"),
    [
        (RuntimeError, (5, 5, (2,)), {}),
        (RuntimeError, (5, 3, (2,)), {}),
        (TypeError, (5, 2), {}),
        (RuntimeError, (5, (-1,)), {}),
        (TypeError, (5, (2.5,)), {}),
        (TypeError, (2.5, (3,)), {}),
        (ValueError, (0, 2**70, (3,)), {}),
        (RuntimeError, (10, (3,)), {"dtype": "bool"}),
        (RuntimeError, (300, (3,)), {"dtype": "uint8"}),
        (RuntimeError, (-1, 2, (3,)), {"dtype": "uint8"}),
        (RuntimeError, (-200, 2, (3,)), {"dtype": "int8"}),
        (RuntimeError, (0, 200, (3,)), {"dtype": "int8"}),
        (RuntimeError, (0, 2**40, (3,)), {"dtype": "int32"}),
        (RuntimeError, (0, 2**40, (3,)), {"dtype": "float16"}),
        (RuntimeError, (3, (2,)), {"requires_grad": True}),
    ],
    ids=str,
)
def test_randint_errors_match_torch(exc_type, args, kwargs):
    def call(m):
        options = {k: getattr(m, v) if isinstance(v, str) else v for k, v in kwargs.items()}
        return m.randint(*args, **options)

    with pytest.raises(exc_type) as expected:
        call(torch)
    with pytest.raises(exc_type) as got:
        call(tg)
    assert str(got.value) == str(expected.value)


def test_randint_beyond_a_floats_exact_integers_warns_like_torch():
    message = r"^to - 1 is out of bounds \[-\(2\^24\), 2\^24\]\. Due to precision limitations"
    with pytest.warns(UserWarning, match=message) as expected:
        torch.randint(0, 2**40, (3,), dtype=torch.float32)
    with pytest.warns(UserWarning, match=message) as got:
        g = tg.randint(0, 2**40, (3,), dtype=tg.float32)
    # torch's C++ warnings end with "(Triggered internally at <file>:<line>.)"
    texts = [str(w.message).split(" (Triggered internally")[0] for w in expected]
    assert [str(w.message) for w in got] == texts
    assert g.dtype is tg.float32


@pytest.mark.parametrize(("low", "high"), [(0, 3), (-5, 5), (10, 11), (0, 2**40)], ids=str)
def test_randint_stays_within_bounds_and_hits_them(low, high):
    tg.manual_seed(0)
    values = tg.randint(low, high, (2000,)).numpy()
    assert values.dtype == np.int64
    assert values.min() >= low
    assert values.max() < high
    if high - low <= 10:
        assert set(values.tolist()) == set(range(low, high))


# ----- distributions --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["float32", "float64", "float16"])
def test_rand_is_uniform_on_the_unit_interval(name):
    tg.manual_seed(0)
    x = tg.rand(20000, dtype=getattr(tg, name)).numpy().astype(np.float64)
    assert x.min() >= 0.0
    assert x.max() < 1.0
    assert abs(x.mean() - 0.5) < 0.01
    assert abs(x.std() - (1 / 12) ** 0.5) < 0.01
    assert abs((x < 0.25).mean() - 0.25) < 0.02


@pytest.mark.parametrize("name", ["float32", "float64"])
def test_randn_is_standard_normal(name):
    tg.manual_seed(0)
    x = tg.randn(20000, dtype=getattr(tg, name)).numpy().astype(np.float64)
    assert abs(x.mean()) < 0.03
    assert abs(x.std() - 1.0) < 0.03
    assert abs((np.abs(x) < 1).mean() - 0.6827) < 0.02
    assert np.isfinite(x).all()


def test_draws_are_new_leaves():
    for m in (torch, tg):
        x = m.randn(3, requires_grad=True)
        assert (x.is_leaf, x.grad_fn, x.requires_grad) == (True, None, True)
        (x * 2).sum().backward()
        assert x.grad.tolist() == [2.0, 2.0, 2.0]
