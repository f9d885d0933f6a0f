"""Grad modes: no_grad, enable_grad, set_grad_enabled, inference_mode — PyTorch is the oracle.

Most tests take the fixture ``m``, which is ``torch`` and then ``tapegrad``: the same assertions
(literal values, flags and messages) are proved on PyTorch and required of tapegrad.
"""

from __future__ import annotations

import contextlib
import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad


def _modes(m) -> tuple[bool, bool]:
    return m.is_grad_enabled(), m.is_inference_mode_enabled()


def _leaf(m):
    return m.tensor([1.0, 2.0], requires_grad=True)


# ----- defaults and the public names ------------------------------------------------------
def test_defaults(m):
    assert _modes(m) == (True, False)
    x = _leaf(m)
    assert (x * 2).requires_grad


def test_public_names(m):
    for name in ("no_grad", "enable_grad", "set_grad_enabled", "inference_mode"):
        assert getattr(m.autograd, name) is getattr(m, name)
        assert getattr(m.autograd.grad_mode, name) is getattr(m, name)


# ----- no_grad / enable_grad / set_grad_enabled as context managers -----------------------
def test_no_grad_context(m):
    x = _leaf(m)
    with m.no_grad():
        assert _modes(m) == (False, False)
        y = x * 2
    assert (y.requires_grad, y.grad_fn, y.is_leaf) == (False, None, True)
    assert _modes(m) == (True, False)
    assert (x * 2).requires_grad


def test_no_grad_enter_returns_none(m):
    with m.no_grad() as a, m.enable_grad() as b, m.set_grad_enabled(False) as c:
        assert (a, b, c) == (None, None, None)
    with m.inference_mode() as d:
        assert d is None


def test_no_grad_does_not_affect_factories(m):
    with m.no_grad():
        w = m.ones(2, requires_grad=True)
        y = w * 2
    assert (w.requires_grad, w.is_leaf) == (True, True)
    assert not y.requires_grad


def test_enable_grad_inside_no_grad(m):
    x = _leaf(m)
    with m.no_grad():
        with m.enable_grad():
            assert m.is_grad_enabled()
            y = x * 2
        assert not m.is_grad_enabled()
        z = x * 2
    assert y.requires_grad
    assert y.grad_fn.name() == "MulBackward0"
    assert not z.requires_grad
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_no_grad_inside_enable_grad(m):
    with m.enable_grad():
        with m.no_grad():
            assert not m.is_grad_enabled()
        assert m.is_grad_enabled()


def test_same_instance_reentered(m):
    ctx = m.no_grad()
    with m.enable_grad():
        with ctx:
            assert not m.is_grad_enabled()
        assert m.is_grad_enabled()
        with ctx:
            assert not m.is_grad_enabled()
        assert m.is_grad_enabled()


@pytest.mark.parametrize("mode", [True, False])
def test_set_grad_enabled_context(m, mode):
    x = _leaf(m)
    for outer in (m.no_grad, m.enable_grad):
        with outer():
            before = m.is_grad_enabled()
            with m.set_grad_enabled(mode):
                assert m.is_grad_enabled() is mode
                assert (x * 2).requires_grad is mode
            assert m.is_grad_enabled() is before


def test_set_grad_enabled_plain_call(m):
    x = _leaf(m)
    try:
        m.set_grad_enabled(False)
        assert not m.is_grad_enabled()
        assert not (x * 2).requires_grad
        m.set_grad_enabled(True)
        assert (x * 2).requires_grad
    finally:
        m.set_grad_enabled(True)


def test_set_grad_enabled_takes_effect_on_construction(m):
    ctx = m.set_grad_enabled(False)
    assert not m.is_grad_enabled()
    with ctx:
        assert not m.is_grad_enabled()
    assert m.is_grad_enabled()  # __exit__ restores the mode seen at construction


def test_set_grad_enabled_repr(m):
    ctx = m.set_grad_enabled(False)
    m.set_grad_enabled(True)
    assert repr(ctx).endswith(".set_grad_enabled(mode=False)")
    assert str(ctx) == repr(ctx)


@pytest.mark.parametrize(
    ("value", "typename"), [(1, "int"), (0, "int"), (None, "NoneType"), ("yes", "str")]
)
def test_set_grad_enabled_needs_a_bool(m, value, typename):
    msg = f"set_grad_enabled(): argument 'enabled' (position 1) must be bool, not {typename}"
    with pytest.raises(TypeError, match=re.escape(msg)):
        m.set_grad_enabled(value)
    assert m.is_grad_enabled()


def test_set_grad_enabled_rejects_numpy_bool(m):
    np = pytest.importorskip("numpy")
    with pytest.raises(TypeError, match=r"must be bool, not numpy\.bool$"):
        m.set_grad_enabled(np.bool_(False))


# ----- restored on exceptions -------------------------------------------------------------
def _contexts(m):
    return {
        "no_grad": m.no_grad,
        "enable_grad": m.enable_grad,
        "set_grad_enabled(False)": lambda: m.set_grad_enabled(False),
        "inference_mode": m.inference_mode,
        "inference_mode(False)": lambda: m.inference_mode(False),
    }


@pytest.mark.parametrize(
    "name",
    [
        "no_grad",
        "enable_grad",
        "set_grad_enabled(False)",
        "inference_mode",
        "inference_mode(False)",
    ],
)
def test_context_restores_on_exception(m, name):
    for outer in (contextlib.nullcontext, m.no_grad, m.inference_mode):
        with outer():
            before = _modes(m)
            with pytest.raises(ValueError, match="boom"), _contexts(m)[name]():
                raise ValueError("boom")
            assert _modes(m) == before


# ----- decorators -------------------------------------------------------------------------
# form -> modes inside the decorated function, when called from the default modes
DECORATOR_FORMS = {
    "@no_grad": (lambda m: m.no_grad, (False, False)),
    "@no_grad()": (lambda m: m.no_grad(), (False, False)),
    "@enable_grad": (lambda m: m.enable_grad, (True, False)),
    "@enable_grad()": (lambda m: m.enable_grad(), (True, False)),
    "@set_grad_enabled(False)": (lambda m: m.set_grad_enabled(False), (False, False)),
    "@set_grad_enabled(True)": (lambda m: m.set_grad_enabled(True), (True, False)),
    "@inference_mode": (lambda m: m.inference_mode, (False, True)),
    "@inference_mode()": (lambda m: m.inference_mode(), (False, True)),
    "@inference_mode(False)": (lambda m: m.inference_mode(False), (True, False)),
}


@pytest.mark.parametrize("form", list(DECORATOR_FORMS))
def test_decorator_on_function(m, form):
    make, inside = DECORATOR_FORMS[form]

    @make(m)
    def f(x, *, k=1):
        """doc"""
        return _modes(m), (x * k).requires_grad

    assert _modes(m) == (True, False)  # decorating leaves the current mode alone
    assert (f.__name__, f.__doc__) == ("f", "doc")
    x = _leaf(m)
    assert f(x, k=3) == (inside, inside == (True, False))
    assert _modes(m) == (True, False)
    assert f(x) == (inside, inside == (True, False))  # usable for many calls


def test_tutorial_004_no_grad_decorator(m):
    x = m.tensor([1.0], requires_grad=True)

    @m.no_grad()
    def demo(x):
        return (x * x).requires_grad

    assert demo(x) is False
    assert (x * x).requires_grad


@pytest.mark.parametrize("form", ["@no_grad", "@enable_grad", "@inference_mode"])
def test_decorator_restores_on_exception(m, form):
    make, _ = DECORATOR_FORMS[form]

    @make(m)
    def f():
        raise KeyError("inside")

    for outer in (contextlib.nullcontext, m.no_grad):
        with outer():
            before = _modes(m)
            with pytest.raises(KeyError, match="inside"):
                f()
            assert _modes(m) == before


def test_decorator_is_cloned_per_call(m):
    # A shared instance would save the wrong previous mode on recursion.
    seen = []

    @m.enable_grad()
    def f(n):
        seen.append(m.is_grad_enabled())
        if n:
            with m.no_grad():
                f(n - 1)
                seen.append(m.is_grad_enabled())

    with m.no_grad():
        f(2)
        assert not m.is_grad_enabled()
    assert seen == [True, True, True, False, False]


def test_enable_grad_decorator_inside_no_grad(m):
    x = _leaf(m)

    @m.enable_grad
    def doubler(x):
        return x * 2

    with m.no_grad():
        z = doubler(x)
    assert z.requires_grad


def test_decorated_method(m):
    class Model:
        @m.no_grad()
        def predict(self, x):
            return (x * 2).requires_grad

    assert Model().predict(_leaf(m)) is False


def test_decorating_a_class_warns(m):
    with pytest.warns(FutureWarning, match="Decorating classes is deprecated"):

        @m.no_grad()
        class A:
            def __init__(self):
                self.grad = m.is_grad_enabled()

    a = A()
    assert a.grad is False
    assert A.__name__ == "<lambda>"


# ----- decorated generator functions -------------------------------------------------------
@pytest.mark.parametrize(
    ("form", "outer"),
    [
        ("@no_grad", "default"),
        ("@no_grad()", "default"),
        ("@enable_grad", "no_grad"),
        ("@set_grad_enabled(False)", "default"),
        ("@inference_mode", "default"),
        ("@inference_mode(False)", "inference_mode"),
    ],
)
def test_decorated_generator(m, form, outer):
    make, inside = DECORATOR_FORMS[form]
    x = _leaf(m)

    @make(m)
    def gen(n):
        """gen doc"""
        total = 0
        for _ in range(n):
            got = yield _modes(m), (x * 2).requires_grad
            total += got or 0
        return total

    assert gen.__name__ == "gen"
    outer_ctx = {"default": contextlib.nullcontext, "no_grad": m.no_grad}.get(outer)
    with outer_ctx() if outer_ctx else m.inference_mode():
        caller = _modes(m)
        g = gen(3)
        assert _modes(m) == caller  # creating the generator runs nothing
        assert next(g) == (inside, inside == (True, False))
        assert _modes(m) == caller  # the caller's mode between two resumptions
        assert g.send(5) == (inside, inside == (True, False))
        assert _modes(m) == caller
        assert g.send(7) == (inside, inside == (True, False))
        with pytest.raises(StopIteration) as stop:
            g.send(1)
        assert stop.value.value == 13  # the generator's return value
        assert _modes(m) == caller


def test_generator_throw_and_close(m):
    log = []

    @m.no_grad()
    def gen():
        try:
            yield "first"
        except ValueError as e:
            log.append(("caught", str(e), m.is_grad_enabled()))
            yield "after throw"
        finally:
            log.append(("finally", m.is_grad_enabled()))

    g = gen()
    assert next(g) == "first"
    assert g.throw(ValueError("bad")) == "after throw"
    assert m.is_grad_enabled()
    g.close()
    assert m.is_grad_enabled()
    assert log == [("caught", "bad", False), ("finally", False)]


def test_generator_throw_uncaught_propagates(m):
    @m.no_grad
    def gen():
        yield 1
        yield 2

    g = gen()
    next(g)
    with pytest.raises(KeyError):
        g.throw(KeyError("k"))
    assert m.is_grad_enabled()
    with pytest.raises(StopIteration):
        next(g)


def test_generator_exception_inside_body_restores(m):
    @m.inference_mode()
    def gen():
        yield m.is_inference_mode_enabled()
        raise RuntimeError("in body")

    g = gen()
    assert next(g) is True
    assert not m.is_inference_mode_enabled()
    with pytest.raises(RuntimeError, match="in body"):
        next(g)
    assert _modes(m) == (True, False)


def test_generator_yield_from_and_list(m):
    @m.no_grad()
    def inner():
        yield m.is_grad_enabled()
        return "done"

    def outer():
        result = yield from inner()
        yield (result, m.is_grad_enabled())

    assert list(outer()) == [False, ("done", True)]
    assert list(inner()) == [False]


# ----- inference_mode ---------------------------------------------------------------------
def test_inference_mode_basics(m):
    x = _leaf(m)
    with m.inference_mode():
        assert _modes(m) == (False, True)
        y = x * 2
        z = m.ones(2)
        w = m.ones(2, requires_grad=True)
        assert (y.requires_grad, y.is_inference()) == (False, True)
    assert _modes(m) == (True, False)
    assert (z.is_inference(), w.is_inference(), w.requires_grad) == (True, True, True)
    assert not x.is_inference()
    assert not (x * 2).is_inference()


def test_inference_mode_false_inside(m):
    x = _leaf(m)
    with m.inference_mode():
        with m.inference_mode(False):
            assert _modes(m) == (True, False)
            y = x * 2
            n = m.ones(2)
        assert _modes(m) == (False, True)
    assert (y.requires_grad, y.grad_fn.name(), y.is_inference()) == (True, "MulBackward0", False)
    assert not n.is_inference()


def test_inference_mode_false_enables_grad(m):
    # PyTorch's InferenceMode(false) guard sets grad mode on, even inside no_grad.
    with m.no_grad():
        with m.inference_mode(False):
            assert _modes(m) == (True, False)
        assert _modes(m) == (False, False)


def test_inference_mode_restores_grad_mode(m):
    with m.no_grad():
        with m.inference_mode():
            assert _modes(m) == (False, True)
        assert _modes(m) == (False, False)


def test_enable_grad_inside_inference_mode_records_nothing(m):
    x = _leaf(m)
    with m.inference_mode(), m.enable_grad():
        assert _modes(m) == (True, True)
        y = x * 2
    assert (y.requires_grad, y.grad_fn, y.is_inference()) == (False, None, True)


def test_no_grad_tensors_are_not_inference(m):
    with m.no_grad():
        t = m.ones(2)
    assert not t.is_inference()


def test_inference_tensor_in_linear_op_outside(m):
    x = _leaf(m)
    with m.inference_mode():
        c = m.ones(2)
    y = x + c  # AddBackward0 saves nothing: allowed
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    assert not y.is_inference()


def test_inference_tensor_saved_for_backward_raises(m):
    x = _leaf(m)
    with m.inference_mode():
        c = m.ones(2)
    with pytest.raises(RuntimeError, match=r"^Inference tensors cannot be saved for backward\."):
        x * c


def test_inference_tensor_saved_for_backward_message(m):
    x = _leaf(m)
    with m.inference_mode():
        c = m.ones(2)
    msg = (
        "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
        "inference mode in computation tracked by autograd. To work around this, you can make a "
        "clone to get a normal tensor and use it in autograd, or use `torch.no_grad()` instead "
        "of `torch.inference_mode()`."
    )
    with pytest.raises(RuntimeError) as info:
        x * c
    assert str(info.value) == msg


def test_inference_tensor_requires_grad_outside(m):
    with m.inference_mode():
        c = m.ones(2)
    msg = "Setting requires_grad=True on inference tensor outside InferenceMode is not allowed."
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        c.requires_grad = True
    clone = c.clone()
    assert not clone.is_inference()
    clone.requires_grad_()
    (clone * clone).sum().backward()
    assert clone.grad.tolist() == [2.0, 2.0]


def test_inference_tensor_inplace_outside(m):
    with m.inference_mode():
        c = m.ones(2)
    msg = (
        "Inplace update to inference tensor outside InferenceMode is not allowed.You can make a "
        "clone to get a normal tensor before doing inplace update.See "
        "https://github.com/pytorch/rfcs/pull/17 for more details."
    )
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        c.add_(1)


def test_inplace_on_leaf_allowed_inside_inference_mode(m):
    x = _leaf(m)
    with m.inference_mode():
        x.add_(1)
    assert x.tolist() == [2.0, 3.0]
    assert (x.requires_grad, x.is_leaf, x.is_inference()) == (True, True, False)


# ----- requires_grad of results inside each mode ------------------------------------------
RESULT_OPS = {
    "mul": lambda m, x: x * 2,
    "add": lambda m, x: x + x,
    "sum": lambda m, x: x.sum(),
    "exp": lambda m, x: x.exp(),
    "clone": lambda m, x: x.clone(),
    "detach": lambda m, x: x.detach(),
    "data": lambda m, x: x.data,
    "double": lambda m, x: x.double(),
    "max_dim": lambda m, x: x.view(2, 2).max(1)[0],
    "factory": lambda m, x: m.ones(1, requires_grad=True),
    "factory_plain": lambda m, x: m.zeros(1),
}
VIEW_OPS = {
    "view": lambda m, x: x.view(2, 2),
    "slice": lambda m, x: x[1:],
    "select": lambda m, x: x[0],
    "t": lambda m, x: x.view(2, 2).t(),
    "unbind": lambda m, x: x.unbind()[0],
    "expand": lambda m, x: x.view(4, 1).expand(4, 2),
}


def _mode_ctx(m, name):
    return {
        "plain": contextlib.nullcontext,
        "no_grad": m.no_grad,
        "enable_in_no_grad": lambda: _nested(m.no_grad(), m.enable_grad()),
        "set_grad_enabled(False)": lambda: m.set_grad_enabled(False),
        "inference_mode": m.inference_mode,
        "inference_false_in_inference": lambda: _nested(
            m.inference_mode(), m.inference_mode(False)
        ),
        "enable_in_inference": lambda: _nested(m.inference_mode(), m.enable_grad()),
    }[name]()


@contextlib.contextmanager
def _nested(a, b):
    with a, b:
        yield


MODE_NAMES = [
    "plain",
    "no_grad",
    "enable_in_no_grad",
    "set_grad_enabled(False)",
    "inference_mode",
    "inference_false_in_inference",
    "enable_in_inference",
]


def _describe(m, op, mode):
    x = m.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    with _mode_ctx(m, mode):
        y = op(m, x)
    gf = y.grad_fn
    return y.requires_grad, y.is_leaf, None if gf is None else gf.name(), y.is_inference()


@pytest.mark.parametrize("mode", MODE_NAMES)
@pytest.mark.parametrize("op", list(RESULT_OPS))
def test_result_flags_match_torch(mode, op):
    torch = pytest.importorskip("torch")
    fn = RESULT_OPS[op]
    assert _describe(tapegrad, fn, mode) == _describe(torch, fn, mode)


@pytest.mark.parametrize("mode", ["plain", "enable_in_no_grad", "inference_false_in_inference"])
@pytest.mark.parametrize("op", list(VIEW_OPS))
def test_view_flags_match_torch_when_taping(mode, op):
    torch = pytest.importorskip("torch")
    fn = VIEW_OPS[op]
    assert _describe(tapegrad, fn, mode) == _describe(torch, fn, mode)


@pytest.mark.parametrize("mode", ["no_grad", "set_grad_enabled(False)", "inference_mode"])
@pytest.mark.parametrize("op", list(VIEW_OPS))
def test_view_flags_match_torch_when_not_taping(mode, op):
    # PyTorch: a view made without taping keeps its base's requires_grad (a leaf, no grad_fn),
    # and a view of a normal tensor made in inference_mode is not an inference tensor.
    torch = pytest.importorskip("torch")
    fn = VIEW_OPS[op]
    assert _describe(tapegrad, fn, mode) == _describe(torch, fn, mode)


# ----- nesting, as a property --------------------------------------------------------------
_MODE_STEPS = [
    "no_grad",
    "enable_grad",
    "set_grad_enabled(True)",
    "set_grad_enabled(False)",
    "inference_mode",
    "inference_mode(False)",
]


def _step_ctx(m, step):
    return {
        "no_grad": m.no_grad,
        "enable_grad": m.enable_grad,
        "set_grad_enabled(True)": lambda: m.set_grad_enabled(True),
        "set_grad_enabled(False)": lambda: m.set_grad_enabled(False),
        "inference_mode": m.inference_mode,
        "inference_mode(False)": lambda: m.inference_mode(False),
    }[step]()


def _trace(m, steps):
    """(modes, result flags) at every depth of the nested steps, entering and leaving."""
    x = m.tensor([1.0, 2.0], requires_grad=True)
    out = []

    def probe():
        y = x * 2
        out.append((_modes(m), y.requires_grad, y.is_inference()))

    def enter(i):
        probe()
        if i == len(steps):
            return
        with _step_ctx(m, steps[i]):
            enter(i + 1)
        probe()

    enter(0)
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_MODE_STEPS), max_size=5))
def test_nesting_matches_torch(steps):
    torch = pytest.importorskip("torch")
    assert _trace(tapegrad, steps) == _trace(torch, steps)


# ----- per-thread state ---------------------------------------------------------------------
def _in_thread(fn):
    result = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as e:  # re-raised in the calling thread
            result["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_new_thread_starts_with_grad_enabled(m):
    x = _leaf(m)
    with m.no_grad():
        assert _in_thread(lambda: (_modes(m), (x * 2).requires_grad)) == ((True, False), True)
        assert not m.is_grad_enabled()
    with m.inference_mode():
        assert _in_thread(lambda: _modes(m)) == (True, False)


def test_thread_changes_do_not_leak(m):
    def body():
        m.set_grad_enabled(False)
        with m.inference_mode():
            pass
        return _modes(m)

    assert _in_thread(body) == (False, False)
    assert _modes(m) == (True, False)


def test_threads_run_independent_modes(m):
    # Two threads in different modes at the same time, each seeing its own.
    barrier = threading.Barrier(2)
    results = {}

    def worker(name, ctx):
        with ctx():
            barrier.wait()
            results[name] = _modes(m)
            barrier.wait()

    threads = [
        threading.Thread(target=worker, args=("off", m.no_grad)),
        threading.Thread(target=worker, args=("inference", m.inference_mode)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"off": (False, False), "inference": (False, True)}


def test_decorated_function_in_thread(m):
    @m.no_grad()
    def f():
        return m.is_grad_enabled()

    assert _in_thread(f) is False
    assert m.is_grad_enabled()
