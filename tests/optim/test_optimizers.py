"""Each optimizer against PyTorch's: 20 training steps of a small two-layer model from the same
initial weights, comparing the loss, every weight and every state tensor at each step; and the
performance contract (one kernel per group, no recompilation when hyperparameters change)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import tapegrad  # noqa: E402
from tapegrad.optim import optimizer as optimizer_module  # noqa: E402

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.5, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6, "maximize": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.9, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.5, "centered": True, "alpha": 0.9}),
    ("Adagrad", {"lr": 0.1}),
    (
        "Adagrad",
        {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.1},
    ),
]


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((8, 5)).astype(np.float32),
        "y": rng.standard_normal((8, 3)).astype(np.float32),
        "w1": (rng.standard_normal((5, 6)) * 0.5).astype(np.float32),
        "b1": (rng.standard_normal(6) * 0.1).astype(np.float32),
        "w2": (rng.standard_normal((6, 3)) * 0.5).astype(np.float32),
        "b2": (rng.standard_normal(3) * 0.1).astype(np.float32),
        "unused": rng.standard_normal(4).astype(np.float32),
    }


def make_params(m, data):
    names = ("w1", "b1", "w2", "b2", "unused")
    return [m.tensor(data[n], requires_grad=True) for n in names]


def loss_fn(m, params, x, y):
    w1, b1, w2, b2, _ = params
    h = m.relu(m.matmul(x, w1) + b1)
    return ((m.matmul(h, w2) + b2 - y) ** 2).mean()


def train(m, name, kwargs, steps=20, data=None):
    """Losses, weights and state after each step. The unused parameter never gets a grad."""
    data = make_data() if data is None else data
    params = make_params(m, data)
    x, y = m.tensor(data["x"]), m.tensor(data["y"])
    opt = getattr(m.optim, name)(params, **kwargs)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(m, params, x, y)
        loss.backward()
        opt.step()
        state = {
            i: {k: (str(v.dtype), tuple(v.shape), np.array(v.tolist())) for k, v in s.items()}
            for i, s in opt.state_dict()["state"].items()
        }
        history.append((loss.item(), [np.array(p.tolist()) for p in params], state))
    return history


def _id(case):
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


def assert_close(actual, expected, what):
    """float32 agreement, relative to the tensor's scale: elements near zero of an ill-conditioned
    quantity (RMSprop's g / sqrt(v) for a tiny g) differ by rounding relative to the largest."""
    expected = np.asarray(expected)
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=2e-5, atol=2e-5 * scale + 1e-7, err_msg=what)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_training_matches_torch(case):
    name, kwargs = case
    expected = train(torch, name, kwargs)
    actual = train(tapegrad, name, kwargs)
    for step, ((el, ew, es), (al, aw, as_)) in enumerate(zip(expected, actual, strict=True)):
        assert_close(al, el, f"loss at step {step}")
        for i, (e, a) in enumerate(zip(ew, aw, strict=True)):
            assert_close(a, e, f"param {i} at step {step}")
        assert as_.keys() == es.keys()
        for i in es:
            assert list(as_[i]) == list(es[i])  # the same keys in the same order
            for k, (edt, eshape, evals) in es[i].items():
                adt, ashape, avals = as_[i][k]
                assert (adt, ashape) == (edt, eshape), (i, k)
                assert_close(avals, evals, f"state {i} {k} at step {step}")
    # the parameter without a gradient is untouched (and has no state but Adagrad's initial one)
    np.testing.assert_array_equal(actual[-1][1][4], make_data()["unused"])


def test_param_groups_with_their_own_options_match_torch():
    def run(m):
        data = make_data(1)
        params = make_params(m, data)
        x, y = m.tensor(data["x"]), m.tensor(data["y"])
        opt = m.optim.Adam(
            [{"params": params[:2], "lr": 0.05, "amsgrad": True}, {"params": params[2:]}],
            lr=0.01,
            betas=(0.85, 0.99),
        )
        for _ in range(10):
            opt.zero_grad()
            loss_fn(m, params, x, y).backward()
            opt.step()
        return [np.array(p.tolist()) for p in params], sorted(
            (i, sorted(s)) for i, s in opt.state_dict()["state"].items()
        )

    ew, es = run(torch)
    aw, as_ = run(tapegrad)
    assert as_ == es
    for e, a in zip(ew, aw, strict=True):
        assert_close(a, e, "param")


def test_float64_parameters_match_torch():
    def run(m):
        w = m.tensor(np.linspace(-1, 1, 6).reshape(2, 3), dtype=m.float64, requires_grad=True)
        opt = m.optim.Adam([w], lr=0.1)
        for _ in range(5):
            opt.zero_grad()
            (w**3).sum().backward()
            opt.step()
        step = opt.state[w]["step"]
        return np.array(w.tolist()), str(opt.state[w]["exp_avg"].dtype), str(step.dtype)

    ew, *edtypes = run(torch)
    aw, *adtypes = run(tapegrad)
    np.testing.assert_allclose(aw, ew, rtol=1e-12)
    assert adtypes == edtypes == ["torch.float64", "torch.float32"]


def test_closure_runs_with_grad_enabled_and_its_loss_is_returned(m):
    w = m.tensor([1.0, 2.0], requires_grad=True)
    opt = m.optim.SGD([w], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with m.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0
    assert w.tolist() == [0.0, 0.0]


def test_step_bumps_the_parameter_version(m):
    w = m.tensor([1.0, 2.0], requires_grad=True)
    opt = m.optim.SGD([w], lr=0.5)
    (w * w).sum().backward()
    before = w._version
    opt.step()
    assert w._version > before
    assert w.requires_grad
    assert w.grad_fn is None


def test_changing_hyperparameters_does_not_recompile():
    w = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = tapegrad.tensor([0.5], requires_grad=True)
    opt = tapegrad.optim.Adam([w, b], lr=0.1)

    def step():
        opt.zero_grad()
        ((w * w).sum() + (b * b).sum()).backward()
        opt.step()

    step()
    traces = optimizer_module.TRACES["Adam"]
    for i in range(5):
        opt.param_groups[0]["lr"] = 0.1 / (i + 2)
        opt.param_groups[0]["betas"] = (0.9 - 0.01 * i, 0.999)
        opt.param_groups[0]["eps"] = 1e-8 * (i + 1)
        step()
    opt.param_groups[0]["lr"] = 1  # an int is passed as the same float64 array
    step()
    assert optimizer_module.TRACES["Adam"] == traces


def test_a_scheduler_does_not_recompile_sgd_with_cycled_momentum():
    w = tapegrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    opt = tapegrad.optim.SGD([w], lr=0.1, momentum=0.9)
    sched = tapegrad.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=10)
    counts = []
    for _ in range(8):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        sched.step()
        counts.append(optimizer_module.TRACES["SGD"])
    # the first step (no momentum buffer yet) and the second compile; the rest reuse them
    assert counts[2:] == [counts[1]] * 6


def test_one_kernel_covers_all_parameters_of_a_group():
    params = [tapegrad.ones(n, requires_grad=True) for n in (2, 3, 4, 5)]
    opt = tapegrad.optim.RMSprop(params, lr=0.1, centered=True, momentum=0.3, weight_decay=0.2)
    loss = sum((p * p).sum() for p in params)
    loss.backward()
    before = optimizer_module.TRACES["RMSprop"]
    opt.step()
    opt.step()
    assert optimizer_module.TRACES["RMSprop"] - before <= 1


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_step_runs_under_a_jax_trace(name):
    """A later tapegrad.compile runs step() with tracers inside the arrays: it must not read
    values back to the host, and must compute what the eager step computes."""
    import jax

    from tapegrad._tensor import _wrap

    kwargs = {"lr": 0.1, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.1}
    w0 = np.array([1.0, -2.0, 3.0], np.float32)
    g0 = np.array([0.5, 0.25, -1.0], np.float32)

    def two_steps(w_array, g_array):
        w = _wrap(w_array).requires_grad_()
        opt = getattr(tapegrad.optim, name)([w], **kwargs)
        for _ in range(2):
            w.grad = _wrap(g_array)
            opt.step()
        return w._data

    traced = jax.jit(two_steps)(w0, g0)
    eager = two_steps(jax.numpy.asarray(w0), jax.numpy.asarray(g0))
    np.testing.assert_array_equal(np.asarray(traced), np.asarray(eager))
