"""Tensor attributes, conversions, Python protocols, autograd flags and printing, against PyTorch.

Every check runs the same lambda on ``torch`` and on ``tapegrad`` and compares the results (values,
dtypes, printed forms) or the exceptions (type and exact message).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tapegrad as tg  # noqa: E402

MODULES = [pytest.param(torch, id="torch"), pytest.param(tg, id="tapegrad")]
NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32"]
NAMES.append("float64")


def outcome(fn, m):
    """What ``fn(m)`` gives: a description of its value, or its exception's type and text."""
    try:
        value = fn(m)
    except Exception as exc:  # compared with torch's, not swallowed
        return (type(exc).__name__, str(exc))
    return describe(value)


def describe(value):
    if isinstance(value, (torch.Tensor, tg.Tensor)):
        return ("tensor", repr(value), str(value.dtype), tuple(value.shape))
    if isinstance(value, (list, tuple)) and any(
        isinstance(v, (torch.Tensor, tg.Tensor)) for v in value
    ):
        return [describe(v) for v in value]
    return (type(value).__name__, repr(value))


def assert_same(fn):
    """``fn`` behaves the same with torch and with tapegrad."""
    expected, got = outcome(fn, torch), outcome(fn, tg)
    assert got == expected


def assert_raises_same(exc_type, fn):
    """``fn`` raises ``exc_type`` with the same message under torch and tapegrad."""
    with pytest.raises(exc_type) as expected:
        fn(torch)
    with pytest.raises(exc_type) as got:
        fn(tg)
    assert str(got.value) == str(expected.value)


# ----- shape, size, dims ----------------------------------------------------------------------
def test_shape_is_a_size_printing_like_torch():
    t, g = torch.ones(2, 3), tg.ones(2, 3)
    assert isinstance(g.shape, tg.Size)
    assert isinstance(g.shape, tuple)
    assert repr(g.shape) == str(g.shape) == repr(t.shape) == "torch.Size([2, 3])"
    assert g.shape == (2, 3) == t.shape
    assert g.shape == t.shape
    assert g.shape != (3, 2)
    assert tuple(g.shape) == (2, 3)
    assert g.shape[-1] == 3
    assert g.shape.numel() == t.shape.numel() == 6
    assert repr(tg.ones(()).shape) == repr(torch.ones(()).shape) == "torch.Size([])"
    assert repr(tg.Size([4])) == repr(torch.Size([4]))


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_size_of_a_dimension(dim):
    assert tg.ones(2, 3).size(dim) == torch.ones(2, 3).size(dim)


@pytest.mark.parametrize("dim", [2, -3])
def test_size_of_a_missing_dimension_raises_torchs_index_error(dim):
    assert_raises_same(IndexError, lambda m: m.ones(2, 3).size(dim))


@pytest.mark.parametrize("shape", [(), (0,), (4,), (2, 3), (1, 0, 2)], ids=str)
def test_dim_ndim_numel_and_size(shape):
    t, g = torch.zeros(shape), tg.zeros(shape)
    assert g.size() == t.size() == shape
    assert repr(g.size()) == repr(t.size())
    assert (g.dim(), g.ndim, g.ndimension()) == (t.dim(), t.ndim, t.ndimension())
    assert (g.numel(), g.nelement(), tg.numel(g)) == (t.numel(), t.nelement(), torch.numel(t))


@pytest.mark.parametrize("name", NAMES)
def test_dtype_and_device(name):
    t = torch.zeros(2, dtype=getattr(torch, name))
    g = tg.zeros(2, dtype=getattr(tg, name))
    assert g.dtype is getattr(tg, name)
    assert str(g.dtype) == str(t.dtype)
    assert repr(g.device) == repr(t.device) == "device(type='cpu')"
    assert g.device == tg.device("cpu")
    assert g.is_cuda is t.is_cuda is False


# ----- conversion to Python and NumPy ---------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_item_gives_the_same_python_number(name):
    for value in (1, 0):
        assert_same(lambda m, v=value: m.tensor(v, dtype=getattr(m, name)).item())
        assert_same(lambda m, v=value: m.tensor([v], dtype=getattr(m, name)).item())


def test_item_of_floats_keeps_the_tensors_precision():
    assert_same(lambda m: m.tensor(0.1).item())  # float32's nearest value, as a Python float
    assert_same(lambda m: m.tensor(0.1, dtype=m.float64).item())
    assert_same(lambda m: m.tensor(-2.5, dtype=m.float16).item())


@pytest.mark.parametrize("shape", [(2, 3), (0,)], ids=["6-elements", "empty"])
def test_item_of_other_than_one_element_raises_torchs_error(shape):
    assert_raises_same(RuntimeError, lambda m: m.ones(shape).item())


@pytest.mark.parametrize(
    "values",
    [[[1, 2], [3, 4]], [1.5, -2.0], [True, False], 7, 2.5, [], [[]]],
    ids=["int-2d", "float", "bool", "int-0d", "float-0d", "empty", "empty-2d"],
)
def test_tolist(values):
    assert_same(lambda m: m.tensor(values).tolist())


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float64", "int8", "uint8"])
def test_tolist_of_other_dtypes_gives_python_numbers(name):
    assert_same(lambda m: m.tensor([1.5, 2.0, -0.25], dtype=getattr(m, name)).tolist())


@pytest.mark.parametrize("name", [n for n in NAMES if n != "bfloat16"])
def test_numpy_keeps_dtype_and_values(name):
    t = torch.tensor([[1, 0], [2, 3]], dtype=getattr(torch, name))
    g = tg.tensor([[1, 0], [2, 3]], dtype=getattr(tg, name))
    a, b = t.numpy(), g.numpy()
    assert isinstance(b, np.ndarray)
    assert (b.dtype, b.shape) == (a.dtype, a.shape)
    np.testing.assert_array_equal(b, a)


def test_numpy_of_a_tensor_requiring_grad_raises_torchs_error():
    assert_raises_same(RuntimeError, lambda m: m.ones(2, requires_grad=True).numpy())
    g = tg.ones(2, requires_grad=True)
    np.testing.assert_array_equal(g.detach().numpy(), np.ones(2, np.float32))
    np.testing.assert_array_equal(np.asarray(g.detach()), np.ones(2, np.float32))


# ----- dtype conversions ----------------------------------------------------------------------
METHODS = ["float", "double", "half", "bfloat16", "long", "int", "short", "char", "byte", "bool"]
SOURCES = {
    # fractions truncate toward zero; negatives wrap into uint8; NaN/inf and values beyond
    # int32 are PyTorch's x86 results (the integer's minimum, then wrapped)
    "float32": ([1.5, -1.7, 0.0, 2.9, -0.5, 300.0, 127.9, -129.0], "float32"),
    "float64": ([0.1, -2.5, 1e10, -70000.25], "float64"),
    "float16": ([1.5, -1.7, 0.0, 2.9, 65504.0], "float16"),
    "int64": ([0, 1, -1, 255, 256, 40000, -129], "int64"),
    "int32": ([0, 7, -3, 2**31 - 1], "int32"),
    "uint8": ([0, 1, 200, 255], "uint8"),
    "bool": ([True, False], "bool"),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("source", SOURCES.keys())
def test_conversion_methods_match_torch(source, method):
    values, name = SOURCES[source]
    assert_same(lambda m: getattr(m.tensor(values, dtype=getattr(m, name)), method)())


@pytest.mark.parametrize("target", NAMES)
def test_to_dtype_matches_torch(target):
    values = [1.5, -1.7, 0.0, -0.5, 300.0, -200.0, 70000.0, 3e9, -3e9]
    assert_same(lambda m: m.tensor(values).to(getattr(m, target)))
    assert_same(lambda m: m.tensor(values, dtype=m.float64).to(dtype=getattr(m, target)))


def test_subnormal_floats_are_true_as_bools():
    assert_same(lambda m: m.tensor([1e-40, -1e-45, 0.0, -0.0]).bool())
    assert_same(lambda m: m.tensor([1e-310, -0.0], dtype=m.float64).to(m.bool))


def test_float_to_integer_conversion_truncates_and_wraps_like_torch():
    g = tg.tensor([-1.7, 300.0, 2.9, -0.5])
    assert g.to(tg.uint8).tolist() == [255, 44, 2, 0]
    assert g.long().tolist() == [-1, 300, 2, 0]
    assert tg.tensor([3e9, math.nan, math.inf]).int().tolist() == [-(2**31)] * 3


def test_conversion_to_the_same_dtype_returns_the_tensor_itself():
    for m in (torch, tg):
        t = m.ones(2)
        assert t.float() is t
        assert t.to(m.float32) is t
        assert t.to("cpu") is t
        assert t.to(t) is t
        assert t.type_as(m.zeros(3)) is t
        assert t.to(m.float32, copy=True) is not t


def test_to_copy_is_a_differentiable_copy():
    for m in (torch, tg):
        t = m.ones(2, requires_grad=True)
        out = t.to(m.float32, copy=True)
        assert type(out.grad_fn).__name__ == "ToCopyBackward0"
        assert out.is_leaf is False
        assert t.to(copy=True).tolist() == [1.0, 1.0]


def test_to_another_tensor_and_type_as_take_its_dtype():
    assert_same(lambda m: m.tensor([1.5, -2.5]).to(m.zeros(1, dtype=m.int32)))
    assert_same(lambda m: m.tensor([1, 0, 3]).type_as(m.zeros(1, dtype=m.float16)))
    assert_same(lambda m: m.tensor([1, 0, 3]).to("cpu", m.float64))
    assert_same(lambda m: m.tensor([1, 0, 3]).to(device="cpu", dtype=m.bool))
    assert_same(lambda m: m.tensor([1, 0, 3]).to(m.float32, False, True))


def test_to_keeps_the_graph_for_float_dtypes_and_drops_it_for_integers():
    for m in (torch, tg):
        t = m.tensor([1.5, 2.0], requires_grad=True)
        d = t.double()
        assert (type(d.grad_fn).__name__, d.requires_grad) == ("ToCopyBackward0", True)
        d.sum().backward()
        assert (t.grad.tolist(), str(t.grad.dtype)) == ([1.0, 1.0], "torch.float32")
        i = t.long()
        assert (i.requires_grad, i.grad_fn, i.is_leaf) == (False, None, True)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, t: t.to("cpu", "cuda"),
        lambda m, t: t.to(foo=1, bar=2),
        lambda m, t: t.to("cpu", foo=1),
        lambda m, t: t.to([1]),
    ],
    ids=["two-devices", "bad-keywords", "device-and-bad-keyword", "list"],
)
def test_to_with_invalid_arguments_raises_torchs_type_error(call):
    with pytest.raises(TypeError) as expected:
        call(torch, torch.ones(2))
    with pytest.raises(TypeError) as got:
        call(tg, tg.ones(2))
    assert str(got.value).splitlines()[0] == str(expected.value).splitlines()[0]


# ----- Python protocols -----------------------------------------------------------------------
def test_len():
    assert_same(lambda m: len(m.ones(4, 3)))
    assert_same(lambda m: len(m.ones(0)))
    assert_raises_same(TypeError, lambda m: len(m.tensor(1.0)))


@pytest.mark.parametrize("values", [[0.0], [2.0], 0, 3, True, [False]], ids=str)
def test_bool_of_one_element(values):
    assert_same(lambda m: bool(m.tensor(values)))


@pytest.mark.parametrize("shape", [(2,), (0,), (2, 2)], ids=str)
def test_bool_of_other_than_one_element_is_ambiguous(shape):
    assert_raises_same(RuntimeError, lambda m: bool(m.ones(shape)))


@pytest.mark.parametrize("convert", [float, int], ids=["float", "int"])
def test_float_and_int_of_tensors(convert):
    for values in ([2.5], -2.7, 3, [True], 1e10):
        assert_same(lambda m, v=values: convert(m.tensor(v)))
    assert_raises_same(ValueError, lambda m: convert(m.ones(2)))


def test_index_protocol():
    assert_same(lambda m: [10, 20, 30][m.tensor(1)])
    assert_same(lambda m: list(range(5))[m.tensor([2])])
    assert_raises_same(TypeError, lambda m: [10, 20, 30][m.tensor(1.0)])


def test_iteration_yields_the_sub_tensors():
    assert_same(lambda m: list(m.tensor([[1, 2], [3, 4]])))
    assert_same(lambda m: [x.item() for x in m.tensor([1.5, 2.5])])
    assert_same(lambda m: list(m.ones(0)))
    assert_raises_same(TypeError, lambda m: iter(m.tensor(1.0)))


def test_format_of_zero_dim_tensors():
    assert_same(lambda m: f"{m.tensor(2.5):.3f}")
    assert_same(lambda m: f"{m.tensor(7):d}")
    assert_same(lambda m: f"{m.tensor(-0.5)} {m.tensor(3)} {m.tensor([1.5])}")


# ----- autograd flags -------------------------------------------------------------------------
@pytest.mark.parametrize("m", MODULES)
def test_requires_grad_on_leaves(m):
    t = m.ones(2)
    assert (t.requires_grad, t.is_leaf, t.grad_fn, t.grad) == (False, True, None, None)
    assert t.requires_grad_() is t
    assert (t.requires_grad, t.is_leaf) == (True, True)
    t.requires_grad_(False)
    assert t.requires_grad is False
    t.requires_grad = True
    assert t.requires_grad is True
    assert m.ones(2, dtype=m.int64).requires_grad_(False).requires_grad is False


def test_requires_grad_on_integer_tensors_raises_torchs_errors():
    # PyTorch words the method's and the setter's error differently.
    assert_raises_same(RuntimeError, lambda m: m.ones(2, dtype=m.int64).requires_grad_())
    assert_raises_same(RuntimeError, lambda m: m.ones(2, dtype=m.bool).requires_grad_(True))

    def setter(m):
        m.ones(2, dtype=m.int32).requires_grad = True

    assert_raises_same(RuntimeError, setter)


@pytest.mark.parametrize("m", MODULES)
def test_requires_grad_on_non_leaves(m):
    y = m.ones(2, requires_grad=True) * 2
    assert (y.requires_grad, y.is_leaf) == (True, False)
    assert y.requires_grad_(True) is y  # a no-op: it already requires grad
    assert y.requires_grad is True


def test_requires_grad_off_on_a_non_leaf_raises_torchs_errors():
    assert_raises_same(
        RuntimeError, lambda m: (m.ones(2, requires_grad=True) * 2).requires_grad_(False)
    )
    for value in (True, False):

        def setter(m, value=value):
            (m.ones(2, requires_grad=True) * 2).requires_grad = value

        assert_raises_same(RuntimeError, setter)


@pytest.mark.parametrize("m", MODULES)
def test_is_leaf(m):
    x = m.ones(2, requires_grad=True)
    assert x.is_leaf
    assert (x * 2).is_leaf is False
    assert (m.ones(2) * 2).is_leaf is True  # no grad required: no history
    with m.no_grad():
        assert (x * 2).is_leaf is True
    assert x.detach().is_leaf is True


@pytest.mark.parametrize("m", MODULES)
def test_detach_shares_data_without_history(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    d = y.detach()
    assert (d.requires_grad, d.grad_fn, d.is_leaf) == (False, None, True)
    assert d.tolist() == [3.0, 6.0]
    s = m.tensor([1.0, 2.0])
    e = s.detach()
    s.zero_()
    assert e.tolist() == [0.0, 0.0]  # a write to the source shows in the detached tensor
    e += 5
    assert s.tolist() == [5.0, 5.0]  # and the other way round
    assert s._version == e._version == 2


@pytest.mark.parametrize("m", MODULES)
def test_zero_and_iadd_basics(m):
    t = m.tensor([1.0, 2.0])
    v = t._version
    assert t.zero_() is t
    assert t.tolist() == [0.0, 0.0]
    t += 2.5
    assert t.tolist() == [2.5, 2.5]
    assert t._version == v + 2
    i = m.tensor([1, 2])
    i += 1
    assert (i.tolist(), str(i.dtype)) == ([2, 3], "torch.int64")


@pytest.mark.parametrize("m", MODULES)
def test_clone(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert (type(c.grad_fn).__name__, c.is_leaf, c.requires_grad) == ("CloneBackward0", False, True)
    assert m.clone(x).tolist() == [1.0, 2.0]
    (c * c).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]
    s = m.tensor([1, 2])
    k = s.clone()
    assert (k.grad_fn, k.requires_grad, str(k.dtype)) == (None, False, "torch.int64")
    k.zero_()
    assert s.tolist() == [1, 2]  # the clone has its own storage


# ----- printing through the real Tensor -------------------------------------------------------
REPR_VALUES = {
    "mixed": [1.5, -2.25, 3.0],
    "sci": [1e-5, 1.0, 1e5],
    "large": [1e10, 2.0],
    "tenths": [0.1, 0.25],
    "nonfinite": [math.nan, math.inf, -math.inf, 1.0],
    "ints": [1, 2, 300],
    "bools": [True, False],
    "2d": [[1.0, 2.0], [3.0, 4.0]],
    "0d": 3.25,
    "0d-int": 7,
    "0d-bool": True,
    "empty": [],
    "big": [123456789.0],
    "tiny": [1e-10],
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("values", REPR_VALUES.values(), ids=REPR_VALUES.keys())
def test_repr_matches_torch(values, name):
    try:
        t = torch.tensor(values, dtype=getattr(torch, name))
    except (RuntimeError, TypeError):  # e.g. nan into an integer dtype: torch refuses
        with pytest.raises((RuntimeError, TypeError)):
            tg.tensor(values, dtype=getattr(tg, name))
        return
    g = tg.tensor(values, dtype=getattr(tg, name))
    assert repr(g) == repr(t)
    assert str(g) == str(t)


AUTOGRAD_REPRS = {
    "leaf": lambda m, x: x,
    "mul": lambda m, x: x * 2,
    "sum": lambda m, x: x.sum(),
    "mean": lambda m, x: x.mean(),
    "add": lambda m, x: x + 1,
    "double": lambda m, x: x.double(),
    "clone": lambda m, x: x.clone(),
    "detach": lambda m, x: x.detach(),
    "select": lambda m, x: (x * 2)[0],
    "view": lambda m, x: x.view(2, 1),
    "half": lambda m, x: x.half(),
    "long": lambda m, x: x.long(),
    "no_grad": lambda m, x: _no_grad_mul(m, x),
}


def _no_grad_mul(m, x):
    with m.no_grad():
        return x * 2


@pytest.mark.parametrize("fn", AUTOGRAD_REPRS.values(), ids=AUTOGRAD_REPRS.keys())
def test_repr_with_requires_grad_and_grad_fn_matches_torch(fn):
    assert_same(lambda m: fn(m, m.tensor([1.0, 2.0], requires_grad=True)))


# ----- property tests -------------------------------------------------------------------------
# Without subnormals: XLA's CPU arithmetic flushes them to zero (float32 -> float64 of 1e-40 is 0).
FLOAT32_VALUES = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=False)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(FLOAT32_VALUES, min_size=6, max_size=6), target=st.sampled_from(NAMES))
def test_conversion_of_any_float32_values_matches_torch(values, target):
    t = torch.tensor(values, dtype=torch.float32).to(getattr(torch, target))
    g = tg.tensor(values, dtype=tg.float32).to(getattr(tg, target))
    assert str(g.dtype) == str(t.dtype)
    np.testing.assert_array_equal(
        g.float().numpy() if target == "bfloat16" else g.numpy(),
        t.float().numpy() if target == "bfloat16" else t.numpy(),
    )


def test_an_inference_tensor_has_no_version_counter(m):
    with m.inference_mode():
        t = m.ones(2)
    with pytest.raises(RuntimeError, match=r"^Inference tensors do not track version counter\.$"):
        t._version
