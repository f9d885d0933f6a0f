"""Elementwise ops: unary math, activations, arithmetic, comparisons, clamp and where."""

from __future__ import annotations

import builtins

import jax
import jax.numpy as jnp
from jax import lax

from tapegrad._dtype import legacy_name
from tapegrad._ops._registry import defer, defop, dispatch, dispatch_fused
from tapegrad._storage import DeferredStorage
from tapegrad._tensor import Tensor


@jax.custom_jvp
def _abs(x):
    return jnp.abs(x)


@_abs.defjvp
def _abs_jvp(primals, tangents):
    # PyTorch's AbsBackward0 is ``grad * sgn(x)``: zero at x == 0 (jax passes the gradient).
    (x,), (dx,) = primals, tangents
    return jnp.abs(x), jnp.sign(x) * dx


def _relu(x):
    # x <= 0 rather than x > 0: NaN stays NaN, as in PyTorch's relu.
    return jnp.where(x <= 0, jnp.zeros((), x.dtype), x)


def _sign(x):
    # PyTorch's sign is (0 < x) - (x < 0): 0, not NaN, for NaN.
    if jnp.issubdtype(x.dtype, jnp.floating):
        return jnp.where(jnp.isnan(x), jnp.zeros((), x.dtype), jnp.sign(x))
    return jnp.sign(x)


# ----- unary ops: (name, jax function, backward node, dtype rule, linear) ------------------------
_UNARY = [
    ("neg", jnp.negative, "NegBackward0", "same", True),
    ("abs", _abs, "AbsBackward0", "same", False),
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
    ("relu", _relu, "ReluBackward0", "same", False),
    ("silu", jax.nn.silu, "SiluBackward0", "float", False),
    ("sign", _sign, "SignBackward0", "same", True),
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


UNARY_OPS = {}
for _name, _fn, _node, _rule, _linear in _UNARY:
    if _name in ("floor", "ceil", "trunc"):
        _fn = _int_identity(_fn)
    _saves = "output" if _name in _SAVES_OUTPUT else "inputs"
    UNARY_OPS[_name] = defop(_name, node=_node, dtypes=_rule, linear=_linear, saves=_saves)(_fn)


NEG_BOOL = (
    "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert "
    "a mask, use the `~` or `logical_not()` operator instead."
)
SUB_BOOL = (
    "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
    "`logical_xor()` operator instead."
)
SUB_ONE_BOOL = (
    "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to "
    "invert a mask, use the `~` or `logical_not()` operator instead."
)


def _unary_fn(name: str):
    op = UNARY_OPS[name]

    def fn(input: Tensor) -> Tensor:
        if name == "neg" and input.dtype.name == "bool":
            raise RuntimeError(NEG_BOOL)
        return dispatch(op, (input,))

    fn.__name__ = name
    fn.__doc__ = f"Returns a new tensor with the {name} of the elements of ``input``."
    return fn


neg = _unary_fn("neg")
negative = neg
abs = _unary_fn("abs")
absolute = abs
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


def _is_integral(x) -> bool:
    return jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_


@defop("round", node="RoundBackward0", dtypes="same", linear=True)
def _round_op(x):
    return x if _is_integral(x) else jnp.round(x)


@defop("round_decimals", node="RoundBackward1", dtypes="same", linear=True, values=("scale",))
def _round_decimals_op(x, negative, scale):
    # PyTorch's decimals rounding: scale up, round half to even, scale back, with the scale
    # ``static_cast<scalar_t>(std::pow(10, abs(decimals)))`` (a runtime value; its direction is
    # static).
    if _is_integral(x):
        return x
    scale = jnp.asarray(scale, x.dtype)
    if negative:
        return jnp.round(x / scale) * scale
    return jnp.round(x * scale) / scale


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Rounds elements of ``input`` to the nearest integer (half to even), or to ``decimals``."""
    if decimals == 0:
        return dispatch(_round_op, (input,))
    decimals = int(decimals)
    try:
        scale = 10.0 ** builtins.abs(decimals)
    except OverflowError:  # std::pow's inf
        scale = float("inf")
    return dispatch(_round_decimals_op, (input,), (("negative", decimals < 0), ("scale", scale)))


@defop("gelu", node="GeluBackward0", dtypes="float")
def _gelu_op(x, approximate):
    return jax.nn.gelu(x, approximate=approximate)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian Error Linear Unit; ``approximate='tanh'`` uses the tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return dispatch(_gelu_op, (input,), (("approximate", approximate == "tanh"),))


@defop("softplus", node="SoftplusBackward0", dtypes="float", values=("beta", "threshold"))
def _softplus_op(x, beta, threshold):
    bx = x * beta
    return jnp.where(bx > threshold, x, jnp.logaddexp(bx, 0.0) / beta)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``1/beta * log(1 + exp(beta * x))``, linear above ``threshold`` for stability."""
    return dispatch(
        _softplus_op, (input,), (("beta", float(beta)), ("threshold", float(threshold)))
    )


@defop("leaky_relu", node="LeakyReluBackward0", dtypes="same", values=("negative_slope",))
def _leaky_relu_op(x, negative_slope):
    return jnp.where(x > 0, x, x * negative_slope)


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``max(0, x) + negative_slope * min(0, x)``."""
    return dispatch(_leaky_relu_op, (input,), (("negative_slope", float(negative_slope)),))


# ----- binary arithmetic ------------------------------------------------------------------
def cross_saves(mask: tuple) -> list:
    """x*y-like ops: the gradient of each operand needs the other one."""
    return ([1] if mask[0] else []) + ([0] if mask[1] else [])


def _div_saves(mask: tuple) -> list:
    return ([1] if mask[0] else []) + ([0, 1] if mask[1] else [])


@defop("add", node="AddBackward0", linear=True)
def _add_op(x, y):
    return x + y


@defop("sub", node="SubBackward0", linear=True)
def _sub_op(x, y):
    return x - y


# With ``alpha != 1`` (``p.add_(g, alpha=-lr)``, lr from a scheduler) alpha is a runtime value.
@defop("add_alpha", node="AddBackward0", linear=True, values=("alpha",))
def _add_alpha_op(x, y, alpha):
    return x + y * alpha


@defop("sub_alpha", node="SubBackward0", linear=True, values=("alpha",))
def _sub_alpha_op(x, y, alpha):
    return x - y * alpha


def _rsub_fn(x, y):
    # y - x: PyTorch's ``rsub(input, other)`` and ``2 - t``.
    return y - x


def _rsub_alpha_fn(x, y, alpha):
    # y - alpha * x, alpha a runtime value (as add_alpha's).
    return y - x * alpha


_rsub_op = defop("rsub", node="RsubBackward0", linear=True, edges="tensors")(_rsub_fn)
_rsub_scalar_op = defop("rsub_scalar", node="RsubBackward1", linear=True, edges="tensors")(_rsub_fn)
_rsub_alpha_op = defop(
    "rsub_alpha", node="RsubBackward0", linear=True, edges="tensors", values=("alpha",)
)(_rsub_alpha_fn)
_rsub_scalar_alpha_op = defop(
    "rsub_scalar_alpha", node="RsubBackward1", linear=True, edges="tensors", values=("alpha",)
)(_rsub_alpha_fn)


@defop("mul", node="MulBackward0", saves=cross_saves)
def _mul_op(x, y):
    return x * y


def _true_divide(x, y):
    # XLA rewrites x / broadcast(y) as x * (1 / y), which rounds differently from PyTorch's
    # division on CPU (3. / 2.5 would be 1.2000000000000002); the barrier hides the broadcast.
    shape = jnp.broadcast_shapes(jnp.shape(x), jnp.shape(y))
    if jnp.shape(y) != shape:
        y = lax.optimization_barrier(jnp.broadcast_to(y, shape))
    return x / y


@defop("div", node="DivBackward0", dtypes="float", saves=_div_saves)
def _div_op(x, y):
    return _true_divide(x, y)


def _floor_div_fn(x, y):
    # jnp.floor_divide on floats is PyTorch's div_floor: fmod-based, exact where floor(x / y)
    # would round.
    return jnp.floor_divide(x, y)


def _not_implemented(name: str, fn):
    """``fn`` whose derivative raises PyTorch's error for ops without one (``NotImplemented``)."""

    def bwd(res, g):
        err = RuntimeError(f"derivative for aten::{name} is not implemented")
        err.tapegrad_torch_error = True  # PyTorch's own text: not to be re-worded by dispatch
        raise err

    def apply(*args, **statics):
        @jax.custom_vjp
        def f(*a):
            return fn(*a, **statics)

        f.defvjp(lambda *a: (fn(*a, **statics), None), bwd)
        return f(*args)

    return apply


_div_floor_op = defop("div_floor", node="DivBackward2")(_floor_div_fn)
_floor_divide_op = defop("floor_divide", node="NotImplemented", edges="tensors")(
    _not_implemented("floor_divide", _floor_div_fn)
)


@defop("div_trunc", node="DivBackward2")
def _div_trunc_op(x, y):
    if jnp.issubdtype(x.dtype, jnp.integer):
        q = jnp.abs(x) // jnp.abs(y)
        return jnp.where((x < 0) != (y < 0), -q, q)
    return jnp.trunc(_true_divide(x, y))


_remainder_op = defop("remainder", node="RemainderBackward0", edges="tensors")(jnp.remainder)
_remainder_tensor_op = defop("remainder_tensor", node="RemainderBackward1")(jnp.remainder)
_rremainder_op = defop("rremainder", node="NotImplemented", edges="tensors")(
    _not_implemented("remainder", jnp.remainder)
)


@defop("maximum", node="MaximumBackward0")
def _maximum_op(x, y):
    return jnp.maximum(x, y)


@defop("minimum", node="MinimumBackward0")
def _minimum_op(x, y):
    return jnp.minimum(x, y)


@jax.custom_jvp
def _power(x, y):
    return jnp.power(x, y)


@_power.defjvp
def _power_jvp(primals, tangents):
    # PyTorch's pow_backward: no gradient through a zero exponent (not 0 * x ** -1 = NaN at 0),
    # and none to the exponent where the base is 0 and the exponent non-negative.
    (x, y), (dx, dy) = primals, tangents
    out = _power(x, y)
    zero = jnp.zeros((), out.dtype)
    d_x = jnp.where(y == 0, zero, y * _power(x, y - 1))
    d_y = jnp.where((x == 0) & (y >= 0), zero, out * jnp.log(x))
    return out, d_x * dx + d_y * dy


@defop("pow_scalar", node="PowBackward0", dtypes="promote")
def _pow_scalar_op(x, exponent):
    if (
        isinstance(exponent, int)
        and not isinstance(exponent, bool)
        and (exponent >= 0 or jnp.issubdtype(x.dtype, jnp.floating))
    ):
        return lax.integer_pow(x, exponent)
    if exponent == 0:  # x ** 0.0 is 1 with a zero gradient, even at x == 0
        return jnp.ones_like(x)
    return jnp.power(x, jnp.asarray(exponent, x.dtype))


# Other float exponents reach the kernel as a value, so a changing exponent never recompiles.
@defop("pow_scalar_value", node="PowBackward0", dtypes="promote", values=("exponent",))
def _pow_scalar_value_op(x, exponent):
    return jnp.power(x, exponent.astype(x.dtype))


# Exponents PyTorch (and XLA, for a constant) computes with their own exact formulas.
_SPECIAL_EXPONENTS = frozenset((-2, -1, -0.5, 0, 0.5, 1, 2, 3))


@defop("pow", node="PowBackward1")
def _pow_op(x, y):
    if jnp.issubdtype(x.dtype, jnp.floating):
        return _power(x, y)
    return jnp.power(x, y)


@defop("rpow", node="PowBackward2", cast=(0, 1), edges="tensors")
def _rpow_op(x, base):
    # base ** x with x the tensor.
    if jnp.issubdtype(x.dtype, jnp.floating):
        return _power(jnp.asarray(base, x.dtype), x)
    return jnp.power(base, x)


def _check_alpha(alpha, operands) -> None:
    if isinstance(alpha, float) and not any(
        (isinstance(o, Tensor) and o.dtype.is_floating_point) or isinstance(o, float)
        for o in operands
    ):
        raise RuntimeError(
            "For integral input tensors, argument alpha must not be a floating point number."
        )


def _scalar_or_tensor(x, name: str):
    if isinstance(x, (Tensor, int, float, bool)):
        return x
    raise TypeError(f"{name}(): argument 'other' must be Tensor or Number, not {type(x).__name__}")


def add(input, other, *, alpha=1) -> Tensor:
    """Adds ``other``, scaled by ``alpha``, to ``input``."""
    other = _scalar_or_tensor(other, "add")
    if alpha != 1:
        _check_alpha(alpha, (input, other))
    op, statics = (_add_op, ()) if alpha == 1 else (_add_alpha_op, (("alpha", alpha),))
    if isinstance(other, Tensor) and type(other._storage) is DeferredStorage:
        return dispatch_fused(op, (input, other), statics)
    return dispatch(op, (input, other), statics)


def sub(input, other, *, alpha=1) -> Tensor:
    """Subtracts ``other``, scaled by ``alpha``, from ``input``."""
    other = _scalar_or_tensor(other, "sub")
    if alpha != 1:
        _check_alpha(alpha, (input, other))
    _check_bool_sub(input, other)
    op, statics = (_sub_op, ()) if alpha == 1 else (_sub_alpha_op, (("alpha", alpha),))
    if isinstance(other, Tensor) and type(other._storage) is DeferredStorage:
        return dispatch_fused(op, (input, other), statics)
    return dispatch(op, (input, other), statics)


subtract = sub


def _is_bool(x) -> bool:
    if isinstance(x, Tensor):
        meta = x._meta  # the cached promotion key: reading it leaves a deferred result pending
        return (x.dtype if meta is None else meta[0]).name == "bool"
    return isinstance(x, bool)


def _check_bool_sub(input, other) -> None:
    # A Python bool counts as a bool tensor, as in PyTorch's sub_check.
    a, b = _is_bool(input), _is_bool(other)
    if a and b:
        raise RuntimeError(SUB_BOOL)
    if a or b:
        raise RuntimeError(SUB_ONE_BOOL)


def rsub(input: Tensor, other, *, alpha=1) -> Tensor:
    """``other - alpha * input``."""
    other = _scalar_or_tensor(other, "rsub")
    if alpha != 1:
        _check_alpha(alpha, (input, other))
    _check_bool_sub(input, other)
    tensor_other = isinstance(other, Tensor)
    if alpha == 1:
        return dispatch(_rsub_op if tensor_other else _rsub_scalar_op, (input, other))
    op = _rsub_alpha_op if tensor_other else _rsub_scalar_alpha_op
    return dispatch(op, (input, other), (("alpha", alpha),))


def mul(input, other) -> Tensor:
    """Multiplies ``input`` by ``other``."""
    other = _scalar_or_tensor(other, "mul")
    if type(other) is float and isinstance(input, Tensor):
        # ``lr * p.grad``: often consumed by ``p -= ...``, which then runs one fused kernel.
        return defer(_mul_op, (input, other))
    return dispatch(_mul_op, (input, other))


multiply = mul


def _check_not_bool(kernel: str, input, other) -> None:
    # PyTorch's integer division and remainder kernels have no bool version.
    if _is_bool(input) and _is_bool(other):
        raise NotImplementedError(f"\"{kernel}_cpu\" not implemented for 'Bool'")


def div(input, other, *, rounding_mode: str | None = None) -> Tensor:
    """Divides ``input`` by ``other``: true division, or ``'floor'``/``'trunc'`` rounding."""
    other = _scalar_or_tensor(other, "div")
    if rounding_mode is None:
        return dispatch(_div_op, (input, other))
    if rounding_mode == "floor":
        _check_not_bool("div_floor", input, other)
        return dispatch(_div_floor_op, (input, other))
    if rounding_mode == "trunc":
        _check_not_bool("div_trunc", input, other)
        return dispatch(_div_trunc_op, (input, other))
    raise RuntimeError(
        "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
        f"'{rounding_mode}'"
    )


divide = div
true_divide = div


def floor_divide(input, other) -> Tensor:
    """Divides and rounds toward negative infinity (not differentiable, as in PyTorch)."""
    other = _scalar_or_tensor(other, "floor_divide")
    _check_not_bool("div_floor", input, other)
    return dispatch(_floor_divide_op, (input, other))


def remainder(input, other) -> Tensor:
    """Python's modulus: the remainder has the sign of the divisor.

    ``input`` may be a Python number (``2 % t``); PyTorch has no derivative for that form.
    """
    other = _scalar_or_tensor(other, "remainder")
    _check_not_bool("remainder", input, other)
    if not isinstance(input, Tensor):
        return dispatch(_rremainder_op, (input, other))
    op = _remainder_tensor_op if isinstance(other, Tensor) else _remainder_op
    return dispatch(op, (input, other))


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum of ``input`` and ``other``."""
    _require_tensor(other, "maximum", "other")
    return dispatch(_maximum_op, (input, other))


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum of ``input`` and ``other``."""
    _require_tensor(other, "minimum", "other")
    return dispatch(_minimum_op, (input, other))


def _require_tensor(x, fn: str, arg: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{fn}(): argument '{arg}' (position 2) must be Tensor, not {type(x).__name__}"
        )


def pow(input, exponent) -> Tensor:
    """Takes the power of each element in ``input`` with ``exponent``."""
    if not isinstance(input, Tensor):
        return dispatch(_rpow_op, (exponent, input))
    if isinstance(exponent, Tensor):
        return dispatch(_pow_op, (input, exponent))
    if isinstance(exponent, (int, float)):
        if isinstance(exponent, bool):
            exponent = int(exponent)
        if isinstance(exponent, int) and exponent < 0 and not input.dtype.is_floating_point:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        if not input.dtype.is_floating_point:
            from tapegrad._dtype import result_type

            # int_tensor ** 2.5 is a float tensor, bool_tensor ** 2 an int64 one
            input = input.to(result_type(input, exponent))
        if (
            isinstance(exponent, float)
            and exponent not in _SPECIAL_EXPONENTS
            and input.dtype.is_floating_point
        ):
            return dispatch(_pow_scalar_value_op, (input,), (("exponent", exponent),))
        return dispatch(_pow_scalar_op, (input,), (("exponent", exponent),))
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
                kind = "Float" if d is None else legacy_name(d)
                raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{kind}'")
        return dispatch(op, (input, other))

    bitwise.__name__ = name
    return bitwise


bitwise_and = _bitwise("bitwise_and", jnp.bitwise_and)
bitwise_or = _bitwise("bitwise_or", jnp.bitwise_or)
bitwise_xor = _bitwise("bitwise_xor", jnp.bitwise_xor)


@defop("bitwise_not", node=None, dtypes="keep")
def _bitwise_not_op(x):
    return jnp.logical_not(x) if x.dtype == jnp.bool_ else jnp.invert(x)


def bitwise_not(input: Tensor) -> Tensor:
    """Bitwise NOT (logical NOT for bool tensors)."""
    if input.dtype.is_floating_point:
        raise TypeError(
            "~ (operator.invert) is only implemented on integer and Boolean-type tensors"
        )
    return dispatch(_bitwise_not_op, (input,))


@defop("logical_not", node=None, dtypes="keep")
def _logical_not_op(x):
    return jnp.logical_not(x)


def logical_not(input: Tensor) -> Tensor:
    """Elementwise logical NOT."""
    return dispatch(_logical_not_op, (input,))


@defop("isnan", node=None, dtypes="keep")
def _isnan_op(x):
    return jnp.isnan(x)


def isnan(input: Tensor) -> Tensor:
    """Returns a bool tensor that is True where ``input`` is NaN."""
    return dispatch(_isnan_op, (input,))


@defop("isfinite", node=None, dtypes="keep")
def _isfinite_op(x):
    return jnp.isfinite(x)


def isfinite(input: Tensor) -> Tensor:
    """Returns a bool tensor that is True where ``input`` is finite."""
    return dispatch(_isfinite_op, (input,))


# ----- clamp and where --------------------------------------------------------------------
@defop("clamp", node="ClampBackward1", dtypes="same", values=("min", "max"))
def _clamp_op(x, has_min, has_max, min, max):
    # PyTorch passes the gradient where min <= x <= max (boundaries included) and keeps NaN.
    # The bounds are runtime values; which of them are given is static.
    out = x
    if has_min:
        out = jnp.where(x < min, jnp.asarray(min, x.dtype), out)
    if has_max:
        out = jnp.where(x > max, jnp.asarray(max, x.dtype), out)
    if has_min and has_max:
        out = jnp.where(min > max, jnp.asarray(max, x.dtype), out)
    return out


@defop("clamp_tensor", node="ClampBackward0")
def _clamp_tensor_op(x, lo, hi):
    out = jnp.where(x < lo, lo, x)
    out = jnp.where(x > hi, hi, out)
    return jnp.where(lo > hi, hi, out)


def clamp(input: Tensor, min=None, max=None) -> Tensor:
    """Clamps all elements of ``input`` into ``[min, max]``."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        from tapegrad._creation import full_like

        lo = (
            min
            if isinstance(min, Tensor)
            else full_like(input, float("-inf") if min is None else min)
        )
        hi = (
            max
            if isinstance(max, Tensor)
            else full_like(input, float("inf") if max is None else max)
        )
        return dispatch(_clamp_tensor_op, (input, lo, hi))
    dtype = input.dtype
    if not dtype.is_floating_point and (isinstance(min, float) or isinstance(max, float)):
        from tapegrad._dtype import get_default_dtype

        input = input.to(get_default_dtype())
    statics = (
        ("has_min", min is not None),
        ("has_max", max is not None),
        ("min", 0 if min is None else min),
        ("max", 0 if max is None else max),
    )
    return dispatch(_clamp_op, (input,), statics)


clip = clamp


@defop("where", node="WhereBackward0", cast=(1, 2), edges=(1, 2))
def _where_op(cond, x, y):
    return jnp.where(cond, x, y)


def where(condition: Tensor, input=None, other=None):
    """Selects ``input`` where ``condition`` is True and ``other`` elsewhere."""
    if input is None and other is None:
        from tapegrad._ops.indexing import nonzero

        return nonzero(condition, as_tuple=True)
    if condition.dtype.name not in ("bool", "uint8"):
        cd = condition.dtype
        raise RuntimeError(
            "where expected condition to be a boolean tensor, but got a tensor with dtype "
            f"{legacy_name(cd) if cd.is_floating_point else cd}"
        )
    return dispatch(_where_op, (condition, input, other))
