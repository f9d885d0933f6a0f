"""conv1d, conv2d, max_pool2d, avg_pool2d and adaptive_avg_pool2d against torch.nn.functional:
values, dtypes, node chains, gradients of input, weight and bias, and PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

from .test_functional_layers import assert_same_error, check, randn

pytest.importorskip("torch")


# ----- convolutions ------------------------------------------------------------------------
CONVS = {
    "2d": ((2, 3, 6, 6), (4, 3, 3, 3), True, {}),
    "2d-unbatched": ((3, 6, 6), (4, 3, 3, 3), True, {}),
    "2d-stride-padding-dilation-groups": (
        (2, 4, 7, 6),
        (6, 2, 3, 2),
        True,
        {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2},
    ),
    "2d-same-odd": ((2, 3, 6, 6), (4, 3, 3, 3), False, {"padding": "same", "dilation": 2}),
    "2d-valid": ((2, 3, 6, 6), (4, 3, 3, 3), False, {"padding": "valid"}),
    "1d": ((2, 3, 8), (4, 3, 3), True, {"stride": 2, "padding": 1}),
    "1d-unbatched-same": ((3, 8), (4, 3, 3), True, {"padding": "same"}),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv_matches_torch(name, dtype, rng):
    xs, ws, bias, kwargs = CONVS[name]
    fn_name = "conv2d" if len(ws) == 4 else "conv1d"
    x, w, b = (
        randn(rng, *xs, dtype=dtype),
        randn(rng, *ws, dtype=dtype),
        randn(rng, ws[0], dtype=dtype),
    )
    if bias:
        check(
            lambda m, x, w, b: getattr(m.nn.functional, fn_name)(x, w, b, **kwargs), x, w, b, tol=10
        )
    else:
        check(lambda m, x, w: getattr(m.nn.functional, fn_name)(x, w, **kwargs), x, w, tol=10)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_conv_same_padding_with_an_even_kernel_pads_right_like_torch(rng):
    # PyTorch pads the extra column on the right with a copy (ConstantPadNdBackward0) and warns
    # about that copy; tapegrad tapes the same pad but does not warn.
    x, w = randn(rng, 2, 3, 6, 6, dtype="float64"), randn(rng, 4, 3, 2, 4, dtype="float64")
    check(lambda m, x, w: m.nn.functional.conv2d(x, w, padding="same"), x, w)


def test_conv_of_integers_matches_torch(m):
    x = m.arange(32).reshape(1, 2, 4, 4)
    w = m.ones(3, 2, 2, 2, dtype=m.int64)
    y = m.nn.functional.conv2d(x, w)
    assert y.dtype == m.int64
    assert y[0, 0].tolist() == [[84, 92, 100], [116, 124, 132], [148, 156, 164]]


def _conv(xs, ws, bs=None, fn="conv2d", x_dtype=None, w_dtype=None, **kwargs):
    def call(m):
        x = m.ones(xs, dtype=x_dtype and getattr(m, x_dtype))
        w = m.ones(ws, dtype=w_dtype and getattr(m, w_dtype))
        b = None if bs is None else m.ones(bs)
        return getattr(m.nn.functional, fn)(x, w, b, **kwargs)

    return call


CONV_ERRORS = {
    "channels": _conv((2, 3, 8, 8), (4, 2, 3, 3)),
    "unbatched-channels": _conv((2, 8, 8), (4, 3, 3, 3)),
    "groups-divide-weight": _conv((2, 3, 8, 8), (4, 1, 3, 3), groups=3),
    "groups-exceed-weight": _conv((2, 3, 8, 8), (2, 1, 3, 3), groups=3),
    "groups-zero": _conv((2, 3, 8, 8), (4, 3, 3, 3), groups=0),
    "input-2d": _conv((8, 8), (4, 3, 3, 3)),
    "input-5d": _conv((1, 2, 3, 8, 8), (4, 3, 3, 3)),
    "conv1d-input-4d": _conv((2, 3, 8, 1), (4, 3, 3), fn="conv1d"),
    "weight-3d-for-conv2d": _conv((2, 3, 8, 8), (4, 3, 3)),
    "kernel-too-big": _conv((2, 3, 8, 8), (4, 3, 9, 9)),
    "bias-size": _conv((2, 3, 8, 8), (4, 3, 3, 3), (3,)),
    "stride-zero": _conv((2, 3, 8, 8), (4, 3, 3, 3), stride=0),
    "padding-negative": _conv((2, 3, 8, 8), (4, 3, 3, 3), padding=-1),
    "dilation-zero": _conv((2, 3, 8, 8), (4, 3, 3, 3), dilation=0),
    "stride-three-values": _conv((2, 3, 8, 8), (4, 3, 3, 3), stride=(1, 1, 1)),
    "same-with-stride": _conv((2, 3, 8, 8), (4, 3, 3, 3), stride=2, padding="same"),
    "unknown-padding-string": _conv((2, 3, 8, 8), (4, 3, 3, 3), padding="full"),
    "weight-dtype": _conv((2, 3, 8, 8), (4, 3, 3, 3), w_dtype="float64"),
    "unbatched-weight-dtype": _conv((3, 8, 8), (4, 3, 3, 3), w_dtype="float64"),
    "bias-dtype": _conv((2, 3, 8, 8), (4, 3, 3, 3), (4,), x_dtype="float64", w_dtype="float64"),
}


@pytest.mark.parametrize("name", sorted(CONV_ERRORS))
def test_conv_errors_match_torch(name):
    assert_same_error(CONV_ERRORS[name])


# ----- pooling -----------------------------------------------------------------------------
POOLS = {
    "max-2": ("max_pool2d", (2, 3, 8, 8), (2,), {}),
    "max-unbatched-stride-padding": ("max_pool2d", (3, 7, 9), (3, 2, 1), {}),
    "max-dilation": ("max_pool2d", (2, 3, 7, 9), ((3, 2), (2, 1), (1, 1)), {"dilation": (2, 1)}),
    "max-ceil": ("max_pool2d", (2, 3, 7, 9), (3, 2, 1), {"ceil_mode": True}),
    "max-indices": (
        "max_pool2d",
        (2, 3, 7, 9),
        (3, 2, 1),
        {"ceil_mode": True, "return_indices": True},
    ),
    "avg-2": ("avg_pool2d", (2, 3, 8, 8), (2,), {}),
    "avg-unbatched": ("avg_pool2d", (3, 7, 9), (3, 2, 1), {}),
    "avg-ceil": ("avg_pool2d", (2, 3, 7, 9), (3, 2, 1), {"ceil_mode": True}),
    "avg-ceil-no-pad-count": (
        "avg_pool2d",
        (2, 3, 7, 9),
        (3, 2, 1),
        {"ceil_mode": True, "count_include_pad": False},
    ),
    "avg-divisor": ("avg_pool2d", (2, 3, 7, 9), ((3, 2), (2, 3), 1), {"divisor_override": 5}),
    "adaptive-3": ("adaptive_avg_pool2d", (2, 3, 8, 8), (3,), {}),
    "adaptive-uneven": ("adaptive_avg_pool2d", (2, 3, 7, 5), ((3, 4),), {}),
    "adaptive-none": ("adaptive_avg_pool2d", (3, 7, 5), ((None, 2),), {}),
    "adaptive-upsample": ("adaptive_avg_pool2d", (2, 3, 5, 5), ((7, 8),), {}),
    "adaptive-1": ("adaptive_avg_pool2d", (2, 3, 7, 5), (1,), {}),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(POOLS))
def test_pool_matches_torch(name, dtype, rng):
    fn, shape, args, kwargs = POOLS[name]
    check(
        lambda m, x: getattr(m.nn.functional, fn)(x, *args, **kwargs),
        randn(rng, *shape, dtype=dtype),
    )


def test_max_pool_gradient_goes_to_the_first_maximum_of_a_window(rng):
    x = np.zeros((1, 1, 4, 4), "float32")  # all ties, as after a relu
    x[0, 0, 3, 3] = 1.0
    check(lambda m, x: m.nn.functional.max_pool2d(x, 2, 1, return_indices=True), x)


@pytest.mark.parametrize("fn", ["max_pool2d", "avg_pool2d"])
def test_pooling_of_integers_matches_torch(fn):
    x = np.arange(2 * 3 * 7 * 9).reshape(2, 3, 7, 9) % 11
    check(lambda m, x: getattr(m.nn.functional, fn)(x, 3, 2, 1, ceil_mode=True), x)


def _pool(fn, shape, *args, dtype=None, **kwargs):
    return lambda m: getattr(m.nn.functional, fn)(
        m.ones(shape, dtype=dtype and getattr(m, dtype)), *args, **kwargs
    )


POOL_ERRORS = {
    "max-padding-too-big": _pool("max_pool2d", (2, 3, 8, 8), 2, padding=2),
    "max-kernel-zero": _pool("max_pool2d", (2, 3, 8, 8), 0),
    "max-kernel-zero-with-stride": _pool("max_pool2d", (2, 3, 8, 8), 0, 1),
    "max-stride-zero": _pool("max_pool2d", (2, 3, 8, 8), 2, 0),
    "max-input-2d": _pool("max_pool2d", (8, 8), 2),
    "max-output-empty": _pool("max_pool2d", (2, 3, 1, 1), 2),
    "max-dilation-zero": _pool("max_pool2d", (2, 3, 8, 8), 2, dilation=0),
    "max-kernel-three-values": _pool("max_pool2d", (2, 3, 8, 8), (2, 2, 2)),
    "max-no-channels": _pool("max_pool2d", (2, 0, 4, 4), 2),
    "avg-padding-too-big": _pool("avg_pool2d", (2, 3, 8, 8), 2, padding=2),
    "avg-stride-zero": _pool("avg_pool2d", (2, 3, 8, 8), 2, 0),
    "avg-input-2d": _pool("avg_pool2d", (8, 8), 2),
    "avg-output-empty": _pool("avg_pool2d", (2, 3, 1, 1), 2),
    "avg-divisor-zero": _pool("avg_pool2d", (2, 3, 8, 8), 2, divisor_override=0),
    "avg-stride-three-values": _pool("avg_pool2d", (2, 3, 8, 8), 2, (1, 1, 1)),
    "adaptive-input-2d": _pool("adaptive_avg_pool2d", (8, 8), 2),
    "adaptive-three-sizes": _pool("adaptive_avg_pool2d", (2, 3, 8, 8), (2, 2, 2)),
    "adaptive-negative": _pool("adaptive_avg_pool2d", (2, 3, 8, 8), -1),
    "adaptive-integers": _pool("adaptive_avg_pool2d", (2, 3, 8, 8), 3, dtype="int64"),
    "adaptive-integers-to-1": _pool("adaptive_avg_pool2d", (2, 3, 8, 8), 1, dtype="int64"),
    "adaptive-empty-height": _pool("adaptive_avg_pool2d", (2, 3, 0, 4), 3),
}


@pytest.mark.parametrize("name", sorted(POOL_ERRORS))
def test_pool_errors_match_torch(name):
    assert_same_error(POOL_ERRORS[name])


def test_pooling_empty_batches_and_sizes_match_torch(m):
    assert tuple(m.nn.functional.max_pool2d(m.ones(0, 3, 4, 4), 2).shape) == (0, 3, 2, 2)
    assert tuple(m.nn.functional.adaptive_avg_pool2d(m.ones(2, 3, 5, 5), 0).shape) == (2, 3, 0, 0)
    assert tuple(m.nn.functional.adaptive_avg_pool2d(m.ones(2, 0, 4, 4), 3).shape) == (2, 0, 3, 3)


SECOND_ORDER = {
    "conv2d": lambda m, x, w: m.nn.functional.conv2d(x, w, padding=1).pow(2),
    "max_pool2d": lambda m, x, w: m.nn.functional.max_pool2d(x * w.sum(), 2).pow(2),
    "avg_pool2d": lambda m, x, w: m.nn.functional.avg_pool2d(x, 2, 1, 1).pow(2) * w.sum(),
    "adaptive_avg_pool2d": lambda m, x, w: m.nn.functional.adaptive_avg_pool2d(x, 3).pow(2),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_derivatives_match_torch(name, rng):
    def fn(m, x, w):
        (g,) = m.autograd.grad(SECOND_ORDER[name](m, x, w).sum(), x, create_graph=True)
        return g.pow(2).sum()

    x, w = randn(rng, 1, 2, 4, 4, dtype="float64"), randn(rng, 3, 2, 3, 3, dtype="float64")
    check(fn, x, w, chain=False, edges=False)


# ----- pad ---------------------------------------------------------------------------------
PADS = {
    "last-2-dims": ((1, 2, 3, 4), (1, 2, 2, 1)),
    "crop-left": ((2, 3, 5), (-1, 2)),
    "crop-right": ((2, 3, 5), (2, -1)),
    "last-3-dims": ((1, 2, 3, 4), (1, 1, 1, 1, 1, 0)),
    "5d": ((2, 3, 4, 5, 3), (1, 2, 1, 1, 1, 2)),
    "unbatched-1d": ((3, 5), (2, 2)),
}


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("name", sorted(PADS))
def test_pad_matches_torch(name, mode, rng):
    shape, pad = PADS[name]
    # PyTorch composes circular padding from a chain of slice copies; tapegrad tapes one node
    # with the chain's last name (CopySlices).
    composite = mode == "circular"
    check(
        lambda m, x: m.nn.functional.pad(x, pad, mode=mode),
        randn(rng, *shape, dtype="float64"),
        chain=not composite,
        edges=not composite,
    )


def test_constant_pad_value_and_cropping_match_torch(rng):
    x = randn(rng, 1, 2, 3, 4)
    check(lambda m, x: m.nn.functional.pad(x, (1, -1, 0, 2, 1, 1), value=3.0), x)
    check(lambda m, x: m.nn.functional.pad(x, [1, 1], value=2.7), np.arange(12).reshape(3, 4))


def _pad(shape, pad, mode="constant", value=None):
    return lambda m: m.nn.functional.pad(m.ones(shape), pad, mode=mode, value=value)


PAD_ERRORS = {
    "odd-length": _pad((1, 2, 3, 4), (1, 2, 3)),
    "too-long": _pad((1, 2, 3, 4), (1,) * 10),
    "unknown-mode": _pad((1, 2, 3, 4), (1, 2), "wrap"),
    "float-size": _pad((1, 2, 3, 4), [1.5, 1]),
    "crop-too-much": _pad((1, 2, 3, 4), (-5, 1)),
    "reflect-value": _pad((1, 2, 3, 4), (1, 2, 0, 0), "reflect", 1.0),
    "reflect-width": _pad((1, 2, 3, 4), (4, 4, 0, 0), "reflect"),
    "reflect-height": _pad((1, 2, 3, 4), (1, 1, 3, 3), "reflect"),
    "reflect-depth": _pad((1, 2, 3, 4), (1, 1, 1, 1, 2, 2), "reflect"),
    "reflect-1d-input": _pad((4,), (1, 1), "reflect"),
    "reflect-size-2-on-4d": _pad((1, 2, 3, 4), (1, 2), "reflect"),
    "replicate-empty": _pad((2, 3, 0), (1, 1), "replicate"),
    "circular-wraps-twice": _pad((1, 2, 3, 4), (1, 1, 4, 1), "circular"),
}


@pytest.mark.parametrize("name", sorted(PAD_ERRORS))
def test_pad_errors_match_torch(name):
    assert_same_error(PAD_ERRORS[name])
