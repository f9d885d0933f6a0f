"""Parity with PyTorch for every op of the op table: values, dtypes, flags, grad_fn names, grads.

One table, ``CASES``: each case is a lambda ``fn(m, *tensors)`` run once with ``m = torch`` and
once with ``m = tapegrad`` on the same random inputs; ``check_case`` compares every output
(dtype, shape, values, ``requires_grad``, ``type(grad_fn).__name__``) and, after a ``backward``
with the same random upstream gradient, every input's ``.grad``.
"""

from __future__ import annotations

import re
import warnings
import zlib
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest

import tapegrad
from tapegrad._ops import shape as shape_ops

torch = pytest.importorskip("torch")

FLOATS = ("float32", "float64")
F64 = ("float64",)
TOL = {"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)}


# ----- inputs ------------------------------------------------------------------------------
class Arg(NamedTuple):
    """One input: a shape and how to draw its values; ``dtype=None`` is the float under test."""

    shape: tuple
    kind: str = "normal"
    dtype: str | None = None
    values: tuple | None = None

    def make(self, rng: np.random.Generator, float_dtype: str | None) -> np.ndarray:
        dtype = self.dtype or float_dtype
        if self.values is not None:
            return np.asarray(self.values, dtype=dtype).reshape(self.shape)
        if self.kind == "bool":
            return rng.random(self.shape) < 0.5
        if self.kind == "int":
            return rng.integers(-5, 6, self.shape).astype(dtype)
        if self.kind == "nat":
            return rng.integers(1, 6, self.shape).astype(dtype)
        if self.kind == "pos":  # away from 0 and from the poles of log, sqrt, rsqrt
            x = rng.uniform(0.5, 2.0, self.shape)
        elif self.kind == "unit":  # inside (-1, 1), where tan and friends are tame
            x = rng.uniform(-0.9, 0.9, self.shape)
        elif self.kind == "away":  # |x| >= 0.3: clear of the kinks of abs, relu, sign, 1/x
            x = rng.uniform(0.3, 2.0, self.shape) * rng.choice([-1.0, 1.0], self.shape)
        else:
            x = rng.standard_normal(self.shape)
        return np.asarray(x, dtype=dtype)

    @property
    def differentiable(self) -> bool:
        return self.kind not in ("bool", "int", "nat") and self.dtype in (None, *FLOATS)


# Input makers, short to keep the table readable: N normal, P in [0.5, 2], U in (-0.9, 0.9),
# W with |x| >= 0.3, I integers in [-5, 5], Nat in [1, 5], B bools, V explicit values.
def N(*shape):
    return Arg(shape)


def P(*shape):
    return Arg(shape, "pos")


def U(*shape):
    return Arg(shape, "unit")


def W(*shape):
    return Arg(shape, "away")


def I(*shape, dtype="int64"):  # noqa: E743
    return Arg(shape, "int", dtype)


def Nat(*shape, dtype="int64"):
    return Arg(shape, "nat", dtype)


def B(*shape):
    return Arg(shape, "bool", "bool")


def V(values, shape=None, dtype=None):
    values = tuple(np.asarray(values).ravel().tolist())
    return Arg(shape if shape is not None else (len(values),), "values", dtype, values)


# ----- the table ---------------------------------------------------------------------------
class Case(NamedTuple):
    name: str
    fn: Callable
    args: tuple
    dtypes: tuple = FLOATS
    tol: float = 1.0  # multiplies the dtype's tolerance (reductions accumulate rounding)
    xfail: str | None = None  # a known bug outside the op modules: the reason


def xfail(case: Case, reason: str) -> Case:
    return case._replace(xfail=reason)


def c(name, fn, *args, dtypes=F64, tol=1.0):
    """A case run in float64 (its kernels shared with test_gradcheck)."""
    return Case(name, fn, args, dtypes, tol)


def both(name, fn, *args, tol=1.0):
    """A case run in float32 and float64: every op has at least one."""
    return Case(name, fn, args, FLOATS, tol)


def moves(name, fn, *args):
    """A data-movement case (shape ops, indexing): the kernels do not depend on the float dtype,
    so float64 alone (shared with test_gradcheck); one float32 case chains them all."""
    return Case(name, fn, args, ("float64",))


def ints(name, fn, *args):
    """A case whose inputs have fixed dtypes (integers, bools, mixed): run once."""
    return Case(name, fn, args, (None,))


def nnf(m):
    """``torch.nn.functional``, or tapegrad's namespace holding the same functions."""
    if m is torch:
        return torch.nn.functional
    nn = getattr(m, "nn", None)
    return getattr(nn, "functional", m) if nn is not None else m


S = (3, 4)
# Mutual broadcasting, a missing leading dim, a 0-d operand (same shapes: ``where``, ``clamp``,
# the broadcasting property test).
BIN_SHAPES = [((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), S)]


def _shape_id(shape: tuple) -> str:
    return "x".join(map(str, shape)) or "0d"


def binary(name, fn, kinds=(N, N), shapes=BIN_SHAPES, tol=1.0):
    """The same binary op over broadcasting and 0-d operand pairs (the first in both dtypes)."""
    return [
        Case(
            f"{name}-{_shape_id(a)}-{_shape_id(b)}",
            fn,
            (kinds[0](*a), kinds[1](*b)),
            FLOATS if i == 0 else F64,
            tol,
        )
        for i, (a, b) in enumerate(shapes)
    ]


def unary(name, fn, kind=N, shapes=(S,)):
    """A unary op on each shape: the first in both dtypes."""
    return [
        Case(f"{name}-{len(s)}d", fn, (kind(*s),), FLOATS if i == 0 else F64)
        for i, s in enumerate(shapes)
    ]


_UNARY = [
    ("neg", lambda m, x: m.neg(x), N),
    ("abs", lambda m, x: m.abs(x), W),
    ("exp", lambda m, x: m.exp(x), N),
    ("log", lambda m, x: m.log(x), P),
    ("log2", lambda m, x: m.log2(x), P),
    ("log10", lambda m, x: m.log10(x), P),
    ("log1p", lambda m, x: m.log1p(x), P),
    ("expm1", lambda m, x: m.expm1(x), N),
    ("sqrt", lambda m, x: m.sqrt(x), P),
    ("rsqrt", lambda m, x: m.rsqrt(x), P),
    ("sin", lambda m, x: m.sin(x), N),
    ("cos", lambda m, x: m.cos(x), N),
    ("tan", lambda m, x: m.tan(x), U),
    ("tanh", lambda m, x: m.tanh(x), N),
    ("sigmoid", lambda m, x: m.sigmoid(x), N),
    ("relu", lambda m, x: m.relu(x), W),
    ("silu", lambda m, x: nnf(m).silu(x), N),
    ("gelu", lambda m, x: nnf(m).gelu(x), N),
    ("gelu_tanh", lambda m, x: nnf(m).gelu(x, approximate="tanh"), N),
    ("softplus", lambda m, x: nnf(m).softplus(x), N),
    ("softplus_beta", lambda m, x: nnf(m).softplus(x * 4, beta=2, threshold=3), N),
    ("leaky_relu", lambda m, x: nnf(m).leaky_relu(x), W),
    ("leaky_relu_slope", lambda m, x: nnf(m).leaky_relu(x, 0.2), W),
    ("sign", lambda m, x: m.sign(x), W),
    ("reciprocal", lambda m, x: m.reciprocal(x), W),
    ("square", lambda m, x: m.square(x), N),
    ("floor", lambda m, x: m.floor(x * 3), N),
    ("ceil", lambda m, x: m.ceil(x * 3), N),
    ("round", lambda m, x: m.round(x * 3), N),
    ("round_decimals", lambda m, x: m.round(x * 3, decimals=2), N),
    ("trunc", lambda m, x: m.trunc(x * 3), N),
]

_UNARY_0D = {"abs", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "gelu", "sign", "floor"}

CASES: list[Case] = [
    # ----- unary math and activations (a 2-D and a 0-d input each) ------------------------
    *[
        case
        for name, fn, kind in _UNARY
        for case in unary(name, fn, kind, (S, ()) if name in _UNARY_0D else (S,))
    ],
    both("exp-method", lambda m, x: x.exp().tanh().sigmoid(), N(2, 3, 4)),
    c("abs-builtin", lambda m, x: abs(x), W(*S)),
    c("neg-operator", lambda m, x: -x, N(*S)),
    c("pos-operator", lambda m, x: +x * 1, N(*S)),
    c("relu-ties", lambda m, x: m.relu(x), V([-1.0, 0.0, 2.0])),
    c("abs-at-zero", lambda m, x: m.abs(x), V([-1.0, 0.0, 2.0])),
    c("sign-at-zero", lambda m, x: m.sign(x), V([-1.0, 0.0, 2.0])),
    c("relu-nan", lambda m, x: m.relu(x), V([-1.0, float("nan"), 2.0])),
    c("sign-nan", lambda m, x: m.sign(x), V([-1.0, float("nan"), 0.0])),
    c("round-half-even", lambda m, x: m.round(x), V([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])),
    # ----- arithmetic ----------------------------------------------------------------------
    *binary("add", lambda m, x, y: x + y),
    *binary("add_alpha", lambda m, x, y: m.add(x, y, alpha=2)),
    *binary("sub", lambda m, x, y: x - y),
    *binary("sub_alpha", lambda m, x, y: m.sub(x, y, alpha=0.5)),
    *binary("rsub", lambda m, x, y: m.rsub(x, y)),
    *binary("mul", lambda m, x, y: x * y),
    *binary("div", lambda m, x, y: x / y, (N, W)),
    *binary("div_floor", lambda m, x, y: m.div(x * 3, y, rounding_mode="floor"), (N, W)),
    *binary("div_trunc", lambda m, x, y: m.div(x * 3, y, rounding_mode="trunc"), (N, W)),
    *binary("remainder", lambda m, x, y: m.remainder(x * 3, y), (N, W)),
    *binary("maximum", lambda m, x, y: m.maximum(x, y)),
    *binary("minimum", lambda m, x, y: m.minimum(x, y)),
    *binary("pow", lambda m, x, y: m.pow(x, y), (P, N)),
    c("add-scalar-method", lambda m, x: x.add(2.0, alpha=3), N(*S)),
    c("sub-scalar", lambda m, x: x.sub(2, alpha=2), N(*S)),
    both("rsub-scalar", lambda m, x: m.rsub(x, 2), N(*S)),
    c("rsub-scalar-alpha", lambda m, x: m.rsub(x, 2.5, alpha=2), N(*S)),
    both("radd", lambda m, x: 2 + x, N(*S)),
    both("rsub-operator", lambda m, x: 2 - x, N(*S)),
    c("rmul", lambda m, x: 2 * x, N(*S)),
    both("rmul-float", lambda m, x: 0.5 * x, N(*S)),
    both("rtruediv", lambda m, x: 2 / x, W(*S)),
    c("truediv-scalar", lambda m, x: x / 2, N(*S)),
    both("floordiv", lambda m, x, y: x // y, N(*S), W(*S)),
    c("floordiv-int-scalar", lambda m, x: x // 2, N(*S)),
    c("mod-int-scalar", lambda m, x: x % 2, N(*S)),
    c("floordiv-scalar", lambda m, x: x // 0.5, N(*S)),
    c("rfloordiv", lambda m, x: 2 // x, W(*S)),
    c("floor_divide", lambda m, x, y: m.floor_divide(x, y), N(*S), W(*S)),
    both("mod-scalar", lambda m, x: x % 0.75, N(*S)),
    c("mod-negative-divisor", lambda m, x: x % -0.75, N(*S)),
    both("rmod", lambda m, x: 2 % x, W(*S)),
    c("maximum-ties", lambda m, x, y: m.maximum(x, y), V([1.0, 2.0, 3.0]), V([1.0, 0.0, 3.0])),
    c("minimum-ties", lambda m, x, y: m.minimum(x, y), V([1.0, 2.0, 3.0]), V([1.0, 0.0, 3.0])),
    c("max-binary", lambda m, x, y: m.max(x, y), N(*S), N(4)),
    c("min-binary", lambda m, x, y: m.min(x, y), N(*S), N(4)),
    # ----- pow -----------------------------------------------------------------------------
    both("pow-int", lambda m, x: x**2, N(*S)),
    c("pow-int3", lambda m, x: m.pow(x, 3), N(*S)),
    c("pow-neg-int", lambda m, x: x**-1, W(*S)),
    c("pow-neg-int2", lambda m, x: x**-2, W(*S)),
    c("pow-zero", lambda m, x: x**0, N(*S)),
    c("pow-one", lambda m, x: x**1, N(*S)),
    c("pow-half", lambda m, x: x**0.5, P(*S)),
    both("pow-float", lambda m, x: x**2.5, P(*S)),
    c("pow-float-int-valued", lambda m, x: x**2.0, N(*S)),
    c("pow-0d", lambda m, x: x**3, N()),
    both("rpow", lambda m, x: 2**x, N(*S)),
    c("rpow-float", lambda m, x: 2.5**x, N(*S)),
    c("pow-scalar-base", lambda m, x: m.pow(2, x), N(*S)),
    c("pow-zero-float-at-0", lambda m, x: x**0.0, V([0.0, 1.0, -2.0])),
    c(
        "pow-tensor-at-0",
        lambda m, x, y: m.pow(x, y),
        V([0.0, 0.0, 0.0, 2.0]),
        V([0.0, 1.0, 2.5, 0.0]),
    ),
    c("rpow-zero-base", lambda m, x: 0.0**x, V([0.0, 1.0, 2.0])),
    c("pow-tensor-0d-exponent", lambda m, x, y: x**y, P(*S), N()),
    c("square-method", lambda m, x: x.square() + x.pow(2), N(*S)),
    # ----- clamp and where -----------------------------------------------------------------
    both("clamp", lambda m, x: m.clamp(x, -0.5, 0.5), N(*S)),
    c("clamp-min", lambda m, x: x.clamp(min=-0.5), N(*S)),
    c("clamp-max", lambda m, x: x.clamp(max=0.5), N(*S)),
    c("clamp-int-bounds", lambda m, x: m.clamp(x * 3, -1, 1), N(*S)),
    c("clamp-ties", lambda m, x: m.clamp(x, -0.5, 0.5), V([-1.0, -0.5, 0.0, 0.5, 1.0])),
    c("clamp-min-above-max", lambda m, x: m.clamp(x, 0.5, -0.5), N(*S)),
    c("clip", lambda m, x: m.clip(x, -0.5, 0.5), N(*S)),
    both("clamp-tensor", lambda m, x, lo, hi: m.clamp(x, lo, hi + 1), N(*S), N(*S), N(4)),
    c("clamp-tensor-min", lambda m, x, lo: m.clamp(x, min=lo), N(*S), N(*S)),
    c("clamp-tensor-max", lambda m, x, hi: m.clamp(x, max=hi), N(*S), N(3, 1)),
    c(
        "clamp-tensor-ties",
        lambda m, x, lo: m.clamp(x, min=lo),
        V([0.0, 1.0, 2.0]),
        V([0.0, 1.5, 2.0]),
    ),
    both("where", lambda m, x, y: m.where(x > 0, x, y), N(*S), N(*S)),
    c("where-broadcast", lambda m, cond, x, y: m.where(cond, x, y), B(3, 1), N(4), N(*S)),
    both("where-scalar-other", lambda m, cond, x: m.where(cond, x, 0.0), B(*S), N(*S)),
    c("where-scalar-input", lambda m, cond, y: m.where(cond, 1.5, y), B(*S), N(*S)),
    c("where-method", lambda m, cond, x, y: x.where(cond, y), B(*S), N(*S), N()),
    # ----- gather / scatter (index values without repeats, where the result is defined) ---
    both(
        "gather", lambda m, x, i: x.gather(1, i), N(*S), V([[3, 0, 0, 1, 2]] * 2, (2, 5), "int64")
    ),
    c("gather-dim0", lambda m, x, i: m.gather(x, 0, i), N(*S), V([[2, 0, 1, 1]], (1, 4), "int64")),
    both(
        "scatter-src",
        lambda m, x, i, src: x.scatter(1, i, src),
        N(*S),
        V([[0, 1], [2, 3], [3, 0]], (3, 2), "int64"),
        N(3, 2),
    ),
    c(
        "scatter-value",
        lambda m, x, i: x.scatter(0, i, 2.5),
        N(*S),
        V([[2, 0, 1, 0]], (1, 4), "int64"),
    ),
    c(
        "scatter_add",
        lambda m, x, i, src: m.scatter_add(x, 0, i, src),
        N(*S),
        V([[2, 0, 1, 0], [2, 2, 2, 2]], (2, 4), "int64"),
        N(2, 4),
    ),
    c(
        "scatter_-on-clone",
        lambda m, x, i, src: x.clone().scatter_(1, i, src),
        N(*S),
        V([[1], [2], [0]], (3, 1), "int64"),
        N(3, 1),
    ),
    # ----- comparisons (bool, no grad) -----------------------------------------------------
    *[
        Case(f"{op}-{kind}", fn, (N(*S), other), FLOATS if op + kind == "eqtensor" else F64)
        for op, fn in [
            ("eq", lambda m, x, y: m.eq(x, y)),
            ("ne", lambda m, x, y: x.ne(y)),
            ("lt", lambda m, x, y: x < y),
            ("le", lambda m, x, y: x <= y),
            ("gt", lambda m, x, y: m.gt(x, y)),
            ("ge", lambda m, x, y: x >= y),
        ]
        for kind, other in [("tensor", N(4)), ("0d", N())]
    ],
    c(
        "eq-operator-ties",
        lambda m, x, y: (x == y, x != y, x <= y),
        V([1.0, 2.0, 3.0]),
        V([1.0, 0.0, 3.0]),
    ),
    c("compare-scalar", lambda m, x: (x > 0, x < 0.5, x == 0, x >= -1, 0 < x), N(*S)),  # noqa: SIM300
    # ----- reductions ----------------------------------------------------------------------
    both("sum", lambda m, x: x.sum(), N(2, 3, 4), tol=10),
    both("sum-dim", lambda m, x: m.sum(x, 1), N(2, 3, 4), tol=10),
    c("sum-dim-neg-keepdim", lambda m, x: x.sum(-1, keepdim=True), N(2, 3, 4), tol=10),
    c("sum-dims-tuple", lambda m, x: x.sum((0, 2)), N(2, 3, 4), tol=10),
    c("sum-dims-neg", lambda m, x: m.sum(x, dim=(-1, 0), keepdim=True), N(2, 3, 4), tol=10),
    c("sum-0d", lambda m, x: x.sum(), N()),
    c("sum-0d-dim", lambda m, x: x.sum(0), N()),
    both("mean", lambda m, x: x.mean(), N(2, 3, 4), tol=10),
    c("mean-dim", lambda m, x: m.mean(x, 1), N(2, 3, 4), tol=10),
    c("mean-dims-keepdim", lambda m, x: x.mean((-1, 0), keepdim=True), N(2, 3, 4), tol=10),
    c("mean-0d", lambda m, x: x.mean(), N()),
    both("prod", lambda m, x: x.prod(), N(*S), tol=10),
    c("prod-dim", lambda m, x: m.prod(x, 1), N(2, 3, 4), tol=10),
    c("prod-dim-keepdim", lambda m, x: x.prod(-3, keepdim=True), N(2, 3, 4), tol=10),
    c("prod-with-zero", lambda m, x: x.prod(), V([2.0, 0.0, 3.0, 0.5])),
    c("prod-zeros-dim", lambda m, x: x.prod(0), V([2.0, 0.0, 0.0, 0.0, 3.0, 4.0], (2, 3))),
    both("amax", lambda m, x: x.amax(), N(2, 3, 4)),
    c("amax-dim", lambda m, x: m.amax(x, 1), N(2, 3, 4)),
    c("amax-dims", lambda m, x: x.amax((0, -1), keepdim=True), N(2, 3, 4)),
    c("amin-dim", lambda m, x: m.amin(x, -1), N(2, 3, 4)),
    c("amax-ties", lambda m, x: x.amax(1), V([1.0, 3.0, 3.0, 2.0, 2.0, 0.0], (2, 3))),
    c("amin-ties", lambda m, x: x.amin(), V([1.0, 0.0, 3.0, 0.0, 2.0, 0.0], (2, 3))),
    both("var", lambda m, x: x.var(), N(2, 3, 4), tol=10),
    c("var-dim", lambda m, x: m.var(x, 1), N(2, 3, 4), tol=10),
    c("var-dims-unbiased-false", lambda m, x: x.var((0, 2), unbiased=False), N(2, 3, 4), tol=10),
    c(
        "var-correction-keepdim",
        lambda m, x: m.var(x, -1, keepdim=True, correction=0),
        N(2, 3, 4),
        tol=10,
    ),
    both("std", lambda m, x: x.std(), N(2, 3, 4), tol=10),
    c("std-of-constant", lambda m, x: (x.std(), x.view(2, 2).std(1)), V([1.5, 1.5, 1.5, 1.5])),
    c("std-dim", lambda m, x: m.std(x, dim=-2, keepdim=True), N(2, 3, 4), tol=10),
    c("std-correction", lambda m, x: x.std(0, correction=2), N(5, 3), tol=10),
    c("var-no-degrees-of-freedom", lambda m, x: (x.var(0), x.std(1, correction=3)), N(1, 3)),
    both("logsumexp", lambda m, x: m.logsumexp(x, 1), N(2, 3, 4), tol=10),
    c(
        "logsumexp-dims-keepdim",
        lambda m, x: x.logsumexp((0, -1), keepdim=True),
        N(2, 3, 4),
        tol=10,
    ),
    c("logsumexp-0d", lambda m, x: m.logsumexp(x, 0), N()),
    both("norm", lambda m, x: x.norm(), N(2, 3, 4), tol=10),
    c("norm-dim", lambda m, x: m.norm(x, dim=1), N(2, 3, 4), tol=10),
    c("norm-dims-keepdim", lambda m, x: x.norm(dim=(0, -1), keepdim=True), N(2, 3, 4), tol=10),
    c("norm-p1", lambda m, x: x.norm(p=1, dim=0), W(*S), tol=10),
    c("norm-p3", lambda m, x: m.norm(x, p=3), W(*S), tol=10),
    c("norm-inf", lambda m, x: x.norm(p=float("inf"), dim=1), N(*S), tol=10),
    c("norm-of-zeros", lambda m, x: (x * 0).norm(), N(*S)),
    c("norm-p3-of-zeros", lambda m, x: (x * 0).norm(p=3, dim=1), N(*S)),
    c("norm-p1-at-0", lambda m, x: x.norm(p=1), V([0.0, 1.0, -2.0])),
    c("norm-p1.5-at-0", lambda m, x: x.norm(p=1.5), V([0.0, 1.0, -2.0])),
    c("norm-p0.5-at-0", lambda m, x: x.norm(p=0.5), V([0.0, 1.0, -2.0])),
    c("norm-inf-ties", lambda m, x: x.norm(p=float("inf")), V([2.0, 1.0, -2.0])),
    both("max", lambda m, x: x.max(), N(2, 3, 4)),
    c("min", lambda m, x: m.min(x), N(2, 3, 4)),
    c("max-ties", lambda m, x: x.max(), V([1.0, 3.0, 3.0, 2.0])),
    c("min-ties", lambda m, x: x.min(), V([1.0, 0.0, 3.0, 0.0])),
    both("max-dim", lambda m, x: tuple(m.max(x, 1)), N(2, 3, 4)),
    c("max-dim-values", lambda m, x: x.max(dim=-1, keepdim=True).values, N(2, 3, 4)),
    c("max-dim-indices", lambda m, x: x.max(0).indices, N(*S)),
    both("min-dim", lambda m, x: tuple(x.min(-1)), N(*S)),
    c("min-dim-keepdim", lambda m, x: m.min(x, 0, keepdim=True)[0], N(*S)),
    c("max-dim-0d", lambda m, x: tuple(x.max(0)), N()),
    both("argmax", lambda m, x: x.argmax(), N(2, 3, 4)),
    c("argmax-dim", lambda m, x: m.argmax(x, 1), N(2, 3, 4)),
    c("argmin-dim-keepdim", lambda m, x: x.argmin(dim=-1, keepdim=True), N(2, 3, 4)),
    c("argmin", lambda m, x: m.argmin(x), N(*S)),
    c("argmax-ties", lambda m, x: (x.argmax(), x.argmax(1)), V([1, 3, 3, 3, 2, 3], (2, 3))),
    both("softmax", lambda m, x: m.softmax(x, 1), N(2, 3, 4)),
    c("softmax-neg-dim", lambda m, x: x.softmax(-1), N(*S)),
    c("softmax-0d", lambda m, x: m.softmax(x, 0), N()),
    both("log_softmax", lambda m, x: m.log_softmax(x, 0), N(2, 3, 4)),
    c("log_softmax-neg-dim", lambda m, x: x.log_softmax(dim=-1), N(*S)),
    c("softmax-functional", lambda m, x: nnf(m).softmax(x, dim=1), N(*S)),
    # ----- matrix products -----------------------------------------------------------------
    *[
        Case(
            f"matmul-{a}-{b}",
            lambda m, x, y: x @ y,
            (N(*sa), N(*sb)),
            FLOATS if (a in ("1d", "2d") and b in ("1d", "2d")) or a == b == "3d" else F64,
            10,
        )
        for a, b, sa, sb in [
            ("1d", "1d", (4,), (4,)),
            ("2d", "1d", (3, 4), (4,)),
            ("1d", "2d", (4,), (4, 5)),
            ("2d", "2d", (3, 4), (4, 5)),
            ("3d", "1d", (2, 3, 4), (4,)),
            ("1d", "3d", (4,), (2, 4, 5)),
            ("3d", "2d", (2, 3, 4), (4, 5)),
            ("2d", "3d", (3, 4), (2, 4, 5)),
            ("3d", "3d", (2, 3, 4), (2, 4, 5)),
            ("4d", "3d", (2, 1, 3, 4), (3, 4, 5)),
            ("4d", "2d", (2, 2, 3, 4), (4, 5)),
        ]
    ],
    c("matmul-fn", lambda m, x, y: m.matmul(x, y), N(3, 4), N(4, 5), tol=10),
    c("matmul-method", lambda m, x, y: x.matmul(y), N(2, 3, 4), N(4), tol=10),
    both("mm", lambda m, x, y: m.mm(x, y), N(3, 4), N(4, 5), tol=10),
    c("mv", lambda m, x, y: x.mv(y), N(3, 4), N(4), tol=10),
    c("dot", lambda m, x, y: m.dot(x, y), N(4), N(4), tol=10),
    both("bmm", lambda m, x, y: x.bmm(y), N(2, 3, 4), N(2, 4, 5), tol=10),
    c("linear-1d", lambda m, x, w: nnf(m).linear(x, w), N(4), N(5, 4), tol=10),
    c("linear-1d-bias", lambda m, x, w, b: nnf(m).linear(x, w, b), N(4), N(5, 4), N(5), tol=10),
    c("linear-2d", lambda m, x, w: nnf(m).linear(x, w), N(3, 4), N(5, 4), tol=10),
    both(
        "linear-2d-bias", lambda m, x, w, b: nnf(m).linear(x, w, b), N(3, 4), N(5, 4), N(5), tol=10
    ),
    c("linear-3d", lambda m, x, w: nnf(m).linear(x, w), N(2, 3, 4), N(5, 4), tol=10),
    both(
        "linear-3d-bias",
        lambda m, x, w, b: nnf(m).linear(x, w, b),
        N(2, 3, 4),
        N(5, 4),
        N(5),
        tol=10,
    ),
    # ----- shape ops -----------------------------------------------------------------------
    moves("view", lambda m, x: x.view(4, 3), N(*S)),
    moves("view-infer", lambda m, x: x.view(2, -1, 2), N(*S)),
    moves("view-tuple", lambda m, x: x.view((12,)), N(*S)),
    moves("view-0d", lambda m, x: x.view(1, 1), N()),
    moves("view-to-0d", lambda m, x: x.view(()), N(1)),
    moves("reshape", lambda m, x: x.reshape(-1), N(*S)),
    moves("reshape-fn", lambda m, x: m.reshape(x, (2, 6)), N(*S)),
    moves("reshape-non-contiguous", lambda m, x: x.t().reshape(-1), N(*S)),
    moves("reshape-non-contiguous-split-dim", lambda m, x: x.t().reshape(2, 2, 3), N(*S)),
    moves("reshape-column-slice", lambda m, x: x[:, 1:3].reshape(6), N(*S)),
    moves("reshape-row-slice", lambda m, x: x[1:].reshape(8), N(*S)),
    moves("reshape-expanded", lambda m, x: x.expand(2, 3, 4).reshape(6, 4), N(1, 4)),
    moves(
        "reshape-permuted-back",
        lambda m, x: x.permute(1, 0, 2).transpose(0, 1).reshape(-1),
        N(2, 3, 4),
    ),
    moves("reshape_as-non-contiguous", lambda m, x, y: x.t().reshape_as(y), N(*S), N(12)),
    moves("contiguous", lambda m, x: (x.t().contiguous(), x.contiguous()), N(*S)),
    moves("view_as", lambda m, x, y: x.view_as(y), N(*S), N(2, 6)),
    moves("view-of-select", lambda m, x: x.select(1, 0).view(3, 1, 2), N(3, 4, 2)),
    moves("flatten-non-contiguous", lambda m, x: x.transpose(0, 1).flatten(1), N(2, 3, 4)),
    moves("flatten-after-unsqueeze", lambda m, x: x.t().unsqueeze(0).flatten(0, 1), N(*S)),
    moves("unflatten-non-contiguous", lambda m, x: x.t().unflatten(0, (2, 2)), N(*S)),
    moves("t", lambda m, x: x.t(), N(*S)),
    moves("t-fn-1d", lambda m, x: m.t(x), N(4)),
    moves("T", lambda m, x: x.T, N(*S)),
    moves("T-3d", lambda m, x: x.T, N(2, 3, 4)),
    moves("T-1d", lambda m, x: x.T, N(4)),
    moves("T-0d", lambda m, x: x.T, N()),
    moves("mT", lambda m, x: x.mT, N(2, 3, 4)),
    moves("transpose", lambda m, x: x.transpose(0, 2), N(2, 3, 4)),
    moves("transpose-neg", lambda m, x: m.transpose(x, -1, 0), N(*S)),
    moves("permute", lambda m, x: x.permute(2, 0, 1), N(2, 3, 4)),
    moves("permute-tuple-neg", lambda m, x: m.permute(x, (-1, 0, 1)), N(2, 3, 4)),
    moves("unsqueeze", lambda m, x: x.unsqueeze(1), N(*S)),
    moves("unsqueeze-neg", lambda m, x: m.unsqueeze(x, -1), N(*S)),
    moves("unsqueeze-0d", lambda m, x: x.unsqueeze(0), N()),
    moves("squeeze", lambda m, x: x.squeeze(), N(3, 1, 4, 1)),
    moves("squeeze-dim", lambda m, x: x.squeeze(1), N(3, 1, 4, 1)),
    moves("squeeze-dim-noop", lambda m, x: m.squeeze(x, 0), N(3, 1, 4, 1)),
    moves("squeeze-dims", lambda m, x: x.squeeze((1, -1)), N(3, 1, 4, 1)),
    moves("squeeze-0d", lambda m, x: x.squeeze(), N()),
    moves("flatten", lambda m, x: x.flatten(), N(2, 3, 4)),
    moves("flatten-start", lambda m, x: m.flatten(x, 1), N(2, 3, 4)),
    moves("flatten-range", lambda m, x: x.flatten(0, -2), N(2, 3, 4)),
    moves("flatten-noop", lambda m, x: x.flatten(1, 1) * 1, N(2, 3, 4)),
    moves("flatten-0d", lambda m, x: x.flatten(), N()),
    moves("unflatten", lambda m, x: x.unflatten(1, (2, 2)), N(*S)),
    moves("unflatten-infer", lambda m, x: m.unflatten(x, -1, (2, -1)), N(*S)),
    moves("expand", lambda m, x: x.expand(2, 3, 4), N(3, 1)),
    moves("expand-keep", lambda m, x: x.expand(-1, 4), N(3, 1)),
    moves("expand-0d", lambda m, x: x.expand(3), N()),
    moves("expand_as", lambda m, x, y: x.expand_as(y) * y, N(1, 4), N(*S)),
    moves("repeat", lambda m, x: x.repeat(2, 3), N(*S)),
    moves("repeat-new-dims", lambda m, x: x.repeat(2, 1, 2), N(4)),
    moves("cat", lambda m, x, y: m.cat([x, y]), N(*S), N(2, 4)),
    moves("cat-neg-dim", lambda m, x, y, z: m.cat((x, y, z), -1), N(*S), N(3, 1), N(*S)),
    moves("cat-one", lambda m, x: m.cat([x], 1), N(*S)),
    moves("stack", lambda m, x, y: m.stack([x, y]), N(*S), N(*S)),
    moves("stack-dim", lambda m, x, y, z: m.stack((x, y, z), 1), N(*S), N(*S), N(*S)),
    moves("stack-neg-dim", lambda m, x, y: m.stack([x, y], dim=-1), N(*S), N(*S)),
    moves("stack-0d", lambda m, x, y: m.stack([x, y]), N(), N()),
    moves("split", lambda m, x: x.split(2), N(5, 3)),
    moves("split-dim", lambda m, x: m.split(x, 3, dim=1), N(*S)),
    moves("split-sections", lambda m, x: x.split([1, 3], -1), N(*S)),
    moves("split-empty", lambda m, x: (x.split(0), x.split(2, 1)), N(0, 3)),
    moves("chunk", lambda m, x: x.chunk(2), N(5, 3)),
    moves("chunk-dim", lambda m, x: m.chunk(x, 3, 1), N(*S)),
    moves("unbind", lambda m, x: x.unbind(), N(*S)),
    moves("unbind-dim", lambda m, x: m.unbind(x, -1), N(*S)),
    moves("unbind-size-one", lambda m, x: (x.unbind(1)[0].t(), x.split(4, 1)[0].t()), N(3, 1)),
    moves("narrow", lambda m, x: x.narrow(1, 1, 2), N(*S)),
    moves("narrow-neg-start", lambda m, x: m.narrow(x, 0, -2, 2), N(*S)),
    moves("select", lambda m, x: x.select(1, 2), N(*S)),
    moves("select-neg", lambda m, x: m.select(x, -1, -1), N(2, 3, 4)),
    moves("diagonal", lambda m, x: x.diagonal(), N(*S)),
    moves("diagonal-offset", lambda m, x: m.diagonal(x, 1), N(*S)),
    moves("diagonal-neg-offset-dims", lambda m, x: x.diagonal(-1, 0, 2), N(4, 3, 4)),
    # ----- indexing reads ------------------------------------------------------------------
    moves("index-int", lambda m, x: x[1], N(*S)),
    moves("index-neg-int", lambda m, x: x[-1], N(*S)),
    moves("index-two-ints", lambda m, x: x[1, -2], N(*S)),
    moves("index-slice", lambda m, x: x[1:3], N(*S)),
    moves("index-slice-step", lambda m, x: x[::2], N(5, 3)),
    moves("index-slice-neg", lambda m, x: x[-2:, 1::2], N(*S)),
    moves("index-slice-out-of-range", lambda m, x: x[1:10], N(*S)),
    moves("index-full-slice", lambda m, x: x[:], N(*S)),
    moves("index-full-slices", lambda m, x: x[:, :], N(*S)),
    moves("index-none", lambda m, x: x[None], N(*S)),
    moves("index-none-middle", lambda m, x: x[:, None], N(*S)),
    moves("index-ellipsis", lambda m, x: x[..., 1], N(2, 3, 4)),
    moves("index-ellipsis-only", lambda m, x: x[...], N(*S)),
    moves(
        "index-two-ellipses",
        lambda m, x: (x[..., ...], x[..., 0, ...], x[..., None, ...]),
        N(2, 3, 4),
    ),
    moves("index-ellipsis-none", lambda m, x: x[0, ..., None], N(2, 3, 4)),
    moves("index-int-slice", lambda m, x: x[1, ::2], N(*S)),
    moves("index-0d-none", lambda m, x: x[None], N()),
    moves("index-0d-ellipsis", lambda m, x: x[...], N()),
    moves("index-tensor", lambda m, x: x[m.tensor([0, 2])], N(*S)),
    moves("index-list", lambda m, x: x[[0, 2, -1]], N(*S)),
    moves("index-list-repeated", lambda m, x: x[[0, 0, 1]], N(*S)),
    moves("index-tensor-2d", lambda m, x: x[m.tensor([[0, 1], [2, 0]])], N(*S)),
    moves("index-tensor-second-dim", lambda m, x: x[:, m.tensor([1, 3])], N(*S)),
    moves("index-two-lists", lambda m, x: x[[0, 1], [2, 3]], N(*S)),
    moves("index-mixed", lambda m, x: x[1:, m.tensor([[0, 1], [2, 3]])], N(*S)),
    moves("index-int-list", lambda m, x: x[0, [1, 2]], N(2, 3, 4)),
    moves("index-list-ellipsis", lambda m, x: x[..., [0, 3]], N(2, 3, 4)),
    moves("index-split-advanced", lambda m, x: x[[0, 1], :, [1, 2]], N(2, 3, 4)),
    moves("index-mask", lambda m, x: x[x > 0], N(*S)),
    moves(
        "index-mask-rows", lambda m, x, mask: x[mask], N(*S), V([True, False, True], dtype="bool")
    ),
    moves("index-mask-2d-on-3d", lambda m, x: x[x.sum(-1) > 0], N(2, 3, 4)),
    moves("index-mask-second-dim", lambda m, x: x[:, m.tensor([True, False, True, True])], N(*S)),
    moves("index-int-tensor-0d", lambda m, x: x[m.tensor(1)], N(*S)),
    moves(
        "index-int-tensor-0d-tuple", lambda m, x: (x[m.tensor(1), 1:], x[1:, m.tensor(-1)]), N(*S)
    ),
    moves("index-bool-0d", lambda m, x: x[m.tensor(True)], N(*S)),
    moves("index-of-view", lambda m, x: x.t()[1:, [0, 2]], N(*S)),
    both(
        "shape-ops-chain",
        lambda m, x: m.cat(
            [
                x.t()[1:].reshape(-1),
                x.unsqueeze(0).expand(2, 3, 4).flatten()[::5],
                x[[0, 2], 1:].view(6),
                *x.split([1, 3], 1)[1].unbind(1),
            ]
        ),
        N(*S),
    ),
    # ----- integer, bool and mixed-dtype inputs: values and result dtypes ------------------
    ints("int+float", lambda m, i: i + 2.5, I(*S)),
    ints("int+int", lambda m, i: i + 2, I(*S)),
    ints("int32+int", lambda m, i: i + 2, I(*S, dtype="int32")),
    ints("int32+int64", lambda m, i, j: i + j, I(*S, dtype="int32"), I(4)),
    ints("int32+int64-0d", lambda m, i, j: i * j, I(*S, dtype="int32"), I()),
    ints("uint8+int8", lambda m, i, j: i + j, Nat(*S, dtype="uint8"), I(4, dtype="int8")),
    ints("int*float", lambda m, i: i * 2.5, I(*S)),
    ints("int/int", lambda m, i: i / 2, I(*S)),
    ints("int/int-tensor", lambda m, i, j: i / j, I(*S), Nat(*S)),
    ints("int//int", lambda m, i: (i // 2, i // -2, 7 // m.abs(i).clamp(min=1)), I(*S)),
    ints("int%int", lambda m, i, j: (i % 3, i % -3, i % j), I(*S), Nat(4)),
    ints("int-div-floor", lambda m, i, j: m.div(i, j, rounding_mode="floor"), I(*S), Nat(4)),
    ints("int-div-trunc", lambda m, i, j: m.div(i, -j, rounding_mode="trunc"), I(*S), Nat(4)),
    ints("int-neg-abs", lambda m, i: (-i, abs(i), i.sign(), m.square(i)), I(*S)),
    ints("int-pow", lambda m, i: (i**2, m.pow(i, 0), i**2.5), Nat(*S)),
    ints(
        "bool-uint8-pow",
        lambda m, b, u: (b**2, b**2.5, u**2, u**2.5),
        B(*S),
        Nat(*S, dtype="uint8"),
    ),
    ints("bool-floordiv-mod-int", lambda m, b: (b // 2, b % 2.5, 2 % b.int().clamp(min=1)), B(*S)),
    ints("int-rpow", lambda m, i: (2**i, 2.0**i), Nat(*S)),
    ints("int-pow-tensor", lambda m, i, j: i**j, I(*S), Nat(4)),
    ints(
        "int-float-math", lambda m, i: (m.exp(i), m.sigmoid(i), m.reciprocal(i), m.tanh(i)), I(*S)
    ),
    ints("int-sqrt-log", lambda m, i: (m.sqrt(i), m.log(i), i.rsqrt()), Nat(*S)),
    ints("int32-exp", lambda m, i: m.exp(i), I(*S, dtype="int32")),
    ints("int-rounding", lambda m, i: (m.floor(i), m.ceil(i), m.round(i), m.trunc(i)), I(*S)),
    ints("int-relu", lambda m, i: m.relu(i), I(*S)),
    ints("int-clamp", lambda m, i: (m.clamp(i, -1, 3), i.clamp(min=0), i.clamp(max=2)), I(*S)),
    ints("int-clamp-float", lambda m, i: m.clamp(i, 0.5, 2.5), I(*S)),
    ints("int-maximum", lambda m, i, j: (m.maximum(i, j), m.minimum(i, j)), I(*S), I(4)),
    ints("int-compare", lambda m, i: (i > 0, i == 2, i <= 1.5, i != i), I(*S)),
    ints(
        "int-sum",
        lambda m, i: (i.sum(), i.sum(0), m.sum(i, -1, keepdim=True)),
        I(*S, dtype="int32"),
    ),
    ints("int-prod", lambda m, i: (i.prod(), i.prod(1)), I(*S, dtype="int32")),
    ints("int-max", lambda m, i: (i.max(), *i.max(0), i.amax(1), i.argmax(), i.argmin(0)), I(*S)),
    ints("int-logsumexp", lambda m, i: (i.logsumexp(0), m.logsumexp(i, (0, 1))), I(*S)),
    ints("int-sum-dtype", lambda m, i: i.sum(dtype=m.float64), I(*S)),
    ints("int-mean-dtype", lambda m, i: i.mean(dtype=m.float32), I(*S)),
    ints("int-matmul", lambda m, i, j: i @ j, I(3, 4), I(4, 2)),
    ints("int-shape-ops", lambda m, i: (i.t(), i.view(-1), i[1:, [0, 2]], m.cat([i, i])), I(*S)),
    ints("where-scalar-branches", lambda m, b: (m.where(b, 1.0, 0.0), m.where(b, 1, 0)), B(*S)),
    ints("int-where", lambda m, b, i: (m.where(b, i, 2.5), m.where(b, i, 2)), B(*S), I(*S)),
    ints(
        "int-bitwise", lambda m, i, j: (i & j, i | j, i ^ j, ~i, i & 3, 3 | i, 6 ^ i), I(*S), I(4)
    ),
    ints("bool+bool", lambda m, a, b: a + b, B(*S), B(*S)),
    ints("bool*bool", lambda m, a, b: a * b, B(*S), B(4)),
    ints("bool+int", lambda m, a: (a + 1, a * 2.5, a + True), B(*S)),
    ints("bool-logic", lambda m, a, b: (a & b, a | b, a ^ b, ~a, a & True), B(*S), B(4)),
    ints("bool-sum", lambda m, a: (a.sum(), a.sum(1)), B(*S)),
    ints("bool-compare", lambda m, a, b: (a == b, a < b), B(*S), B(4)),
    ints("float32+int64", lambda m, x, i: x + i, Arg(S, dtype="float32"), I(4)),
    ints(
        "float32+float64-0d",
        lambda m, x, y: x * y,
        Arg(S, dtype="float32"),
        Arg((), dtype="float64"),
    ),
    ints("int64+float32-0d", lambda m, i, y: i + y, I(*S), Arg((), dtype="float32")),
    ints(
        "float32+float64",
        lambda m, x, y: x + y,
        Arg(S, dtype="float32"),
        Arg((4,), dtype="float64"),
    ),
    ints(
        "float32-where-float64",
        lambda m, b, x, y: m.where(b, x, y),
        B(*S),
        Arg(S, dtype="float32"),
        Arg((4,), dtype="float64"),
    ),
    ints("float16", lambda m, x: (x + 1, x * x, x.sum()), Arg(S, dtype="float16")),
]


def _ids_unique() -> bool:
    names = [case.name for case in CASES]
    return len(names) == len(set(names))


assert _ids_unique(), "duplicate case names in CASES"

PARAMS = [
    pytest.param(
        case,
        dtype,
        id=f"{case.name}-{dtype or 'fixed'}",
        marks=[pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [],
    )
    for case in CASES
    for dtype in case.dtypes
]


# ----- the comparison helper ---------------------------------------------------------------
def make_inputs(case: Case, dtype: str | None, seed_text: str = ""):
    """The same inputs as numpy arrays, torch tensors and tapegrad tensors."""
    rng = np.random.default_rng(zlib.crc32(f"{case.name}-{dtype}{seed_text}".encode()))
    arrays = [arg.make(rng, dtype) for arg in case.args]
    grads = [arg.differentiable for arg in case.args]
    t_in = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads, strict=True)]
    g_in = [tapegrad.tensor(a, requires_grad=g) for a, g in zip(arrays, grads, strict=True)]
    return rng, arrays, t_in, g_in


def flat(out) -> list:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return [out]


def node_name(t) -> str | None:
    return None if t.grad_fn is None else type(t.grad_fn).__name__


def next_names(t) -> tuple | None:
    """The classes of the nodes ``t.grad_fn`` points at (None for operands without an edge)."""
    if t.grad_fn is None:
        return None
    return tuple(None if n is None else type(n).__name__ for n, _ in t.grad_fn.next_functions)


_PRECISION = ("float16", "bfloat16", "float32", "float64")  # least precise first


def _dtype_name(t) -> str:
    return str(t.dtype).removeprefix("torch.")


def assert_close(actual, expected, dtype_name: str, precision: str, tol: float, what: str):
    """Exact for integers and bools; else within ``precision``'s tolerance times ``tol``."""
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if dtype_name not in _PRECISION:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    rtol, atol = TOL.get(precision, (2e-3, 1e-3))
    np.testing.assert_allclose(
        actual.astype(np.float64),
        expected.astype(np.float64),
        rtol=rtol * tol,
        atol=atol * tol,
        equal_nan=True,
        err_msg=what,
    )


def compare_tensor(g, t, precision: str, tol: float, what: str) -> None:
    assert isinstance(g, tapegrad.Tensor), f"{what}: got {type(g).__name__}, not a Tensor"
    assert repr(g.dtype) == str(t.dtype), f"{what}: dtype {g.dtype} != {t.dtype}"
    assert tuple(g.shape) == tuple(t.shape), f"{what}: shape {tuple(g.shape)} != {tuple(t.shape)}"
    assert g.requires_grad == t.requires_grad, f"{what}: requires_grad"
    assert g.is_leaf == t.is_leaf, f"{what}: is_leaf"
    assert node_name(g) == node_name(t), f"{what}: grad_fn {node_name(g)} != {node_name(t)}"
    values = t.detach().numpy()
    assert_close(g.detach().numpy(), values, _dtype_name(t), precision, tol, f"{what}: values")


_TRIGGERED = re.compile(r" \(Triggered internally at .*\)$", re.DOTALL)


def run_recording_warnings(fn: Callable, *args) -> tuple:
    """``fn(*args)`` and the warnings it raised, as (category, message without torch's
    "Triggered internally at <C++ file>" suffix)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args)
    return out, [(w.category, _TRIGGERED.sub("", str(w.message))) for w in caught]


def check_case(case: Case, dtype: str | None) -> None:
    """Run ``case.fn`` on torch and tapegrad; compare outputs and warnings, then the gradients
    after ``backward`` with the same random upstream gradients."""
    rng, _, t_in, g_in = make_inputs(case, dtype)
    # Warnings PyTorch gives once per process are compared every time: torch's "warn always"
    # mode, and tapegrad's record of warnings already given cleared.
    warn_always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        t_out, t_warn = run_recording_warnings(case.fn, torch, *t_in)
    finally:
        torch.set_warn_always(warn_always)
    shape_ops.WARNED_ONCE.clear()
    g_out, g_warn = run_recording_warnings(case.fn, tapegrad, *g_in)
    assert g_warn == t_warn, "warnings differ"
    t_flat, g_flat = flat(t_out), flat(g_out)
    assert len(g_flat) == len(t_flat), "number of outputs"
    floats = {_dtype_name(t) for t in [*t_in, *t_flat]}
    precision = next((p for p in _PRECISION if p in floats), "float64")
    for k, (g, t) in enumerate(zip(g_flat, t_flat, strict=True)):
        compare_tensor(g, t, precision, case.tol, f"output {k}")

    roots = [k for k, t in enumerate(t_flat) if t.requires_grad]
    if not roots:
        return
    ups = [
        np.asarray(rng.standard_normal(tuple(t_flat[k].shape)), t_flat[k].detach().numpy().dtype)
        for k in roots
    ]
    t_roots = [t_flat[k] for k in roots]
    g_roots = [g_flat[k] for k in roots]
    try:
        torch.autograd.backward(t_roots, [torch.tensor(u) for u in ups])
    except RuntimeError as exc:  # e.g. a NotImplemented derivative: the same error is parity
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            tapegrad.autograd.backward(g_roots, [tapegrad.tensor(u) for u in ups])
        return
    tapegrad.autograd.backward(g_roots, [tapegrad.tensor(u) for u in ups])
    for k, (g, t) in enumerate(zip(g_in, t_in, strict=True)):
        if t.grad is None:
            assert g.grad is None, f"grad of input {k} should be None"
            continue
        assert g.grad is not None, f"grad of input {k} is None"
        compare_tensor(g.grad, t.grad, precision, case.tol, f"grad of input {k}")


@pytest.mark.parametrize(("case", "dtype"), PARAMS)
def test_parity(case: Case, dtype: str | None) -> None:
    check_case(case, dtype)


# The edges of one node: ``next_functions`` of ops on a leaf. PyTorch gives a wrapped Python
# number an edge (None) in Tensor overloads (x + 2) but none in Scalar overloads (2 - x, x % 2),
# and ``where``'s condition none. (Composite ops such as linear or matmul tape several nodes in
# PyTorch and one in tapegrad: only their last node's name is compared, by test_parity.)
NEXT_FUNCTIONS = {
    "x+2": (lambda m, x: x + 2, None),
    "x*2.5": (lambda m, x: x * 2.5, None),
    "x/2": (lambda m, x: x / 2, None),
    "x-y": (lambda m, x: x - x.detach(), None),
    "x**2": (lambda m, x: x**2, None),
    "clamp": (lambda m, x: x.clamp(0, 1), None),
    "maximum": (lambda m, x: m.maximum(x, x.detach()), None),
    "div-floor-2": (lambda m, x: x.div(2, rounding_mode="floor"), None),
    "sum-of-exp": (lambda m, x: x.exp().sum(), None),
    "2-x": (lambda m, x: 2 - x, None),
    "x%2": (lambda m, x: x % 2, None),
    "2**x": (lambda m, x: 2**x, None),
    "x//2": (lambda m, x: x // 2, None),
    "2%x": (lambda m, x: 2 % x, None),
    "where": (lambda m, x: m.where(x > 0, x, 0.0), None),
    "index-tensor": (lambda m, x: x[m.tensor([0, 1])], None),
}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=[pytest.mark.xfail(strict=True, reason=bug)] if bug else [])
        for n, (_, bug) in NEXT_FUNCTIONS.items()
    ],
)
def test_next_functions_match_torch(name: str) -> None:
    fn = NEXT_FUNCTIONS[name][0]
    t = fn(torch, torch.ones(2, requires_grad=True))
    g = fn(tapegrad, tapegrad.ones(2, requires_grad=True))
    assert next_names(g) == next_names(t)


def test_max_with_dim_returns_torchs_structseq() -> None:
    """``max(dim)`` is a named (values, indices) pair that prints as torch.return_types.max."""
    data = [[1.0, 3.0], [4.0, 2.0]]
    for name in ("max", "min"):
        t = getattr(torch.tensor(data), name)(1)
        g = getattr(tapegrad.tensor(data), name)(1)
        assert type(g).__name__ == type(t).__name__ == name
        assert repr(g) == repr(t)
        values, indices = g
        assert values is g.values
        assert indices is g.indices


# ----- properties --------------------------------------------------------------------------
try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is optional
    st = None

_BCAST_FNS = {
    "add": lambda m, x, y: x + y,
    "mul": lambda m, x, y: x * y,
    "sub": lambda m, x, y: m.sub(x, y, alpha=2),
}

if st is not None:

    @st.composite
    def _broadcastable_shapes(draw):
        rank = draw(st.integers(0, 3))
        full = [draw(st.integers(1, 3)) for _ in range(rank)]
        shapes = []
        for _ in range(2):
            r = draw(st.integers(0, rank))
            shapes.append(tuple(1 if draw(st.booleans()) else s for s in full[rank - r :]))
        return shapes

    @settings(max_examples=15, deadline=None, derandomize=True)
    @given(shapes=_broadcastable_shapes(), op=st.sampled_from(sorted(_BCAST_FNS)))
    def test_broadcasting_property(shapes, op) -> None:
        case = c(f"bcast-{op}-{shapes}", _BCAST_FNS[op], N(*shapes[0]), N(*shapes[1]))
        check_case(case, "float64")
