"""Elementwise ops: unary math, activations, arithmetic, comparisons, clamp and where."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from tapegrad._ops._registry import defop, dispatch
from tapegrad._tensor import Tensor

# ----- unary ops: (name, jax function, backward node, dtype rule, linear) ------------------------
_UNARY = [
    ("neg", jnp.negative, "NegBackward0", "same", True),
    ("abs", jnp.abs, "AbsBackward0", "same", False),
    ("exp", jnp.exp, "ExpBackward0", "float", False),
    ("log", jnp.log, "LogBackward0", "float", False),
    ("log2", jnp.log2, "Log2Backward0", "float", False),
    ("log10", jnp.log10, "Log10Backward0", "float", False),
    ("log1p", jnp.log1p, "Log1PBackward0", "float", False),
    ("expm1", jnp.expm1, "Expm1Backward0", "float", False),
    ("sqrt", jnp.sqrt, "SqrtBackward0", "float", False),
    ("rsqrt", lax.rsqrt, "RsqrtBackward0", "float", False),
    ("sin", jnp.sin, "SinBackward0", "float", False),
    ("cos", jnp.cos, "CosBackward0", "float", False),
    ("tan", jnp.tan, "TanBackward0", "float", False),
    ("tanh", jnp.tanh, "TanhBackward0", "float", False),
    ("sigmoid", jax.nn.sigmoid, "SigmoidBackward0", "float", False),
    ("relu", lambda x: jnp.where(x > 0, x, jnp.zeros((), x.dtype)), "ReluBackward0", "same", False),
    ("silu", jax.nn.silu, "SiluBackward0", "float", False),
    ("sign", jnp.sign, "SignBackward0", "same", True),
    ("reciprocal", jnp.reciprocal, "ReciprocalBackward0", "float", False),
    ("floor", jnp.floor, "FloorBackward0", "same", True),
    ("ceil", jnp.ceil, "CeilBackward0", "same", True),
    ("trunc", jnp.trunc, "TruncBackward0", "same", True),
    ("square", jnp.square, "PowBackward0", "same", False),
]


def _int_identity(fn):
    # floor/ceil/round/trunc of an integer tensor is the tensor itself, as in PyTorch.
    def f(x):
        return x if jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_ else fn(x)

    return f


# PyTorch's nodes for these save their result rather than their input.
_SAVES_OUTPUT = {"exp", "expm1", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "reciprocal"}

UNARY = {}
for _name, _fn, _node, _rule, _linear in _UNARY:
    if _name in ("floor", "ceil", "trunc"):
        _fn = _int_identity(_fn)
    _saves = "output" if _name in _SAVES_OUTPUT else "inputs"
    UNARY[_name] = defop(_name, node=_node, dtypes=_rule, linear=_linear, saves=_saves)(_fn)


def _unary_fn(name: str):
    op = UNARY[name]

    def fn(input: Tensor) -> Tensor:
        return dispatch(op, (input,))

    fn.__name__ = name
    fn.__doc__ = f"Returns a new tensor with the {name} of the elements of ``input``."
    return fn


neg = _unary_fn("neg")
negative = neg
abs = _unary_fn("abs")  # noqa: A001 - PyTorch's name
exp = _unary_fn("exp")
log = _unary_fn("log")
log2 = _unary_fn("log2")
log10 = _unary_fn("log10")
log1p = _unary_fn("log1p")
expm1 = _unary_fn("expm1")
sqrt = _unary_fn("sqrt")
rsqrt = _unary_fn("rsqrt")
sin = _unary_fn("sin")
cos = _unary_fn("cos")
tan = _unary_fn("tan")
tanh = _unary_fn("tanh")
sigmoid = _unary_fn("sigmoid")
relu = _unary_fn("relu")
silu = _unary_fn("silu")
sign = _unary_fn("sign")
reciprocal = _unary_fn("reciprocal")
floor = _unary_fn("floor")
ceil = _unary_fn("ceil")
trunc = _unary_fn("trunc")
square = _unary_fn("square")


@defop("round", node="RoundBackward0", dtypes="same", linear=True)
def _round(x, decimals):
    if jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_:
        return x
    if decimals == 0:
        return jnp.round(x)
    scale = 10.0**decimals
    return jnp.round(x * scale) / scale


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """Rounds elements of ``input`` to the nearest integer (half to even), or to ``decimals``."""
    return dispatch(_round, (input,), (("decimals", int(decimals)),))


@defop("gelu", node="GeluBackward0", dtypes="float")
def _gelu(x, approximate):
    return jax.nn.gelu(x, approximate=approximate)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian Error Linear Unit; ``approximate='tanh'`` uses the tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh.")
    return dispatch(_gelu, (input,), (("approximate", approximate == "tanh"),))


@defop("softplus", node="SoftplusBackward0", dtypes="float")
def _softplus(x, beta, threshold):
    bx = x * beta
    return jnp.where(bx > threshold, x, jnp.logaddexp(bx, 0.0) / beta)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``1/beta * log(1 + exp(beta * x))``, linear above ``threshold`` for stability."""
    return dispatch(_softplus, (input,), (("beta", float(beta)), ("threshold", float(threshold))))


@defop("leaky_relu", node="LeakyReluBackward0", dtypes="same")
def _leaky_relu(x, negative_slope):
    return jnp.where(x > 0, x, x * negative_slope)


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``max(0, x) + negative_slope * min(0, x)``."""
    return dispatch(_leaky_relu, (input,), (("negative_slope", float(negative_slope)),))


# ----- binary arithmetic ------------------------------------------------------------------
def cross_saves(mask: tuple) -> list:
    """x*y-like ops: the gradient of each operand needs the other one."""
    return ([1] if mask[0] else []) + ([0] if mask[1] else [])


def _div_saves(mask: tuple) -> list:
    return ([1] if mask[0] else []) + ([0, 1] if mask[1] else [])


@defop("add", node="AddBackward0", linear=True)
def _add(x, y, alpha):
    return x + y if alpha == 1 else x + y * alpha


@defop("sub", node="SubBackward0", linear=True)
def _sub(x, y, alpha):
    return x - y if alpha == 1 else x - y * alpha


@defop("rsub", node="RsubBackward1", linear=True)
def _rsub(x, y, alpha):
    # y - alpha * x with x the tensor: PyTorch's ``2 - t``.
    return y - x if alpha == 1 else y - x * alpha


@defop("mul", node="MulBackward0", saves=cross_saves)
def _mul(x, y):
    return x * y


@defop("div", node="DivBackward0", dtypes="float", saves=_div_saves)
def _div(x, y):
    return x / y


@defop("div_floor", node="DivBackward1")
def _div_floor(x, y):
    if jnp.issubdtype(x.dtype, jnp.integer):
        return jnp.floor_divide(x, y)
    return jnp.floor(x / y)


@defop("div_trunc", node="DivBackward1")
def _div_trunc(x, y):
    if jnp.issubdtype(x.dtype, jnp.integer):
        q = jnp.abs(x) // jnp.abs(y)
        return jnp.where((x < 0) != (y < 0), -q, q)
    return jnp.trunc(x / y)


@defop("remainder", node="RemainderBackward0")
def _remainder(x, y):
    return jnp.remainder(x, y)


@defop("maximum", node="MaximumBackward0")
def _maximum(x, y):
    return jnp.maximum(x, y)


@defop("minimum", node="MinimumBackward0")
def _minimum(x, y):
    return jnp.minimum(x, y)


@defop("pow_scalar", node="PowBackward0", dtypes="promote")
def _pow_scalar(x, exponent):
    if isinstance(exponent, int) and not isinstance(exponent, bool):
        if exponent >= 0 or jnp.issubdtype(x.dtype, jnp.floating):
            return lax.integer_pow(x, exponent)
    return jnp.power(x, jnp.asarray(exponent, x.dtype))


@defop("pow", node="PowBackward1")
def _pow(x, y):
    return jnp.power(x, y)


@defop("rpow", node="PowBackward2", cast=(0, 1))
def _rpow(x, base):
    # base ** x with x the tensor.
    return jnp.power(base, x)


def _check_alpha(alpha, operands) -> None:
    if isinstance(alpha, float) and not any(
        isinstance(o, Tensor) and o.dtype.is_floating_point or isinstance(o, float)
        for o in operands
    ):
        raise RuntimeError(
            "For integral input tensors, argument alpha must not be a floating point number."
        )


def _scalar_or_tensor(x, name: str):
    if isinstance(x, (Tensor, int, float, bool)):
        return x
    raise TypeError(
        f"{name}(): argument 'other' must be Tensor or Number, not {type(x).__name__}"
    )


def add(input, other, *, alpha=1) -> Tensor:
    """Adds ``other``, scaled by ``alpha``, to ``input``."""
    other = _scalar_or_tensor(other, "add")
    if alpha != 1:
        _check_alpha(alpha, (input, other))
    return dispatch(_add, (input, other), (("alpha", alpha),))


def sub(input, other, *, alpha=1) -> Tensor:
    """Subtracts ``other``, scaled by ``alpha``, from ``input``."""
    other = _scalar_or_tensor(other, "sub")
    if alpha != 1:
        _check_alpha(alpha, (input, other))
    if input.dtype.name == "bool" if isinstance(input, Tensor) else False:
        if isinstance(other, bool) or isinstance(other, Tensor) and other.dtype.name == "bool":
            raise RuntimeError(
                "Subtraction, the `-` operator, with two bool tensors is not supported. Use the "
                "`^` or `logical_xor()` operator instead."
            )
    return dispatch(_sub, (input, other), (("alpha", alpha),))


subtract = sub


def rsub(input: Tensor, other, *, alpha=1) -> Tensor:
    """``other - alpha * input``."""
    return dispatch(_rsub, (input, other), (("alpha", alpha),))


def mul(input, other) -> Tensor:
    """Multiplies ``input`` by ``other``."""
    return dispatch(_mul, (input, _scalar_or_tensor(other, "mul")))


multiply = mul


def div(input, other, *, rounding_mode: str | None = None) -> Tensor:
    """Divides ``input`` by ``other``: true division, or ``'floor'``/``'trunc'`` rounding."""
    other = _scalar_or_tensor(other, "div")
    if rounding_mode is None:
        return dispatch(_div, (input, other))
    if rounding_mode == "floor":
        return dispatch(_div_floor, (input, other))
    if rounding_mode == "trunc":
        return dispatch(_div_trunc, (input, other))
    raise RuntimeError(
        "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
        f"'{rounding_mode}'"
    )


divide = div
true_divide = div


def floor_divide(input, other) -> Tensor:
    """Divides and rounds toward negative infinity."""
    return dispatch(_div_floor, (input, _scalar_or_tensor(other, "floor_divide")))


def remainder(input, other) -> Tensor:
    """Python's modulus: the remainder has the sign of the divisor."""
    return dispatch(_remainder, (input, _scalar_or_tensor(other, "remainder")))


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum of ``input`` and ``other``."""
    _require_tensor(other, "maximum", "other")
    return dispatch(_maximum, (input, other))


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum of ``input`` and ``other``."""
    _require_tensor(other, "minimum", "other")
    return dispatch(_minimum, (input, other))


def _require_tensor(x, fn: str, arg: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{arg}' (position 2) must be Tensor, not {type(x).__name__}")


def pow(input, exponent) -> Tensor:  # noqa: A001 - PyTorch's name
    """Takes the power of each element in ``input`` with ``exponent``."""
    if not isinstance(input, Tensor):
        return dispatch(_rpow, (exponent, input))
    if isinstance(exponent, Tensor):
        return dispatch(_pow, (input, exponent))
    if isinstance(exponent, (int, float)):
        if isinstance(exponent, bool):
            exponent = int(exponent)
        if isinstance(exponent, int) and exponent < 0 and not input.dtype.is_floating_point:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        return dispatch(_pow_scalar, (input,), (("exponent", exponent),))
    raise TypeError(f"pow(): exponent must be a Tensor or a number, not {type(exponent).__name__}")


# ----- comparisons and logical ops (never differentiated) ---------------------------------
def _cmp(name: str, fn):
    op = defop(name, node=None)(fn)

    def compare(input, other) -> Tensor:
        return dispatch(op, (input, _scalar_or_tensor(other, name)))

    compare.__name__ = name
    compare.__doc__ = f"Computes ``input {name} other`` elementwise, returning a bool tensor."
    return compare


eq = _cmp("eq", jnp.equal)
ne = _cmp("ne", jnp.not_equal)
lt = _cmp("lt", jnp.less)
le = _cmp("le", jnp.less_equal)
gt = _cmp("gt", jnp.greater)
ge = _cmp("ge", jnp.greater_equal)
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def _bitwise(name: str, fn):
    op = defop(name, node=None)(fn)

    def bitwise(input, other) -> Tensor:
        for o in (input, other):
            d = o.dtype if isinstance(o, Tensor) else None
            if (d is not None and d.is_floating_point) or isinstance(o, float):
                raise RuntimeError(
                    f'"{name}_cpu" not implemented for \'{"Float" if d is None else _legacy(d)}\''
                )
        return dispatch(op, (input, other))

    bitwise.__name__ = name
    return bitwise


def _legacy(d) -> str:
    return {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16"}[
        d.name
    ]


bitwise_and = _bitwise("bitwise_and", jnp.bitwise_and)
bitwise_or = _bitwise("bitwise_or", jnp.bitwise_or)
bitwise_xor = _bitwise("bitwise_xor", jnp.bitwise_xor)


@defop("bitwise_not", node=None, dtypes="keep")
def _bitwise_not(x):
    return jnp.logical_not(x) if x.dtype == jnp.bool_ else jnp.invert(x)


def bitwise_not(input: Tensor) -> Tensor:
    """Bitwise NOT (logical NOT for bool tensors)."""
    if input.dtype.is_floating_point:
        raise TypeError(
            "~ (operator.invert) is only implemented on integer and Boolean-type tensors"
        )
    return dispatch(_bitwise_not, (input,))


@defop("logical_not", node=None, dtypes="keep")
def _logical_not(x):
    return jnp.logical_not(x)


def logical_not(input: Tensor) -> Tensor:
    """Elementwise logical NOT."""
    return dispatch(_logical_not, (input,))


@defop("isnan", node=None, dtypes="keep")
def _isnan(x):
    return jnp.isnan(x)


def isnan(input: Tensor) -> Tensor:
    """Returns a bool tensor that is True where ``input`` is NaN."""
    return dispatch(_isnan, (input,))


@defop("isfinite", node=None, dtypes="keep")
def _isfinite(x):
    return jnp.isfinite(x)


def isfinite(input: Tensor) -> Tensor:
    """Returns a bool tensor that is True where ``input`` is finite."""
    return dispatch(_isfinite, (input,))


# ----- clamp and where --------------------------------------------------------------------
@defop("clamp", node="ClampBackward1", dtypes="same")
def _clamp(x, min, max):  # noqa: A002
    # PyTorch passes the gradient where min <= x <= max (boundaries included) and keeps NaN.
    out = x
    if min is not None:
        out = jnp.where(x < min, jnp.asarray(min, x.dtype), out)
    if max is not None:
        out = jnp.where(x > max, jnp.asarray(max, x.dtype), out)
    if min is not None and max is not None:
        out = jnp.where(min > max, jnp.asarray(max, x.dtype), out)
    return out


@defop("clamp_tensor", node="ClampBackward0")
def _clamp_tensor(x, lo, hi):
    out = jnp.where(x < lo, lo, x)
    out = jnp.where(x > hi, hi, out)
    return jnp.where(lo > hi, hi, out)


def clamp(input: Tensor, min=None, max=None) -> Tensor:  # noqa: A002
    """Clamps all elements of ``input`` into ``[min, max]``."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        from tapegrad._creation import full_like

        lo = min if isinstance(min, Tensor) else full_like(input, float("-inf") if min is None else min)
        hi = max if isinstance(max, Tensor) else full_like(input, float("inf") if max is None else max)
        return dispatch(_clamp_tensor, (input, lo, hi))
    dtype = input.dtype
    if not dtype.is_floating_point and (isinstance(min, float) or isinstance(max, float)):
        from tapegrad._dtype import get_default_dtype

        input = input.to(get_default_dtype())
    return dispatch(_clamp, (input,), (("min", min), ("max", max)))


clip = clamp


@defop("where", node="WhereBackward0", cast=(1, 2))
def _where(cond, x, y):
    return jnp.where(cond, x, y)


def where(condition: Tensor, input=None, other=None):
    """Selects ``input`` where ``condition`` is True and ``other`` elsewhere."""
    if input is None and other is None:
        from tapegrad._ops.indexing import nonzero

        return nonzero(condition, as_tuple=True)
    if condition.dtype.name not in ("bool", "uint8"):
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor with dtype "
            f"{_legacy(condition.dtype) if condition.dtype.is_floating_point else condition.dtype}"
        )
    return dispatch(_where, (condition, input, other))
