"""all / any against PyTorch: values, dtypes and shapes, with and without dim."""

import pytest

torch = pytest.importorskip("torch")

import tapegrad as tg  # noqa: E402

CASES = {
    "all": lambda m, x: x.all(),
    "any": lambda m, x: x.any(),
    "all-dim": lambda m, x: x.all(1),
    "any-dim-keepdim": lambda m, x: x.any(0, keepdim=True),
    "all-of-comparison": lambda m, x: m.all(x > -1),
    "all-tuple-dims": lambda m, x: (x > 0).all(dim=(0, 1)),
    "any-of-zero-d": lambda m, x: m.tensor(0.0).any(),
    "all-of-empty": lambda m, x: m.tensor([], dtype=m.bool).all(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_all_any_match_torch(name):
    data = [[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]]
    got = CASES[name](tg, tg.tensor(data))
    want = CASES[name](torch, torch.tensor(data))
    assert repr(got) == repr(want)
    assert not got.requires_grad
