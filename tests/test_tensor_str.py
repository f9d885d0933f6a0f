"""``tensor_repr`` must print tensors character for character as PyTorch's ``repr`` does."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from tapegrad import _dtype as dt  # noqa: E402
from tapegrad._tensor_str import (  # noqa: E402
    get_printoptions,
    printoptions,
    set_printoptions,
    tensor_repr,
)

DTYPES = {d.name: d for d in dt.ALL_DTYPES}
NAN, INF = math.nan, math.inf
_RNG = np.random.default_rng(0)
RANDN_100x100 = _RNG.standard_normal((100, 100))
RANDN_20x20x20 = _RNG.standard_normal((20, 20, 20)) * 1000


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Every test starts and ends with default print options and float32 as default dtype."""
    set_printoptions(profile="default")
    torch.set_printoptions(profile="default")
    yield
    set_printoptions(profile="default")
    torch.set_printoptions(profile="default")
    dt.set_default_dtype(dt.float32)
    torch.set_default_dtype(torch.float32)


def _array(values, name: str) -> np.ndarray:
    return np.array(values, dtype=DTYPES[name].numpy)


def _to_torch(arr: np.ndarray, name: str):
    """The torch tensor holding exactly ``arr``'s values, with dtype ``name``."""
    if name == "bfloat16":  # torch cannot read ml_dtypes arrays; float32 holds them exactly
        return torch.from_numpy(arr.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(arr.copy())


def _assert_matches(arr: np.ndarray, name: str, **kwargs) -> None:
    expected = repr(_to_torch(arr, name).requires_grad_(kwargs.get("requires_grad", False)))
    assert tensor_repr(arr, DTYPES[name], **kwargs) == expected


def _case(id_: str, values, name: str = "float32", shape=None):
    return pytest.param(values, name, shape, id=id_)


VALUE_CASES = [
    # 0-d
    _case("scalar-float", 1.5),
    _case("scalar-int-valued-float", 1.0),
    _case("scalar-zero", 0.0),
    _case("scalar-neg-zero", -0.0),
    _case("scalar-small-sci", 1e-5),
    _case("scalar-large-sci", 1e10),
    _case("scalar-nan", NAN),
    _case("scalar-inf", INF),
    _case("scalar-neg-inf", -INF),
    _case("scalar-negative", -3.25),
    _case("scalar-int64", 7, "int64"),
    _case("scalar-int32", -7, "int32"),
    _case("scalar-bool", True, "bool"),
    _case("scalar-float64", 2.5, "float64"),
    _case("scalar-float16", 0.1, "float16"),
    _case("scalar-bfloat16", 0.1, "bfloat16"),
    # 1-d floats
    _case("ints-as-floats", [1.0, 2.0, 3.0]),
    _case("fixed-point", [1.5, 2.25, 3.0]),
    _case("negatives-align", [-1.5, 2.25, -30.125]),
    _case("sci-large-max", [1.5, 2.0, 1e8]),
    _case("sci-ratio", [0.01, 100.0]),
    _case("sci-small-min", [1e-5, 1.0]),
    _case("sci-ints", [1.0, 1e9]),
    _case("ratio-exactly-1000", [1.0, 1000.0]),
    _case("ratio-just-over-1000", [1.0, 1000.5]),
    _case("min-exactly-1e-4", [1e-4, 0.05]),
    _case("max-exactly-1e8", [1.0e8, 1e6], "float64"),
    _case("nonfinite-int-mode", [NAN, INF, -INF, 1.0]),
    _case("nonfinite-fixed", [NAN, INF, -INF, 1.5]),
    _case("nonfinite-sci", [NAN, -INF, 1e-7, 2.0]),
    _case("only-nonfinite", [NAN, INF, -INF]),
    _case("zeros-and-neg-zero", [0.0, -0.0, 0.0]),
    _case("neg-zero-fixed", [-0.0, 1.5]),
    _case("neg-zero-sci", [-0.0, 1e-6]),
    _case("big-int-valued", [123456789.0, -1.0], "float64"),
    _case("rounds-to-zero-fixed", [0.00012, 0.1]),
    # 1-d integers and bools
    _case("int64", [-1, 10, 100]),
    _case("int32", [-1, 10, 100], "int32"),
    _case("int16", [-300, 2, 3000], "int16"),
    _case("int8", [-128, 0, 127], "int8"),
    _case("uint8", [0, 1, 255], "uint8"),
    _case("bools", [True, False, True], "bool"),
    # other float dtypes
    _case("float64", [1.5, 2.0, 1.0 / 3.0], "float64"),
    _case("float16", [0.1, 1000.5, -2.0], "float16"),
    _case("float16-sci", [1e-5, 1.0, 60000.0], "float16"),
    _case("bfloat16", [0.1, 3.14, -2.0], "bfloat16"),
    _case("bfloat16-sci", [0.1, 3.14, 1e10], "bfloat16"),
    _case("bfloat16-ints", [1.0, 256.0, -3.0], "bfloat16"),
    # 2-d and more
    _case("2d-float", [[1.5, -2.0, 3.0], [4.0, 5.25, -6.0]]),
    _case("2d-int", [[1, 22, 333], [-4, 5, 6]]),
    _case("2d-bool", [[True, False], [False, True]], "bool"),
    _case("3d-float", np.arange(24.0) - 12.0, shape=(2, 3, 4)),
    _case("3d-sci", np.arange(24.0) * 1e7, shape=(2, 3, 4)),
    _case("4d-int", np.arange(16), "int64", shape=(2, 2, 2, 2)),
    _case("single-element-3d", [[[2.5]]]),
    _case("column", [[1.0], [2.0], [3.0]]),
    # line wrapping of long rows
    _case("wrap-float-row", np.arange(50.0) / 3.0),
    _case("wrap-int-row", np.arange(100), "int64"),
    _case("wrap-bool-row", np.arange(40) % 3 == 0, "bool"),
    _case("wrap-2d-rows", np.arange(60.0), shape=(3, 20)),
    _case("wrap-sci-row", np.arange(30.0) * 1e-6),
    # summarization above threshold
    _case("summarize-int-2000", np.arange(2000), "int64"),
    _case("summarize-float-2000", np.arange(2000.0) / 7.0),
    _case("summarize-1001", np.arange(1001.0)),
    _case("summarize-100x100", RANDN_100x100),
    _case("summarize-100x100-float64", RANDN_100x100, "float64"),
    _case("summarize-3d", RANDN_20x20x20),
    _case("summarize-wide-rows", np.arange(3000.0), shape=(3, 1000)),
    _case("summarize-tall-columns", np.arange(3000), "int32", shape=(1000, 3)),
    _case("summarize-bool", np.arange(2000) % 2 == 0, "bool"),
    _case("summarize-hidden-outlier", np.r_[np.ones(1000), 1e-9, np.ones(1000)]),
    # empty tensors
    _case("empty-1d", []),
    _case("empty-0x3", np.zeros((0, 3))),
    _case("empty-2x0x4", np.zeros((2, 0, 4))),
    _case("empty-int64", [], "int64"),
    _case("empty-bool", [], "bool"),
    _case("empty-int32-2d", np.zeros((3, 0)), "int32"),
    _case("empty-float64", [], "float64"),
    _case("empty-bfloat16", [], "bfloat16"),
]


@pytest.mark.parametrize(("values", "name", "shape"), VALUE_CASES)
def test_repr_matches_torch(values, name, shape):
    arr = _array(values, name)
    if shape is not None:
        arr = arr.reshape(shape)
    _assert_matches(arr, name)


REQUIRES_GRAD_CASES = [
    _case("rg-scalar", 2.0),
    _case("rg-row", [1.0, 2.5]),
    _case("rg-float64", [1.0, 2.5], "float64"),
    _case("rg-bfloat16", [1.0, 2.5], "bfloat16"),
    _case("rg-empty", []),
    _case("rg-empty-2d", np.zeros((0, 2)), "float64"),
    _case("rg-2d-wraps-suffix", np.arange(40.0), shape=(4, 10)),
    _case("rg-row-wraps-suffix", np.arange(18.0) / 3.0),
    _case("rg-summarized", RANDN_100x100),
]


@pytest.mark.parametrize(("values", "name", "shape"), REQUIRES_GRAD_CASES)
def test_requires_grad_suffix(values, name, shape):
    arr = _array(values, name)
    if shape is not None:
        arr = arr.reshape(shape)
    _assert_matches(arr, name, requires_grad=True)


@pytest.mark.parametrize(
    ("values", "name", "op"),
    [
        pytest.param([1.0, 2.0], "float32", lambda t: t * 1, id="mul"),
        pytest.param([1.5, -2.0], "float64", lambda t: t.clone(), id="clone-float64"),
        pytest.param(2.0, "float16", lambda t: t * 1, id="mul-scalar-float16"),
        pytest.param(np.arange(40.0).reshape(2, 20), "float32", lambda t: t.view(2, 20), id="view"),
        pytest.param(RANDN_100x100, "bfloat16", lambda t: t.clone(), id="clone-summarized"),
    ],
)
def test_grad_fn_suffix(values, name, op):
    arr = _array(values, name)
    out = op(_to_torch(arr, name).requires_grad_(True))
    got = tensor_repr(
        arr, DTYPES[name], requires_grad=True, grad_fn_name=type(out.grad_fn).__name__
    )
    assert got == repr(out)


CUDA = {"device": "cuda:0"}


# No GPU here, so these are the strings torch prints for CUDA tensors (device comes first).
@pytest.mark.parametrize(
    ("values", "name", "kwargs", "expected"),
    [
        pytest.param([1.0, 2.0], "float32", CUDA, "tensor([1., 2.], device='cuda:0')", id="cuda"),
        pytest.param(
            [1, 2],
            "int32",
            {"device": "cuda:1"},
            "tensor([1, 2], device='cuda:1', dtype=torch.int32)",
            id="int32",
        ),
        pytest.param(
            [1.5],
            "float32",
            {**CUDA, "requires_grad": True},
            "tensor([1.5000], device='cuda:0', requires_grad=True)",
            id="requires-grad",
        ),
        pytest.param(
            [1.5, 2.5],
            "float64",
            {**CUDA, "requires_grad": True, "grad_fn_name": "MulBackward0"},
            "tensor([1.5000, 2.5000], device='cuda:0', dtype=torch.float64,\n"
            "       grad_fn=<MulBackward0>)",
            id="grad-fn-wraps",
        ),
        pytest.param([], "float32", CUDA, "tensor([], device='cuda:0')", id="empty"),
        pytest.param(
            np.zeros((0, 2)),
            "int64",
            CUDA,
            "tensor([], device='cuda:0', size=(0, 2), dtype=torch.int64)",
            id="empty-2d-int64",
        ),
        pytest.param([True], "bool", {"device": "cpu"}, "tensor([True])", id="cpu-omitted"),
    ],
)
def test_device_suffix(values, name, kwargs, expected):
    assert tensor_repr(_array(values, name), DTYPES[name], **kwargs) == expected


class MyTensor(torch.Tensor):
    """A subclass so that torch prints with the prefix ``MyTensor(``."""


@pytest.mark.parametrize(
    ("values", "shape"),
    [
        pytest.param([1.0, 2.0], None, id="row"),
        pytest.param(np.arange(40.0), (2, 20), id="wrapped-2d"),
        pytest.param(np.arange(24.0), (2, 3, 4), id="3d"),
    ],
)
def test_custom_prefix_indents_continuation_lines(values, shape):
    arr = _array(values, "float32")
    if shape is not None:
        arr = arr.reshape(shape)
    expected = repr(_to_torch(arr, "float32").as_subclass(MyTensor).requires_grad_(True))
    got = tensor_repr(arr, dt.float32, requires_grad=True, prefix="MyTensor(")
    assert got == expected


@pytest.mark.parametrize(
    ("values", "name"),
    [
        pytest.param([1.5, 2.0], "float32", id="float32-shows-dtype"),
        pytest.param([1.5, 2.0], "float64", id="float64-is-default"),
        pytest.param([1, 2], "int64", id="int64"),
        pytest.param([], "float32", id="empty-float32"),
        pytest.param([], "float64", id="empty-float64"),
        pytest.param([], "int64", id="empty-int64"),
    ],
)
def test_default_dtype_float64(values, name):
    dt.set_default_dtype(dt.float64)
    torch.set_default_dtype(torch.float64)
    _assert_matches(_array(values, name), name)


OPTION_CASES = [
    pytest.param({"precision": 2}, [1.12345, 2.5], "float32", id="precision-2"),
    pytest.param({"precision": 0}, [1.5, 2.25], "float64", id="precision-0"),
    pytest.param({"precision": 8}, [1.0 / 3.0, 2.0], "float64", id="precision-8"),
    pytest.param({"precision": 2}, [1e-6, 1.0], "float32", id="precision-2-sci"),
    pytest.param({"sci_mode": False}, [1e-5, 1.0], "float32", id="sci-off-small"),
    pytest.param({"sci_mode": False}, [1.0, 1e10], "float64", id="sci-off-int-mode"),
    pytest.param({"sci_mode": True}, [1.5, 2.0], "float32", id="sci-on"),
    pytest.param({"sci_mode": True}, [1.0, 2.0], "float32", id="sci-on-int-mode"),
    pytest.param({"sci_mode": True}, [0.0, NAN], "float32", id="sci-on-no-finite-nonzero"),
    pytest.param({"sci_mode": True}, [1, 2], "int64", id="sci-on-ignored-for-ints"),
    pytest.param({"threshold": 5}, np.arange(10), "int64", id="threshold-5"),
    pytest.param({"threshold": 5}, np.arange(6.0), "float32", id="threshold-5-no-edge-cut"),
    pytest.param({"threshold": 0}, 3.5, "float32", id="threshold-0-scalar"),
    pytest.param({"threshold": 5}, np.arange(64.0).reshape(4, 4, 4), "float32", id="thr-3d"),
    pytest.param({"linewidth": 40}, np.arange(30.0), "float32", id="linewidth-40"),
    pytest.param({"linewidth": 5}, np.arange(6.0), "float32", id="linewidth-tiny"),
    pytest.param({"linewidth": 200}, np.arange(60), "int64", id="linewidth-200"),
    pytest.param({"threshold": 10, "edgeitems": 1}, np.arange(20), "int64", id="edgeitems-1"),
    pytest.param({"threshold": 5, "edgeitems": 0}, np.arange(10.0), "float32", id="edgeitems-0"),
    pytest.param({"threshold": 5, "edgeitems": 0}, np.ones((3, 4)), "int32", id="edgeitems-0-2d"),
    pytest.param({"edgeitems": 0}, 2.0, "float32", id="edgeitems-0-scalar"),
    pytest.param({"profile": "short"}, RANDN_100x100, "float32", id="profile-short"),
    pytest.param({"profile": "full"}, np.arange(1200), "int64", id="profile-full"),
    pytest.param(
        {"profile": "short", "precision": 6}, [1.0 / 3.0], "float64", id="profile-override"
    ),
    pytest.param({"linewidth": 20}, [1.0, 2.0], "float64", id="suffix-wraps"),
]


@pytest.mark.parametrize(("options", "values", "name"), OPTION_CASES)
def test_printoptions_match_torch(options, values, name):
    set_printoptions(**options)
    torch.set_printoptions(**options)
    assert get_printoptions() == torch._tensor_str.get_printoptions()
    _assert_matches(_array(values, name), name)


def test_printoptions_context_manager_restores():
    with printoptions(precision=1, sci_mode=True):
        assert tensor_repr(_array([1.25], "float32"), dt.float32) == "tensor([1.2e+00])"
    assert get_printoptions() == {
        "precision": 4,
        "threshold": 1000,
        "edgeitems": 3,
        "linewidth": 80,
        "sci_mode": None,
    }


def test_sci_mode_resets_when_omitted():
    set_printoptions(sci_mode=True)
    set_printoptions(precision=3)
    assert get_printoptions()["sci_mode"] is None


# Floats spanning 1e-6..1e9 in magnitude, with integers, signed zeros and non-finite values.
_ELEMENTS = st.one_of(
    st.builds(
        lambda sign, exponent: sign * 10.0**exponent,
        st.sampled_from([1.0, -1.0]),
        st.floats(-6.0, 9.0),
    ),
    st.integers(-1000, 1000).map(float),
    st.sampled_from([0.0, -0.0, NAN, INF, -INF]),
)
_FLOAT_NAMES = st.sampled_from(["float32", "float64", "float16", "bfloat16"])


def _cast(arr: np.ndarray, name: str) -> np.ndarray:
    with np.errstate(over="ignore"):  # large magnitudes become inf in float16, as in torch
        return arr.astype(DTYPES[name].numpy)


@settings(max_examples=300, deadline=None, database=None)
@given(
    arr=hnp.arrays(
        np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=6), elements=_ELEMENTS
    ),
    name=_FLOAT_NAMES,
    requires_grad=st.booleans(),
)
def test_random_floats_match_torch(arr, name, requires_grad):
    _assert_matches(_cast(arr, name), name, requires_grad=requires_grad)


@settings(max_examples=150, deadline=None, database=None)
@given(
    arr=hnp.arrays(
        np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=8), elements=_ELEMENTS
    ),
    name=st.sampled_from(["float32", "float64", "int32", "int64", "bool"]),
    options=st.fixed_dictionaries(
        {},
        optional={
            "precision": st.integers(0, 8),
            "threshold": st.integers(0, 100),
            "edgeitems": st.integers(0, 4),
            "linewidth": st.integers(1, 120),
            "sci_mode": st.sampled_from([True, False]),
        },
    ),
)
def test_random_options_match_torch(arr, name, options):
    if not DTYPES[name].is_floating_point:
        finite = np.nan_to_num(arr, nan=0.0, posinf=7.0, neginf=-7.0)
        arr = np.asarray(np.clip(finite, -1e9, 1e9))
    set_printoptions(**options)
    torch.set_printoptions(**options)
    _assert_matches(_cast(arr, name), name)
