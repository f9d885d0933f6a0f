"""The tutorials' snippets (shared/tutorials/*.txt) replayed with ``torch`` bound to tapegrad.

Each snippet runs as a script under ``torch`` = PyTorch and ``torch`` = tapegrad; the printed
output is captured with capsys and must be identical, and equal to the output the tutorial
shows (where the tutorial was right for PyTorch 2.x). Values drawn from ``randn`` differ between
the two libraries' generators, so those snippets compare the printout with numbers masked.
"""

from __future__ import annotations

import re
import textwrap

import pytest

import tapegrad


def _run(script: str, module, capsys) -> str:
    """Run ``script`` with ``torch`` bound to ``module``; return what it printed."""
    capsys.readouterr()
    exec(compile(textwrap.dedent(script), "<tutorial>", "exec"), {"torch": module})
    return capsys.readouterr().out


def _check(script: str, expected: str, capsys) -> None:
    torch = pytest.importorskip("torch")
    got_torch = _run(script, torch, capsys)
    got_tapegrad = _run(script, tapegrad, capsys)
    assert got_tapegrad == got_torch
    assert got_tapegrad == textwrap.dedent(expected).lstrip("\n")


def _check_tapegrad(script: str, expected: str, capsys) -> None:
    """Without torch: tapegrad against the tutorial's literal output only."""
    assert _run(script, tapegrad, capsys) == textwrap.dedent(expected).lstrip("\n")


# ----- 000: no_grad and a = a + a.grad versus a += a.grad ---------------------------------------
TUTORIAL_000 = """
a = torch.ones(2,requires_grad=True)
b = a*2
print(a, a.grad, a.requires_grad )
b.sum().backward(retain_graph = True )
print(a, a.grad, a.requires_grad )
with torch.no_grad():
    {update}
    print(a, a.grad, a.requires_grad )
    {zero}
b.sum().backward(retain_graph = True )
print(a, a.grad ,a.requires_grad )
"""

OUTPUT_000 = {
    ("a = a + a.grad", "# a.grad.zero_()"): """
        tensor([1., 1.], requires_grad=True) None True
        tensor([1., 1.], requires_grad=True) tensor([2., 2.]) True
        tensor([3., 3.]) None False
        tensor([3., 3.]) None False
        """,
    ("a += a.grad", "# a.grad.zero_()"): """
        tensor([1., 1.], requires_grad=True) None True
        tensor([1., 1.], requires_grad=True) tensor([2., 2.]) True
        tensor([3., 3.], requires_grad=True) tensor([2., 2.]) True
        tensor([3., 3.], requires_grad=True) tensor([4., 4.]) True
        """,
    ("a += a.grad", "a.grad.zero_()"): """
        tensor([1., 1.], requires_grad=True) None True
        tensor([1., 1.], requires_grad=True) tensor([2., 2.]) True
        tensor([3., 3.], requires_grad=True) tensor([2., 2.]) True
        tensor([3., 3.], requires_grad=True) tensor([2., 2.]) True
        """,
}


@pytest.mark.parametrize(("update", "zero"), list(OUTPUT_000))
def test_000_no_grad_update(update, zero, capsys):
    script = TUTORIAL_000.format(update=update, zero=zero)
    _check(script, OUTPUT_000[update, zero], capsys)


@pytest.mark.parametrize(("update", "zero"), list(OUTPUT_000))
def test_000_no_grad_update_literal(update, zero, capsys):
    script = TUTORIAL_000.format(update=update, zero=zero)
    _check_tapegrad(script, OUTPUT_000[update, zero], capsys)


def test_000_in_place_update_without_no_grad(m):
    a = m.ones(2, requires_grad=True)
    b = a * 2
    b.sum().backward()
    with pytest.raises(
        RuntimeError,
        match=r"^a leaf Variable that requires grad is being used in an in-place operation\.$",
    ):
        a += a.grad


# ----- 001: requires_grad as an OR, no_grad, the integer-tensor mistake ------------------------
def test_001_requires_grad_or(capsys):
    _check(
        """
        x=torch.ones(1)
        w=torch.ones(1,requires_grad=True)
        y=x*w
        print(x.requires_grad,w.requires_grad,y.requires_grad)
        """,
        "False True True\n",
        capsys,
    )


def test_001_integer_tensor_cannot_require_grad(m):
    # The tutorial's torch.tensor([1], requires_grad=True) raises in PyTorch 2.x.
    with pytest.raises(
        RuntimeError,
        match=r"^Only Tensors of floating point and complex dtype can require gradients$",
    ):
        m.tensor([1], requires_grad=True)


def test_001_no_grad(capsys):
    _check(
        """
        x = torch.tensor([1.], requires_grad=True)
        with torch.no_grad():
            y = x ** 2
        print(y.requires_grad)
        """,
        "False\n",
        capsys,
    )


# ----- 002: grad_fn names, mean backward, accumulation, backward(v), no_grad, .data -----------
def test_002_grad_fn_and_mean(capsys):
    _check(
        """
        x = torch.ones(2,2,requires_grad = True)
        print(x)
        print(x.grad_fn)
        y = x + 2
        print(y)
        print(type(y.grad_fn).__name__, y.grad_fn.name())
        z = y * y * 3
        out = z.mean()
        print(z)
        print(out)
        out.backward()
        print(x.grad)
        """,
        """
        tensor([[1., 1.],
                [1., 1.]], requires_grad=True)
        None
        tensor([[3., 3.],
                [3., 3.]], grad_fn=<AddBackward0>)
        AddBackward0 AddBackward0
        tensor([[27., 27.],
                [27., 27.]], grad_fn=<MulBackward0>)
        tensor(27., grad_fn=<MeanBackward0>)
        tensor([[4.5000, 4.5000],
                [4.5000, 4.5000]])
        """,
        capsys,
    )


def test_002_requires_grad_(capsys):
    # randn values differ between the libraries: only the flags and names are printed.
    _check(
        """
        a = torch.randn(2,2)
        a = a * 5
        print(a.requires_grad)
        a.requires_grad_(True)
        print(a.requires_grad)
        b = (a * a).sum()
        print(type(b.grad_fn).__name__)
        """,
        """
        False
        True
        SumBackward0
        """,
        capsys,
    )


def test_002_accumulation(capsys):
    _check(
        """
        x = torch.ones(2,2,requires_grad = True)
        out = ((x + 2) * (x + 2) * 3).mean()
        out.backward()
        out2 = x.sum()
        out2.backward()
        print(x.grad)
        out3 = x.sum()
        x.grad.data.zero_()
        out3.backward()
        print(x.grad)
        """,
        """
        tensor([[5.5000, 5.5000],
                [5.5000, 5.5000]])
        tensor([[1., 1.],
                [1., 1.]])
        """,
        capsys,
    )


def test_002_backward_with_vector(capsys):
    # The tutorial prints ViewBackward (old PyTorch); 2.x says ViewBackward0.
    _check(
        """
        x = torch.tensor([1.0,2.0,3.0,4.0], requires_grad = True)
        y = 2 * x
        z = y.view(2,2)
        print(z)
        v = torch.tensor([[1.0,0.1],[0.01,0.001]],dtype = torch.float)
        z.backward(v)
        print(x.grad)
        """,
        """
        tensor([[2., 4.],
                [6., 8.]], grad_fn=<ViewBackward0>)
        tensor([2.0000, 0.2000, 0.0200, 0.0020])
        """,
        capsys,
    )


def test_002_no_grad(capsys):
    _check(
        """
        x = torch.tensor(1.0,requires_grad = True)
        y1 = x ** 2
        with torch.no_grad():
            y2 = x ** 3
        y3 = y1 + y2
        print(x.requires_grad)
        print(y1, y1.requires_grad)
        print(y2, y2.requires_grad)
        print(y3, y3.requires_grad)
        y3.backward()
        print(x.grad)
        """,
        """
        True
        tensor(1., grad_fn=<PowBackward0>) True
        tensor(1.) False
        tensor(2., grad_fn=<AddBackward0>) True
        tensor(2.)
        """,
        capsys,
    )


def test_002_data_trick(capsys):
    _check(
        """
        x = torch.ones(1,requires_grad = True)
        print(x.data)
        print(x.data.requires_grad)
        y = x * 2
        x.data *= 100
        y.backward()
        print(x)
        print(x.grad)
        """,
        """
        tensor([1.])
        False
        tensor([100.], requires_grad=True)
        tensor([2.])
        """,
        capsys,
    )


# ----- 003: requires_grad, no_grad versus a plain computation (randn values masked) -----------
def _mask_numbers(text: str) -> str:
    # Column widths depend on the values (signs, digits): drop the padding with the numbers.
    return re.sub(r" *-?\d+\.\d+", "<num>", text)


def test_003_no_grad_and_or(capsys):
    torch = pytest.importorskip("torch")
    script = """
        x = torch.randn(10, 5, requires_grad = True)
        y = torch.randn(10, 5, requires_grad = False)
        z = torch.randn(10, 5, requires_grad = False)
        w = x + y + z
        print(w.requires_grad)
        x = torch.randn(2, 3, requires_grad = True)
        y = torch.randn(2, 3, requires_grad = False)
        z = torch.randn(2, 3, requires_grad = False)
        m=x+y+z
        with torch.no_grad():
            w = x + y + z
        print(w)
        print(m)
        print(w.requires_grad)
        print(w.grad_fn)
        print(w.requires_grad)
        """
    got = _mask_numbers(_run(script, tapegrad, capsys))
    assert got == _mask_numbers(_run(script, torch, capsys))
    lines = got.splitlines()
    assert lines[0] == "True"
    assert lines[1].startswith("tensor([[")
    assert "grad_fn" not in lines[2]
    assert lines[4].endswith("grad_fn=<AddBackward0>)")
    assert lines[5:] == ["False", "None", "False"]


# ----- 004: no_grad as a decorator, set_grad_enabled as a plain call ----------------------------
TUTORIAL_004 = """
x = torch.tensor([1.0], requires_grad=True)

y_1 = x * x
y_1.backward()
print("y_1:", y_1.requires_grad, x.grad)

with torch.no_grad():
    y_2 = x * x
    print("y_2:", y_2.requires_grad)


@torch.no_grad()
def demo(x):
    y_3 = x * x
    print("y_3:", y_3.requires_grad)


demo(x)

torch.set_grad_enabled(False)
y_4 = x * x
print("y_4:", y_4.requires_grad)

torch.set_grad_enabled(True)
y_5 = x * x
print("y_5:", y_5.requires_grad)
"""

OUTPUT_004 = """
y_1: True tensor([2.])
y_2: False
y_3: False
y_4: False
y_5: True
"""


def test_004_decorator_and_plain_call(capsys):
    _check(TUTORIAL_004, OUTPUT_004, capsys)


def test_004_literal(capsys):
    _check_tapegrad(TUTORIAL_004, OUTPUT_004, capsys)


def test_004_source_shape_of_no_grad(m):
    # The tutorial quotes no_grad's source: prev saved on enter, restored on exit.
    ctx = m.no_grad()
    assert ctx.prev is False
    with m.enable_grad():
        ctx.__enter__()
        assert (ctx.prev, m.is_grad_enabled()) == (True, False)
        ctx.__exit__(None, None, None)
        assert m.is_grad_enabled()


# ----- issue 3's experiments: a detached alias written in place before backward -------------
def test_a_detached_alias_modified_in_place_makes_backward_raise(capsys):
    _check(
        """
        x = torch.ones(2, requires_grad=True)
        y = x.sigmoid()
        d = y.detach()
        d.zero_()
        print(y._version, d._version)
        try:
            y.sum().backward()
        except RuntimeError as e:
            print(e)
        """,
        """
        1 1
        one of the variables needed for gradient computation has been modified by an inplace operation: [torch.FloatTensor [2]], which is output 0 of Sigmoid, is at version 1; expected version 0 instead. Hint: enable anomaly detection to find the operation that failed to compute its gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).
        """,  # noqa: E501
        capsys,
    )
