"""Reductions: sum, mean, prod, amax/amin, var/std, logsumexp, norm, max/min, arg*, softmax."""

from __future__ import annotations

import builtins
import math
import warnings

import jax
import jax.numpy as jnp

from tapegrad._dtype import legacy_name
from tapegrad._ops._registry import defop, dispatch
from tapegrad._ops._util import normalize_dim, normalize_dims
from tapegrad._tensor import Tensor

DOF_WARNING = (
    "{}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction "
    "factor (input numel divided by output numel)."
)


def _axes(dims):
    return None if dims is None else dims


def _sum_fn(x, dims, keepdim):
    return jnp.sum(x, axis=_axes(dims), keepdims=keepdim)


def _mean_fn(x, dims, keepdim):
    return jnp.mean(x, axis=_axes(dims), keepdims=keepdim)


def _prod_fn(x, dims, keepdim):
    return jnp.prod(x, axis=_axes(dims), keepdims=keepdim)


_sum_all_op = defop("sum", node="SumBackward0", dtypes="sum", linear=True)(_sum_fn)
_sum_dim_op = defop("sum_dim", node="SumBackward1", dtypes="sum", linear=True)(_sum_fn)
_mean_all_op = defop("mean", node="MeanBackward0", dtypes="same", linear=True)(_mean_fn)
_mean_dim_op = defop("mean_dim", node="MeanBackward1", dtypes="same", linear=True)(_mean_fn)
_prod_all_op = defop("prod", node="ProdBackward0", dtypes="sum")(_prod_fn)
_prod_dim_op = defop("prod_dim", node="ProdBackward1", dtypes="sum")(_prod_fn)


def _dims(dim, input: Tensor):
    """Sorted non-negative dims, None for all; a 0-d tensor's dim 0 or -1 reduces nothing."""
    dims = normalize_dims(dim, input.ndim)
    return () if dims is not None and input.ndim == 0 else dims


def _reduce(op_all, op_dim, input: Tensor, dim, keepdim: bool, dtype):
    if dtype is not None:
        input = input.to(dtype)
    dims = _dims(dim, input)
    op = op_all if dim is None else op_dim
    return dispatch(op, (input,), (("dims", dims), ("keepdim", bool(keepdim))))


def sum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Returns the sum of ``input`` over ``dim`` (all elements when None).

    Integer and bool tensors are summed as int64, as in PyTorch.
    """
    return _reduce(_sum_all_op, _sum_dim_op, input, dim, keepdim, dtype)


def mean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Returns the mean of ``input`` over ``dim``; ``input`` must be floating point."""
    if dtype is None and not input.dtype.is_floating_point:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {legacy_name(input.dtype)}"
        )
    return _reduce(_mean_all_op, _mean_dim_op, input, dim, keepdim, dtype)


def prod(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Returns the product of the elements of ``input`` over ``dim``."""
    if isinstance(dim, (list, tuple)):
        raise TypeError("prod(): argument 'dim' must be int, not tuple")
    return _reduce(_prod_all_op, _prod_dim_op, input, dim, keepdim, dtype)


def _amax_fn(x, dims, keepdim):
    return jnp.max(x, axis=_axes(dims), keepdims=keepdim)


def _amin_fn(x, dims, keepdim):
    return jnp.min(x, axis=_axes(dims), keepdims=keepdim)


_amax_op = defop("amax", node="AmaxBackward0", dtypes="keep")(_amax_fn)
_amin_op = defop("amin", node="AminBackward0", dtypes="keep")(_amin_fn)
_max_all_op = defop("max", node="MaxBackward1", dtypes="keep")(_amax_fn)
_min_all_op = defop("min", node="MinBackward1", dtypes="keep")(_amin_fn)


def _check_nonempty(input: Tensor, name: str, dims) -> None:
    shape = input._data.shape
    if dims is None:
        if input.numel() == 0:
            if name in ("argmax", "argmin"):
                raise IndexError(
                    f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
                )
            raise RuntimeError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument."
            )
    else:
        for d in dims:
            if input.ndim and shape[d] == 0:
                raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def amax(input: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """Returns the maximum over ``dim``; ties share the gradient evenly."""
    dims = _dims(dim, input)
    _check_nonempty(input, "amax", dims)
    return dispatch(_amax_op, (input,), (("dims", dims), ("keepdim", bool(keepdim))))


def amin(input: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """Returns the minimum over ``dim``; ties share the gradient evenly."""
    dims = _dims(dim, input)
    _check_nonempty(input, "amin", dims)
    return dispatch(_amin_op, (input,), (("dims", dims), ("keepdim", bool(keepdim))))


class _ReturnType(tuple):
    """PyTorch's ``torch.return_types.*`` structseq: a tuple with named fields."""

    _name = ""
    _fields = ("values", "indices")

    def __new__(cls, values: Tensor, indices: Tensor):
        return super().__new__(cls, (values, indices))

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]

    def __repr__(self) -> str:
        return f"torch.return_types.{self._name}(\nvalues={self[0]!r},\nindices={self[1]!r})"


def _return_type(name: str) -> type:
    return type(name, (_ReturnType,), {"_name": name, "__slots__": ()})


max_ret = _return_type("max")
min_ret = _return_type("min")


def _argbest(x, dim, keepdim, largest):
    if x.ndim == 0:
        return x, jnp.zeros((), jnp.int64)
    idx = jnp.argmax(x, axis=dim) if largest else jnp.argmin(x, axis=dim)
    idx = jnp.expand_dims(idx, dim)
    vals = jnp.take_along_axis(x, idx, axis=dim)
    if not keepdim:
        vals, idx = jnp.squeeze(vals, dim), jnp.squeeze(idx, dim)
    return vals, idx.astype(jnp.int64)


_max_dim_op = defop("max_dim", node="MaxBackward0", dtypes="keep", n_out=2, diff_out=(0,))(
    lambda x, dim, keepdim: _argbest(x, dim, keepdim, True)
)
_min_dim_op = defop("min_dim", node="MinBackward0", dtypes="keep", n_out=2, diff_out=(0,))(
    lambda x, dim, keepdim: _argbest(x, dim, keepdim, False)
)


def _minmax(name, op_all, op_dim, maximum_fn, input, dim, keepdim, ret):
    if isinstance(dim, Tensor):
        return maximum_fn(input, dim)
    if dim is None:
        _check_nonempty(input, name, None)
        return dispatch(op_all, (input,), (("dims", None), ("keepdim", False)))
    d = normalize_dim(dim, input.ndim)
    _check_nonempty(input, name, (d,))
    values, indices = dispatch(op_dim, (input,), (("dim", d), ("keepdim", bool(keepdim))))
    return ret(values, indices)


def max(input: Tensor, dim=None, keepdim: bool = False):
    """``max(input)``: the maximum value; ``max(input, dim)``: (values, indices) along ``dim``;
    ``max(input, other)``: the elementwise maximum."""
    from tapegrad._ops.pointwise import maximum

    return _minmax("max", _max_all_op, _max_dim_op, maximum, input, dim, keepdim, max_ret)


def min(input: Tensor, dim=None, keepdim: bool = False):
    """``min(input)``: the minimum value; ``min(input, dim)``: (values, indices) along ``dim``;
    ``min(input, other)``: the elementwise minimum."""
    from tapegrad._ops.pointwise import minimum

    return _minmax("min", _min_all_op, _min_dim_op, minimum, input, dim, keepdim, min_ret)


@defop("argmax", node=None, dtypes="keep")
def _argmax_op(x, dim, keepdim):
    if dim is None:
        out = jnp.argmax(x.reshape(-1))
        return (out.reshape((1,) * x.ndim) if keepdim else out).astype(jnp.int64)
    return jnp.argmax(x, axis=dim, keepdims=keepdim).astype(jnp.int64)


@defop("argmin", node=None, dtypes="keep")
def _argmin_op(x, dim, keepdim):
    if dim is None:
        out = jnp.argmin(x.reshape(-1))
        return (out.reshape((1,) * x.ndim) if keepdim else out).astype(jnp.int64)
    return jnp.argmin(x, axis=dim, keepdims=keepdim).astype(jnp.int64)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Returns the indices of the maximum values (the first one on ties)."""
    d = None if dim is None else normalize_dim(dim, input.ndim)
    _check_nonempty(input, "argmax", None if d is None else (d,))
    return dispatch(_argmax_op, (input,), (("dim", d), ("keepdim", bool(keepdim))))


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Returns the indices of the minimum values (the first one on ties)."""
    d = None if dim is None else normalize_dim(dim, input.ndim)
    _check_nonempty(input, "argmin", None if d is None else (d,))
    return dispatch(_argmin_op, (input,), (("dim", d), ("keepdim", bool(keepdim))))


def _var_fn(x, dims, keepdim, divisor):
    # PyTorch divides by max(0, n - correction): inf or nan, never jax's nan for ddof >= n.
    # The divisor is a runtime value (``correction`` may be any number).
    axis = _axes(dims)
    centered = x - jnp.mean(x, axis=axis, keepdims=True)
    sq = jnp.sum(centered * centered, axis=axis, keepdims=keepdim)
    return sq / jnp.asarray(divisor, x.dtype)


_var_op = defop("var", node="VarBackward0", dtypes="float", values=("divisor",))(_var_fn)


@jax.custom_jvp
def _sqrt_zero_grad(v):
    return jnp.sqrt(v)


@_sqrt_zero_grad.defjvp
def _sqrt_zero_grad_jvp(primals, tangents):
    # PyTorch's std_backward: grad / (2 * std), with zero where std is zero (not inf * 0).
    (v,), (dv,) = primals, tangents
    out = jnp.sqrt(v)
    safe = jnp.where(out == 0, jnp.ones((), out.dtype), out)
    return out, jnp.where(out == 0, jnp.zeros((), out.dtype), dv / (2 * safe))


@defop("std", node="StdBackward0", dtypes="float", values=("divisor",))
def _std_op(x, dims, keepdim, divisor):
    return _sqrt_zero_grad(_var_fn(x, dims, keepdim, divisor))


def _correction(unbiased, correction) -> float:
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def _var_std(op, input, dim, unbiased, keepdim, correction):
    if isinstance(dim, bool):  # var(input, unbiased) positional form
        dim, unbiased = None, dim
    if not input.dtype.is_floating_point:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    dims = _dims(dim, input)
    c = _correction(unbiased, correction)
    shape = input._data.shape
    n = math.prod(shape) if dims is None else math.prod(shape[d] for d in dims)
    if n - c <= 0:
        warnings.warn(DOF_WARNING.format(op.name), UserWarning, stacklevel=3)
    statics = (("dims", dims), ("keepdim", bool(keepdim)), ("divisor", builtins.max(n - c, 0)))
    return dispatch(op, (input,), statics)


def var(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Variance over ``dim``, with Bessel's correction (``correction=1``) by default."""
    return _var_std(_var_op, input, dim, unbiased, keepdim, correction)


def std(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Standard deviation over ``dim``, with ``correction=1`` by default."""
    return _var_std(_std_op, input, dim, unbiased, keepdim, correction)


@defop("logsumexp", node="LogsumexpBackward0", dtypes="float")
def _logsumexp_op(x, dims, keepdim):
    if x.ndim == 0:
        return x
    return jax.nn.logsumexp(x, axis=dims, keepdims=keepdim)


def logsumexp(input: Tensor, dim, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(input), dim))`` computed stably."""
    dims = _dims(dim, input)
    if dims is None:
        dims = tuple(range(input.ndim))
    return dispatch(_logsumexp_op, (input,), (("dims", dims), ("keepdim", bool(keepdim))))


def _l2_value(x, axis, keepdims):
    return jnp.sqrt(jnp.sum(x * x, axis=axis, keepdims=keepdims))


_l2 = jax.custom_jvp(_l2_value, nondiff_argnums=(1, 2))


@_l2.defjvp
def _l2_jvp(axis, keepdims, primals, tangents):
    return _l2_rule(axis, keepdims, primals[0], tangents[0])


def _l2_rule(axis, keepdims, x, dx):
    # PyTorch's norm backward: x / norm, with zero where the norm is zero (not NaN).
    n = _l2(x, axis, keepdims)
    nk = n if keepdims else jnp.expand_dims(n, axis if axis is not None else tuple(range(x.ndim)))
    safe = jnp.where(nk == 0, jnp.ones((), x.dtype), nk)
    scale = jnp.where(nk == 0, jnp.zeros((), x.dtype), x / safe)
    return n, jnp.sum(scale * dx, axis=axis, keepdims=keepdims)


def _pnorm_value(x, p, axis, keepdims):
    return jnp.sum(jnp.abs(x) ** p, axis=axis, keepdims=keepdims) ** (1.0 / p)


_pnorm = jax.custom_jvp(_pnorm_value, nondiff_argnums=(1, 2, 3))


@_pnorm.defjvp
def _pnorm_jvp(p, axis, keepdims, primals, tangents):
    # PyTorch's norm_backward: sgn(x) |x|^(p-1) / norm^(p-1), zero where x is zero and where
    # the norm is zero (jax's rule gives NaN there, and sign(0) = 0 where jax's |x|' is 1).
    (x,), (dx,) = primals, tangents
    n = _pnorm(x, p, axis, keepdims)
    nk = n if keepdims else jnp.expand_dims(n, axis if axis is not None else tuple(range(x.ndim)))
    zero, one = jnp.zeros((), x.dtype), jnp.ones((), x.dtype)
    ax = jnp.where(x == 0, one, jnp.abs(x))
    grad_x = jnp.where(x == 0, zero, jnp.sign(x) * ax ** (p - 1))
    safe = jnp.where(nk == 0, one, nk)
    scale = jnp.where(nk == 0, zero, grad_x / safe ** (p - 1))
    return n, jnp.sum(scale * dx, axis=axis, keepdims=keepdims)


@defop("norm", node="LinalgVectorNormBackward0", dtypes="float")
def _norm_op(x, p, dims, keepdim):
    if p == 2:
        return _l2(x, dims, keepdim)
    if p == float("inf"):
        return jnp.max(jnp.abs(x), axis=dims, keepdims=keepdim)
    if p == float("-inf"):
        return jnp.min(jnp.abs(x), axis=dims, keepdims=keepdim)
    if p == 0:
        return jnp.sum((x != 0).astype(x.dtype), axis=dims, keepdims=keepdim)
    return _pnorm(x, p, dims, keepdim)


def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """The vector p-norm of ``input`` over ``dim`` (2-norm / Frobenius by default)."""
    if dtype is not None:
        input = input.to(dtype)
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str):
        raise RuntimeError(f"norm(): p={p!r} is not supported; use a number, 'fro' or None")
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            f"{legacy_name(input.dtype)}"
        )
    dims = _dims(dim, input)
    return dispatch(
        _norm_op, (input,), (("p", float(p)), ("dims", dims), ("keepdim", bool(keepdim)))
    )


@defop("softmax", node="SoftmaxBackward0", dtypes="float", saves="output")
def _softmax_op(x, dim):
    return jax.nn.softmax(x, axis=dim) if x.ndim else jnp.ones_like(x)


@defop("log_softmax", node="LogSoftmaxBackward0", dtypes="float", saves="output")
def _log_softmax_op(x, dim):
    return jax.nn.log_softmax(x, axis=dim) if x.ndim else jnp.zeros_like(x)


def _softmax_dim(name: str, input: Tensor, dim: int, dtype) -> tuple[Tensor, int]:
    if dtype is not None:
        input = input.to(dtype)
    d = normalize_dim(dim, input.ndim)
    if not input.dtype.is_floating_point:
        kernel = "lastdim_kernel_impl" if d >= input.ndim - 1 else "kernel_impl"
        raise NotImplementedError(
            f"\"{name}_{kernel}\" not implemented for '{legacy_name(input.dtype)}'"
        )
    return input, d


def softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """Softmax along ``dim``: ``exp(x) / sum(exp(x), dim)``; ``dtype`` casts ``input`` first."""
    input, d = _softmax_dim("softmax", input, dim, dtype)
    return dispatch(_softmax_op, (input,), (("dim", d),))


def log_softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """Log of softmax along ``dim``, computed stably; ``dtype`` casts ``input`` first."""
    input, d = _softmax_dim("log_softmax", input, dim, dtype)
    return dispatch(_log_softmax_op, (input,), (("dim", d),))


@defop("all", node=None, dtypes="keep")
def _all_op(x, dims, keepdim):
    return jnp.all(x, axis=dims, keepdims=keepdim)


@defop("any", node=None, dtypes="keep")
def _any_op(x, dims, keepdim):
    return jnp.any(x, axis=dims, keepdims=keepdim)


def all(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """True where every element (over ``dim``, or all elements) is non-zero; a bool tensor."""
    dims = _dims(dim, input)
    return dispatch(_all_op, (input,), (("dims", dims), ("keepdim", bool(keepdim))))


def any(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """True where some element (over ``dim``, or all elements) is non-zero; a bool tensor."""
    dims = _dims(dim, input)
    return dispatch(_any_op, (input,), (("dims", dims), ("keepdim", bool(keepdim))))
