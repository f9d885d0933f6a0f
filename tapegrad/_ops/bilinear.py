"""bilinear: ``y = x1^T A x2 + b``, taped as PyTorch tapes it: the inputs viewed as matrices,
one ``TrilinearBackward0`` node, a view back to the batch shape and an ``AddBackward0`` for
the bias."""

from __future__ import annotations

import jax.numpy as jnp

from tapegrad._ops._registry import defop, dispatch
from tapegrad._ops.pointwise import add
from tapegrad._tensor import Tensor

_C_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int"}


@defop("trilinear", node="TrilinearBackward0", dtypes="keep")
def _trilinear_op(x1, w, x2):
    return jnp.einsum("bi,oij,bj->bo", x1, w, x2)


def _c_name(t: Tensor) -> str:
    return _C_NAMES.get(t.dtype.name, t.dtype.name)


def _check(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    tensors = [("input1", input1), ("input2", input2), ("weight", weight)]
    if bias is not None:
        tensors.append(("bias", bias))
    if len({t.dtype for _, t in tensors}) > 1:
        got = ", ".join(f"{name}: {_c_name(t)}" for name, t in tensors)
        raise RuntimeError(f"All tensors must have the same dtype, got {got}")
    s1, s2, w = tuple(input1.shape), tuple(input2.shape), tuple(weight.shape)
    if len(s1) != len(s2):
        raise RuntimeError(
            f"bilinear(): input dimensions do not match: got {len(s1)} and {len(s2)}"
        )
    for i in range(len(s1) - 1):
        if s1[i] != s2[i]:
            raise RuntimeError(
                f"bilinear(): input batch dimensions do not match at dim {i}: got {s1[i]} and "
                f"{s2[i]}"
            )
    if len(w) < 2 or s1[-1] != w[1]:
        raise RuntimeError(
            f"bilinear(): input1 size does not match weight size: got {s1[-1]} but expected "
            f"{w[1] if len(w) > 1 else None}"
        )
    if len(w) != 3 or s2[-1] != w[2]:
        raise RuntimeError(
            f"bilinear(): input2 size does not match weight size: got {s2[-1]} but expected "
            f"{w[2] if len(w) > 2 else None}"
        )
    if bias is not None and bias.shape[0] != w[0]:
        raise RuntimeError(
            f"bilinear(): bias size does not match weight size: got {bias.shape[0]} but "
            f"expected {w[0]}"
        )


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Applies a bilinear transformation to the incoming data: ``y = x1^T A x2 + b``.

    ``input1`` is ``(*, in1)``, ``input2`` is ``(*, in2)`` with the same leading dims,
    ``weight`` is ``(out, in1, in2)`` and ``bias`` ``(out,)``; the result is ``(*, out)``.
    """
    _check(input1, input2, weight, bias)
    batch = tuple(input1.shape[:-1])
    x1 = input1.view(-1, input1.shape[-1])
    x2 = input2.view(-1, input2.shape[-1])
    out = dispatch(_trilinear_op, (x1, weight, x2)).view(*batch, weight.shape[0])
    return out if bias is None else add(out, bias)
