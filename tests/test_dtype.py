"""Dtype objects, PyTorch's type promotion and the default dtype, against PyTorch itself."""

from __future__ import annotations

import copy
import itertools
import operator
import pickle
import threading

import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32"]
NAMES.append("float64")
ALIASES = ["float", "double", "half", "long", "int", "short"]
PAIRS = list(itertools.product(NAMES, NAMES))
SCALARS = [True, 2, 2.5]


def dtypes(name: str):
    """The same dtype in torch and in tapegrad."""
    return getattr(torch, name), getattr(tg, name)


def tensors(name: str, zero_dim: bool):
    """A 0-d or 1-d tensor of dtype ``name`` holding 3s, in torch and in tapegrad."""
    shape = () if zero_dim else (2,)
    return tuple(m.full(shape, 3, dtype=getattr(m, name)) for m in (torch, tg))


@pytest.fixture(autouse=True)
def _default_dtype_float32():
    """Every test starts and ends with float32 as both libraries' default dtype."""
    yield
    tg.set_default_dtype(tg.float32)
    torch.set_default_dtype(torch.float32)


# ----- dtype objects ------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_dtype_attributes_match_torch(name):
    t, g = dtypes(name)
    assert isinstance(g, tg.dtype)
    assert (repr(g), str(g)) == (repr(t), str(t)) == (f"torch.{name}",) * 2
    assert g.is_floating_point is t.is_floating_point
    assert g.is_signed is t.is_signed
    assert g.is_complex is t.is_complex is False
    assert g.itemsize == t.itemsize


@pytest.mark.parametrize("alias", ALIASES)
def test_aliases_are_the_same_objects_as_torch(alias):
    t, g = getattr(torch, alias), getattr(tg, alias)
    assert g is getattr(tg, str(t).removeprefix("torch."))
    assert repr(g) == repr(t)


def test_dtypes_survive_pickle_and_copy_as_the_same_object():
    for name in NAMES:
        d = getattr(tg, name)
        assert pickle.loads(pickle.dumps(d)) is d
        assert copy.deepcopy(d) is d
        assert copy.copy(d) is d


def test_dtypes_are_hashable_and_distinct():
    objects = [getattr(tg, name) for name in NAMES]
    assert len(set(objects)) == len(NAMES)
    assert {tg.float32: 1}[tg.float] == 1
    assert tg.float16 != tg.bfloat16


def test_to_real_and_to_complex():
    assert tg.float32.to_real() is tg.float32
    assert tg.int64.to_real() is tg.int64
    with pytest.raises(RuntimeError, match=r"^Unknown Complex ScalarType for Long$"):
        torch.int64.to_complex()
    with pytest.raises(RuntimeError, match=r"^Unknown Complex ScalarType for Long$"):
        tg.int64.to_complex()


@pytest.mark.parametrize("name", NAMES)
def test_is_floating_point_of_tensors(name):
    t, g = tensors(name, zero_dim=False)
    assert g.is_floating_point() is t.is_floating_point()
    assert tg.is_floating_point(g) is torch.is_floating_point(t)
    assert g.element_size() == t.element_size()


# ----- promote_types ------------------------------------------------------------------------
def test_promote_types_matches_torch_for_every_pair():
    wrong = []
    for a, b in PAIRS:
        expected = str(torch.promote_types(dtypes(a)[0], dtypes(b)[0]))
        got = tg.promote_types(dtypes(a)[1], dtypes(b)[1])
        if str(got) != expected or got is not getattr(tg, expected.removeprefix("torch.")):
            wrong.append((a, b, expected, got))
    assert wrong == []


def test_promote_types_accepts_python_types_like_torch():
    assert str(tg.promote_types(tg.float32, float)) == str(
        torch.promote_types(torch.float32, float)
    )
    assert str(tg.promote_types(int, tg.int8)) == str(torch.promote_types(int, torch.int8))
    assert str(tg.promote_types(bool, bool)) == str(torch.promote_types(bool, bool))


# ----- result_type --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("zero_a", "zero_b"), [(False, False), (False, True), (True, False), (True, True)]
)
def test_result_type_tensor_tensor_matches_torch(zero_a, zero_b):
    wrong = []
    for a, b in PAIRS:
        (ta, ga), (tb, gb) = tensors(a, zero_a), tensors(b, zero_b)
        expected, got = str(torch.result_type(ta, tb)), str(tg.result_type(ga, gb))
        if got != expected:
            wrong.append((a, b, expected, got))
    assert wrong == []


@pytest.mark.parametrize("zero_dim", [False, True], ids=["dim", "0-d"])
def test_result_type_tensor_scalar_matches_torch(zero_dim):
    wrong = []
    for name, scalar in itertools.product(NAMES, SCALARS):
        t, g = tensors(name, zero_dim)
        for t_args, g_args in (((t, scalar), (g, scalar)), ((scalar, t), (scalar, g))):
            expected = str(torch.result_type(*t_args))
            got = str(tg.result_type(*g_args))
            if got != expected:
                wrong.append((name, scalar, expected, got))
    assert wrong == []


def test_result_type_of_two_scalars_matches_torch():
    for a, b in itertools.product(SCALARS, SCALARS):
        assert str(tg.result_type(a, b)) == str(torch.result_type(a, b)), (a, b)


def test_result_type_rejects_non_numbers():
    with pytest.raises(TypeError, match="result_type"):
        torch.result_type(torch.ones(2), "a")
    with pytest.raises(TypeError, match="result_type"):
        tg.result_type(tg.ones(2), "a")


# ----- the dtype of actual ops ----------------------------------------------------------------
def _op_dtypes(op, a, b):
    """The result dtype of ``op(a, b)`` in torch and tapegrad (or the exception's type)."""
    out = []
    for x, y in ((a[0], b[0]), (a[1], b[1])):
        try:
            out.append(str(op(x, y).dtype))
        except Exception as exc:  # compared with torch's, not swallowed
            out.append(type(exc).__name__)
    return out


def test_add_of_two_tensors_has_torchs_dtype_for_every_pair():
    wrong = []
    for a, b in PAIRS:
        expected, got = _op_dtypes(operator.add, tensors(a, False), tensors(b, False))
        if got != expected:
            wrong.append((a, b, expected, got))
    assert wrong == []


def test_mul_of_zero_dim_and_dim_tensors_has_torchs_dtype():
    # A 0-d tensor only decides the dtype when its category (bool < int < float) is higher.
    wrong = []
    combos = itertools.product(NAMES, ["bool", "uint8", "int32", "bfloat16"])
    for i, (zero, dim) in enumerate(combos):
        a, b = tensors(zero, True), tensors(dim, False)
        expected, got = _op_dtypes(operator.mul, *((a, b) if i % 2 else (b, a)))
        if got != expected:
            wrong.append((zero, dim, expected, got))
    assert wrong == []


SCALAR_OPS = {
    "t+s": lambda t, s: t + s,
    "s+t": lambda t, s: s + t,
    "t*s": lambda t, s: t * s,
    "s*t": lambda t, s: s * t,
    "t/s": lambda t, s: t / s,
    "s/t": lambda t, s: s / t,
}


@pytest.mark.parametrize("op", SCALAR_OPS.values(), ids=SCALAR_OPS.keys())
def test_tensor_scalar_ops_have_torchs_dtype(op):
    wrong = []
    for name, scalar in itertools.product(NAMES, SCALARS):
        expected, got = _op_dtypes(lambda t, s: op(t, s), tensors(name, False), (scalar, scalar))
        if got != expected:
            wrong.append((name, scalar, expected, got))
    assert wrong == []


def test_integer_tensor_with_python_float_gives_the_default_dtype():
    t, g = tensors("int64", False)
    assert str((g * 2.5).dtype) == str((t * 2.5).dtype) == "torch.float32"
    # A float tensor keeps its dtype: the Python float is a wrapped number.
    assert str((tg.ones(2, dtype=tg.float16) * 2.5).dtype) == "torch.float16"


def test_ops_follow_a_changed_default_dtype():
    ops = {
        "int*float": lambda m: m.ones(2, dtype=m.int64) * 0.5,
        "int/int": lambda m: m.ones(2, dtype=m.int64) / m.ones(2, dtype=m.int64),
        "int.sqrt": lambda m: m.ones(2, dtype=m.int64).sqrt(),
    }
    for make in ops.values():
        make(tg)  # cached under float32
    torch.set_default_dtype(torch.float64)
    tg.set_default_dtype(tg.float64)
    got = {what: str(make(tg).dtype) for what, make in ops.items()}
    assert got == {what: str(make(torch).dtype) for what, make in ops.items()}


def test_sub_with_bool_raises_like_torch():
    cases = [
        (tensors("bool", False), tensors("int32", False)),
        (tensors("float32", False), (True, True)),
        (tensors("bool", False), (2.5, 2.5)),
    ]
    for a, b in cases:
        with pytest.raises(RuntimeError) as expected:
            a[0] - b[0]
        with pytest.raises(RuntimeError) as got:
            a[1] - b[1]
        assert str(got.value) == str(expected.value)


def test_pow_with_python_scalar_has_torchs_dtype():
    wrong = []
    for name, scalar in itertools.product(["bool", "uint8", "int32", "int64"], [2, 2.5]):
        expected, got = _op_dtypes(operator.pow, tensors(name, False), (scalar, scalar))
        if got != expected:
            wrong.append((name, scalar, expected, got))
    assert wrong == []


def test_floor_divide_and_remainder_of_bools_raise_like_torch():
    t, g = tensors("bool", False)
    assert _op_dtypes(operator.floordiv, (t, g), (True, True)) == ["NotImplementedError"] * 2
    assert _op_dtypes(operator.mod, (t, g), (True, True)) == ["NotImplementedError"] * 2


def test_division_by_a_scalar_is_correctly_rounded():
    t = torch.tensor([3.0, 3.0], dtype=torch.float64)
    g = tg.tensor([3.0, 3.0], dtype=tg.float64)
    assert (g / 2.5).tolist() == (t / 2.5).tolist() == [1.2, 1.2]


# ----- the default dtype --------------------------------------------------------------------
def test_default_dtype_starts_as_float32():
    assert tg.get_default_dtype() is tg.float32
    assert str(torch.get_default_dtype()) == str(tg.get_default_dtype())


CREATIONS = {
    "tensor(float)": lambda m: m.tensor(1.5),
    "tensor(list)": lambda m: m.tensor([1, 2.5]),
    "tensor(int)": lambda m: m.tensor(1),
    "tensor([])": lambda m: m.tensor([]),
    "ones": lambda m: m.ones(2),
    "zeros": lambda m: m.zeros(2),
    "empty": lambda m: m.empty(2),
    "full(float)": lambda m: m.full((2,), 1.5),
    "full(int)": lambda m: m.full((2,), 1),
    "arange(float)": lambda m: m.arange(0.5, 2),
    "arange(int)": lambda m: m.arange(3),
    "linspace": lambda m: m.linspace(0, 1, 3),
    "eye": lambda m: m.eye(2),
    "rand": lambda m: m.rand(2),
    "randn": lambda m: m.randn(2),
}


@pytest.mark.parametrize("name", ["float64", "float16", "bfloat16"])
def test_set_default_dtype_changes_python_floats_and_factories(name):
    t, g = dtypes(name)
    torch.set_default_dtype(t)
    tg.set_default_dtype(g)
    assert tg.get_default_dtype() is g
    for what, make in CREATIONS.items():
        assert str(make(tg).dtype) == str(make(torch).dtype), what
    assert str(tg.result_type(tg.ones(2, dtype=tg.int32), 1.5)) == str(
        torch.result_type(torch.ones(2, dtype=torch.int32), 1.5)
    )
    assert repr(tg.tensor([1.5, 2.0])) == repr(torch.tensor([1.5, 2.0]))


def test_set_default_dtype_is_restored():
    tg.set_default_dtype(tg.float64)
    tg.set_default_dtype(tg.float32)
    assert tg.tensor(1.5).dtype is tg.float32
    assert tg.ones(2).dtype is tg.float32


def test_default_dtype_is_process_wide_like_torch():
    tg.set_default_dtype(tg.float64)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(tg.get_default_dtype()))
    thread.start()
    thread.join()
    assert seen == [tg.float64]


@pytest.mark.parametrize("name", ["int64", "int32", "bool", "uint8"])
def test_set_default_dtype_rejects_non_float_dtypes(name):
    t, g = dtypes(name)
    with pytest.raises(
        TypeError, match=r"^only floating-point types are supported as the default type$"
    ):
        torch.set_default_dtype(t)
    with pytest.raises(
        TypeError, match=r"^only floating-point types are supported as the default type$"
    ):
        tg.set_default_dtype(g)
    assert tg.get_default_dtype() is tg.float32


def test_set_default_dtype_rejects_python_types():
    message = r"^invalid dtype object: only floating-point types are supported as the default type$"
    with pytest.raises(TypeError, match=message):
        torch.set_default_dtype(float)
    with pytest.raises(TypeError, match=message):
        tg.set_default_dtype(float)


# ----- Python types as dtypes -----------------------------------------------------------------
@pytest.mark.parametrize("pytype", [float, int, bool])
def test_python_types_are_accepted_as_dtypes(pytype):
    assert str(tg.ones(2, dtype=pytype).dtype) == str(torch.ones(2, dtype=pytype).dtype)
    assert str(tg.tensor([1], dtype=pytype).dtype) == str(torch.tensor([1], dtype=pytype).dtype)
    assert str(tg.ones(2).to(pytype).dtype) == str(torch.ones(2).to(pytype).dtype)


@pytest.mark.parametrize("bad", ["float32", 3], ids=["str", "int"])
def test_other_dtype_arguments_raise_torchs_type_error(bad):
    with pytest.raises(TypeError) as expected:
        torch.ones(2, dtype=bad)
    with pytest.raises(TypeError) as got:
        tg.ones(2, dtype=bad)
    assert str(got.value) == str(expected.value)
