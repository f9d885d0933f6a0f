"""The errors of the op wrappers: PyTorch's exception type and message, character for character.

Each case is a lambda ``fn(m)`` that fails under ``m = torch``; the test runs it on torch to get
the exception, then requires tapegrad to raise the same type with the same text.
"""

from __future__ import annotations

import re

import pytest

import tapegrad

torch = pytest.importorskip("torch")


def nnf(m):
    """``torch.nn.functional``, or tapegrad's namespace holding the same functions."""
    if m is torch:
        return torch.nn.functional
    nn = getattr(m, "nn", None)
    return getattr(nn, "functional", m) if nn is not None else m


def _grad_of_floor_divide(m):
    x = m.ones(3, requires_grad=True)
    return m.autograd.grad((x // 2).sum(), x, create_graph=True)


ERRORS = {
    "broadcast": lambda m: m.ones(3, 4) + m.ones(5),
    "broadcast-3": lambda m: m.ones(2, 3, 4) * m.ones(3, 1, 5),
    "broadcast-where": lambda m: m.where(m.ones(3, 4) > 0, m.ones(3, 4), m.ones(2, 1)),
    "mm": lambda m: m.mm(m.ones(3, 4), m.ones(5, 6)),
    "mm-1d": lambda m: m.mm(m.ones(3, 4), m.ones(4)),
    "matmul-1d1d": lambda m: m.ones(3) @ m.ones(4),
    "matmul-2d1d": lambda m: m.ones(3, 4) @ m.ones(5),
    "matmul-1d2d": lambda m: m.ones(3) @ m.ones(4, 5),
    "matmul-2d2d": lambda m: m.ones(3, 4) @ m.ones(5, 6),
    "matmul-3d3d": lambda m: m.ones(2, 3, 4) @ m.ones(2, 5, 6),
    "matmul-3d2d": lambda m: m.ones(2, 3, 4) @ m.ones(5, 6),
    "matmul-2d3d": lambda m: m.ones(3, 4) @ m.ones(2, 5, 6),
    "matmul-3d1d": lambda m: m.ones(2, 3, 4) @ m.ones(5),
    "matmul-1d3d": lambda m: m.ones(4) @ m.ones(2, 5, 6),
    "matmul-batch": lambda m: m.ones(2, 3, 4) @ m.ones(3, 4, 5),
    "matmul-0d": lambda m: m.ones(()) @ m.ones(3),
    "matmul-dtype": lambda m: m.ones(3, 4) @ m.ones(4, 5, dtype=m.float64),
    "matmul-dtype-1d": lambda m: m.ones(4) @ m.ones(4, dtype=m.float64),
    "matmul-dtype-3d": lambda m: m.ones(2, 3, 4) @ m.ones(4, 5, dtype=m.float64),
    "mm-dtype": lambda m: m.mm(m.ones(3, 4, dtype=m.float64), m.ones(4, 5)),
    "mm-int": lambda m: m.mm(m.ones(3, 4, dtype=m.int64), m.ones(4, 5)),
    "bmm": lambda m: m.bmm(m.ones(2, 3, 4), m.ones(2, 5, 6)),
    "bmm-batch": lambda m: m.bmm(m.ones(2, 3, 4), m.ones(3, 4, 6)),
    "bmm-2d": lambda m: m.bmm(m.ones(3, 4), m.ones(2, 4, 6)),
    "bmm-dtype": lambda m: m.bmm(m.ones(2, 3, 4), m.ones(2, 4, 6, dtype=m.float64)),
    "dot": lambda m: m.dot(m.ones(3), m.ones(4)),
    "dot-2d": lambda m: m.dot(m.ones(3, 4), m.ones(4)),
    "dot-dtype": lambda m: m.dot(m.ones(3), m.ones(3, dtype=m.float64)),
    "mv": lambda m: m.mv(m.ones(3, 4), m.ones(5)),
    "mv-dims": lambda m: m.mv(m.ones(3), m.ones(3)),
    "mv-dtype": lambda m: m.mv(m.ones(3, 4), m.ones(4, dtype=m.float64)),
    "linear": lambda m: nnf(m).linear(m.ones(3, 4), m.ones(5, 3)),
    "linear-3d": lambda m: nnf(m).linear(m.ones(2, 3, 4), m.ones(5, 3)),
    "linear-bias": lambda m: nnf(m).linear(m.ones(3, 4), m.ones(5, 4), m.ones(4)),
    "view": lambda m: m.ones(3, 4).view(5),
    "view-two-infer": lambda m: m.ones(3, 4).view(-1, -1),
    "view-infer-bad": lambda m: m.ones(3, 4).view(5, -1),
    "view-negative": lambda m: m.ones(3, 4).view(-2, 6),
    "view-non-contiguous": lambda m: m.ones(3, 4).t().view(12),
    "reshape": lambda m: m.ones(3, 4).reshape(5, 3),
    "expand": lambda m: m.ones(3, 4).expand(3, 5),
    "expand-fewer": lambda m: m.ones(3, 4).expand(4),
    "expand-fewer-double": lambda m: m.ones(3, 4, dtype=m.float64).expand(4),
    "expand-fewer-long": lambda m: m.ones(3, 4, dtype=m.int64).expand(4),
    "expand-negative-lead": lambda m: m.ones(3, 4).expand(-1, 3, 4),
    "cat": lambda m: m.cat([m.ones(3, 4), m.ones(3, 5)]),
    "cat-ndim": lambda m: m.cat([m.ones(3, 4), m.ones(4)]),
    "cat-0d": lambda m: m.cat([m.ones(()), m.ones(())]),
    "cat-empty": lambda m: m.cat([]),
    "cat-dim": lambda m: m.cat([m.ones(3, 4), m.ones(3, 4)], 2),
    "stack": lambda m: m.stack([m.ones(3, 4), m.ones(3, 5)]),
    "stack-empty": lambda m: m.stack([]),
    "stack-dim": lambda m: m.stack([m.ones(3, 4), m.ones(3, 4)], 3),
    "sum-dim": lambda m: m.ones(3, 4).sum(2),
    "sum-dim-neg": lambda m: m.ones(3, 4).sum(-3),
    "sum-dims-dup": lambda m: m.ones(3, 4).sum((0, -2)),
    "mean-dim": lambda m: m.ones(3, 4).mean(5),
    "softmax-dim": lambda m: m.ones(3, 4).softmax(2),
    "transpose-dim": lambda m: m.ones(3, 4).transpose(0, 2),
    "unsqueeze-dim": lambda m: m.ones(3, 4).unsqueeze(3),
    "squeeze-dim": lambda m: m.ones(3, 4).squeeze(2),
    "select-dim": lambda m: m.ones(3, 4).select(2, 0),
    "select-index": lambda m: m.ones(3, 4).select(0, 5),
    "narrow": lambda m: m.ones(3, 4).narrow(1, 3, 2),
    "max-dim": lambda m: m.ones(3, 4).max(2),
    "argmax-dim": lambda m: m.ones(3, 4).argmax(-3),
    "0d-dim": lambda m: m.ones(()).sum(1),
    "index-int": lambda m: m.ones(3, 4)[3],
    "index-int-neg": lambda m: m.ones(3, 4)[-4],
    "index-int-dim1": lambda m: m.ones(3, 4)[:, 4],
    "index-tensor": lambda m: m.ones(3, 4)[m.tensor([0, 5])],
    "index-tensor-neg": lambda m: m.ones(3, 4)[m.tensor([0, -4])],
    "index-list": lambda m: m.ones(3, 4)[:, [1, 4]],
    "index-too-many": lambda m: m.ones(3, 4)[0, 0, 0],
    "index-too-many-0d": lambda m: m.ones(())[0],
    "index-step": lambda m: m.ones(3, 4)[::-1],
    "index-float": lambda m: m.ones(3, 4)[m.tensor([0.0])],
    "index-mask": lambda m: m.ones(3, 4)[m.tensor([True, False])],
    "index-float-scalar": lambda m: m.ones(3, 4)[1.5],
    "index-str": lambda m: m.ones(3, 4)["a"],
    "mean-int": lambda m: m.ones(3, 4, dtype=m.int64).mean(),
    "mean-bool": lambda m: (m.ones(3, 4) > 0).mean(),
    "mean-int32-dim": lambda m: m.ones(3, 4, dtype=m.int32).mean(0),
    "var-int": lambda m: m.ones(3, 4, dtype=m.int64).var(),
    "std-int": lambda m: m.ones(3, 4, dtype=m.int64).std(0),
    "norm-int": lambda m: m.ones(3, 4, dtype=m.int64).norm(),
    "softmax-int": lambda m: m.ones(3, 4, dtype=m.int64).softmax(0),
    "pow-int-neg": lambda m: m.ones(3, dtype=m.int64) ** -1,
    "sub-bool": lambda m: (m.ones(3) > 0) - (m.ones(3) > 0),
    "rsub-bool": lambda m: True - (m.ones(3) > 0),
    "neg-bool": lambda m: -(m.ones(3) > 0),
    "and-float": lambda m: m.ones(3) & m.ones(3),
    "or-double": lambda m: m.ones(3, dtype=m.float64) | m.ones(3, dtype=m.float64),
    "xor-float-int": lambda m: m.ones(3) ^ m.ones(3, dtype=m.int64),
    "invert-float": lambda m: ~m.ones(3),
    "where-cond": lambda m: m.where(m.ones(3), m.ones(3), m.ones(3)),
    "clamp-none": lambda m: m.ones(3).clamp(),
    "div-mode": lambda m: m.div(m.ones(3), 2, rounding_mode="round"),
    "add-alpha-int": lambda m: m.add(m.ones(3, dtype=m.int64), m.ones(3, dtype=m.int64), alpha=0.5),
    "t-3d": lambda m: m.ones(2, 3, 4).t(),
    "mT-1d": lambda m: m.ones(3).mT,
    "permute-len": lambda m: m.ones(2, 3, 4).permute(0, 1),
    "permute-dup": lambda m: m.ones(2, 3, 4).permute(0, 1, 1),
    "split-sizes": lambda m: m.ones(3, 4).split([1, 1]),
    "split-zero": lambda m: m.ones(3, 4).split(0),
    "chunk-zero": lambda m: m.ones(3, 4).chunk(0),
    "diagonal-same": lambda m: m.ones(3, 4).diagonal(0, 1, 1),
    "flatten-order": lambda m: m.ones(2, 3, 4).flatten(2, 1),
    "unflatten": lambda m: m.ones(3, 4).unflatten(1, (3, 2)),
    "repeat-fewer": lambda m: m.ones(3, 4).repeat(2),
    "max-empty": lambda m: m.ones(0).max(),
    "amax-empty": lambda m: m.ones(0, 3).amax(0),
    "argmax-empty": lambda m: m.ones(0).argmax(),
    "max-dim-empty": lambda m: m.ones(0, 3).max(0),
    "gelu-approx": lambda m: nnf(m).gelu(m.ones(3), approximate="fast"),
    "backward-floordiv": lambda m: (m.ones(3, requires_grad=True) // 2).sum().backward(),
    "mv-2d-2d": lambda m: m.mv(m.ones(3, 4), m.ones(4, 4)),
    "mv-3d": lambda m: m.mv(m.ones(2, 3, 4), m.ones(4)),
    "mv-dtype-reversed": lambda m: m.mv(m.ones(3, 4, dtype=m.float64), m.ones(4)),
    "mm-3d": lambda m: m.mm(m.ones(2, 3, 4), m.ones(4, 4)),
    "bmm-3d-2d": lambda m: m.bmm(m.ones(2, 3, 4), m.ones(4, 4)),
    "bmm-dtype-reversed": lambda m: m.bmm(m.ones(2, 3, 4, dtype=m.float64), m.ones(2, 4, 5)),
    "dot-2d-2d": lambda m: m.dot(m.ones(3, 4), m.ones(3, 4)),
    "matmul-dtype-2d1d": lambda m: m.ones(3, 4) @ m.ones(4, dtype=m.float64),
    "matmul-dtype-1d2d": lambda m: m.ones(4) @ m.ones(4, 5, dtype=m.float64),
    "matmul-dtype-3d3d": lambda m: m.ones(2, 3, 4) @ m.ones(2, 4, 5, dtype=m.float64),
    "matmul-dtype-3d1d": lambda m: m.ones(2, 3, 4) @ m.ones(4, dtype=m.float64),
    "matmul-dtype-2d3d": lambda m: m.ones(3, 4) @ m.ones(2, 4, 5, dtype=m.float64),
    "linear-1d": lambda m: nnf(m).linear(m.ones(3), m.ones(5, 4)),
    "linear-3d-bias": lambda m: nnf(m).linear(m.ones(2, 3, 4), m.ones(5, 4), m.ones(4)),
    "linear-1d-bias": lambda m: nnf(m).linear(m.ones(4), m.ones(5, 4), m.ones(4)),
    "linear-dtype": lambda m: nnf(m).linear(m.ones(3, 4), m.ones(5, 4, dtype=m.float64)),
    "linear-bias-dtype": lambda m: nnf(m).linear(
        m.ones(3, 4), m.ones(5, 4), m.ones(5, dtype=m.float64)
    ),
    "view-zero-infer": lambda m: m.ones(0, 3).view(0, -1),
    "index-two-lists": lambda m: m.ones(3, 4)[[0, 1], [2, 5]],
    "index-two-lists-first": lambda m: m.ones(3, 4)[[0, 3], [2, 1]],
    "index-slice-list": lambda m: m.ones(3, 4)[1:, [1, 4]],
    "index-int-list": lambda m: m.ones(2, 3, 4)[0, [1, 4]],
    "index-last-dim-list": lambda m: m.ones(2, 3, 4)[:, :, [5]],
    "index-list-negative": lambda m: m.ones(3, 4)[[-5]],
    "index-int-after-int": lambda m: m.ones(2, 3, 4)[0, 5],
    "index-int-after-none": lambda m: m.ones(2, 3, 4)[None, 5],
    "index-int-after-ellipsis": lambda m: m.ones(2, 3, 4)[..., 9],
    "index-int-after-list": lambda m: m.ones(2, 3, 4)[[0], 5],
    "index-0d-slice": lambda m: m.ones(())[0:1],
    "index-0d-none-int": lambda m: m.ones(())[None, 0],
    "log_softmax-int": lambda m: m.ones(3, dtype=m.int64).log_softmax(0),
    "softmax-bool": lambda m: (m.ones(3) > 0).softmax(0),
    "softmax-int32": lambda m: nnf(m).softmax(m.ones(3, dtype=m.int32), 0),
    "split-negative": lambda m: m.ones(3, 4).split(-1),
    "expand-int32": lambda m: m.ones(3, dtype=m.int32).expand(()),
    "expand-bool": lambda m: (m.ones(3, 4) > 0).expand(4),
    "unflatten-infer": lambda m: m.ones(3, 4).unflatten(1, (3, -1)),
    "unflatten-negative-dim": lambda m: m.ones(2, 3, 4).unflatten(-1, (3, 2)),
    "unflatten-empty": lambda m: m.ones(3, 4).unflatten(1, ()),
    "argmin-empty": lambda m: m.ones(0).argmin(),
    "argmax-empty-dim": lambda m: m.ones(0, 3).argmax(0),
    "min-empty": lambda m: m.ones(0).min(),
    "amin-empty": lambda m: m.ones(0).amin(),
    "cat-tuple-empty": lambda m: m.cat(()),
    "stack-tuple-empty": lambda m: m.stack(()),
    "rsub-bool-tensors": lambda m: m.rsub(m.ones(3) > 0, m.ones(3) > 0),
    "sub-bool-scalar": lambda m: (m.ones(3) > 0) - True,
    "sub-bool-int32": lambda m: (m.ones(3) > 0) - m.ones(3, dtype=m.int32),
    "sub-float-true": lambda m: m.ones(3) - True,
    "sub-bool-float-scalar": lambda m: (m.ones(3) > 0) - 2.5,
    "rsub-float-true": lambda m: m.rsub(m.ones(3), True),
    "floordiv-bools": lambda m: (m.ones(3) > 0) // (m.ones(3) > 0),
    "mod-bool-true": lambda m: (m.ones(3) > 0) % True,
    "div-trunc-bools": lambda m: m.div(m.ones(3) > 0, True, rounding_mode="trunc"),
    "div-floor-bools": lambda m: m.div(m.ones(3) > 0, True, rounding_mode="floor"),
    "neg-bool-fn": lambda m: m.neg(m.ones(3) > 0),
    "invert-double": lambda m: ~m.ones(3, dtype=m.float64),
    "and-bool-float": lambda m: (m.ones(3) > 0) & m.ones(3),
    "and-int-float-scalar": lambda m: m.ones(3, dtype=m.int64) & 2.5,
    "backward-rmod": lambda m: (2 % m.ones(3, requires_grad=True)).sum().backward(),
    "backward-create-graph-floor_divide": lambda m: _grad_of_floor_divide(m),
    "backward-floor_divide": lambda m: (
        m.floor_divide(m.ones(3, requires_grad=True), 2).sum().backward()
    ),
}


def torch_error(fn) -> Exception:
    """The exception ``fn(torch)`` raises (the test proves torch raises at all)."""
    try:
        fn(torch)
    except Exception as exc:
        return exc
    raise AssertionError("torch did not raise: the case tests nothing")


# Known bugs outside the op modules: case -> reason.
XFAIL: dict[str, str] = {}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            n, marks=[pytest.mark.xfail(strict=True, reason=XFAIL[n])] if n in XFAIL else []
        )
        for n in sorted(ERRORS)
    ],
)
def test_error_matches_torch(name: str) -> None:
    fn = ERRORS[name]
    expected = torch_error(fn)
    with pytest.raises(type(expected), match=re.escape(str(expected))) as got:
        fn(tapegrad)
    assert type(got.value) is type(expected)
    assert str(got.value) == str(expected)
