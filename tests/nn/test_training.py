"""Whole training loops against PyTorch: the classic tutorial's two loops, a checkpoint resumed
mid-training, and a model with BatchNorm and Dropout through train and eval.

Each test builds the model in torch, copies torch's initial weights into the tapegrad model, runs
both on the same data, and compares losses and weights step by step.

Twenty steps of training amplify float32 rounding: XLA and PyTorch's CPU kernels sum a matmul in
different orders (which order depends on the CPU's vector width), and a hidden unit sitting at
ReLU's kink can end up on one side in one library and on the other side in the other. The long
loops therefore run in float64, where the same update rules agree to ~1e-12 on any CPU, and the
float32 loops take a few steps, where rounding has not yet been amplified.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad

torch = pytest.importorskip("torch")

F32 = {"rtol": 2e-5, "atol": 1e-6}
F64 = {"rtol": 1e-9, "atol": 1e-12}


def _tutorial_models(seed: int = 0, dtype: str = "float64"):
    torch.manual_seed(seed)
    t_model = torch.nn.Sequential(
        torch.nn.Linear(1000, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10)
    ).to(getattr(torch, dtype))
    g_model = tapegrad.nn.Sequential(
        tapegrad.nn.Linear(1000, 100), tapegrad.nn.ReLU(), tapegrad.nn.Linear(100, 10)
    ).to(getattr(tapegrad, dtype))
    g_model.load_state_dict(
        {k: tapegrad.tensor(v.numpy()) for k, v in t_model.state_dict().items()}
    )
    return t_model, g_model


def _data(seed: int = 0, dtype: str = "float64"):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((64, 1000)).astype(dtype),
        rng.standard_normal((64, 10)).astype(dtype),
    )


def _assert_weights_match(t_model, g_model, **tol):
    t_state, g_state = t_model.state_dict(), g_model.state_dict()
    assert list(t_state) == list(g_state)
    for key in t_state:
        np.testing.assert_allclose(
            g_state[key].numpy(), t_state[key].numpy(), err_msg=key, **(tol or F32)
        )


def _manual_sgd_losses(m, model, x, y, steps: int, lr: float = 1e-4) -> list[float]:
    loss_fn = m.nn.MSELoss(reduction="sum")
    losses = []
    for _ in range(steps):
        y_pred = model(x)
        loss = loss_fn(y_pred, y)
        losses.append(loss.item())
        model.zero_grad()
        loss.backward()
        with m.no_grad():
            for param in model.parameters():
                param -= lr * param.grad
    return losses


@pytest.mark.parametrize(("dtype", "steps", "tol"), [("float32", 3, F32), ("float64", 20, F64)])
def test_the_tutorials_manual_sgd_loop_matches_torch(dtype, steps, tol):
    t_model, g_model = _tutorial_models(dtype=dtype)
    x, y = _data(dtype=dtype)
    t_losses = _manual_sgd_losses(torch, t_model, torch.tensor(x), torch.tensor(y), steps)
    g_losses = _manual_sgd_losses(tapegrad, g_model, tapegrad.tensor(x), tapegrad.tensor(y), steps)
    np.testing.assert_allclose(g_losses, t_losses, **tol)
    assert g_losses[-1] < g_losses[0]
    _assert_weights_match(t_model, g_model, **tol)
    assert all(p.is_leaf and p.requires_grad for p in g_model.parameters())
    assert all(p.dtype == getattr(tapegrad, dtype) for p in g_model.parameters())


def _optimizer_losses(m, model, x, y, steps: int, make_opt) -> list[float]:
    loss_fn = m.nn.MSELoss(reduction="sum")
    opt = make_opt(m, model)
    losses = []
    for _ in range(steps):
        y_pred = model(x)
        loss = loss_fn(y_pred, y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses


def test_the_tutorials_adam_loop_matches_torch():
    t_model, g_model = _tutorial_models()
    x, y = _data()

    def adam(m, model):
        return m.optim.Adam(model.parameters(), lr=1e-3)

    t_losses = _optimizer_losses(torch, t_model, torch.tensor(x), torch.tensor(y), 20, adam)
    g_losses = _optimizer_losses(
        tapegrad, g_model, tapegrad.tensor(x), tapegrad.tensor(y), 20, adam
    )
    np.testing.assert_allclose(g_losses, t_losses, **F64)
    assert g_losses[-1] < 0.2 * g_losses[0]
    _assert_weights_match(t_model, g_model, **F64)


OPTIMIZERS = {
    "SGD-momentum-nesterov": lambda m, p: m.optim.SGD(p, lr=1e-4, momentum=0.9, nesterov=True),
    "SGD-weight-decay": lambda m, p: m.optim.SGD(p, lr=1e-4, momentum=0.5, weight_decay=0.1),
    "Adam-amsgrad": lambda m, p: m.optim.Adam(p, lr=1e-3, amsgrad=True, weight_decay=0.01),
    "AdamW": lambda m, p: m.optim.AdamW(p, lr=1e-3),
    "RMSprop-centered": lambda m, p: m.optim.RMSprop(p, lr=1e-4, centered=True, momentum=0.5),
    "Adagrad": lambda m, p: m.optim.Adagrad(p, lr=1e-2, lr_decay=0.01),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_twenty_optimizer_steps_on_a_module_match_torch(name):
    t_model, g_model = _tutorial_models(seed=1)
    x, y = _data(seed=1)

    def make(m, model):
        return OPTIMIZERS[name](m, model.parameters())

    t_losses = _optimizer_losses(torch, t_model, torch.tensor(x), torch.tensor(y), 20, make)
    g_losses = _optimizer_losses(
        tapegrad, g_model, tapegrad.tensor(x), tapegrad.tensor(y), 20, make
    )
    np.testing.assert_allclose(g_losses, t_losses, **F64)
    _assert_weights_match(t_model, g_model, **F64)


def test_a_checkpoint_resumes_training_bit_for_bit(tmp_path):
    _, model = _tutorial_models(seed=2)
    x, y = (tapegrad.tensor(a) for a in _data(seed=2))

    def make(m, model):
        return m.optim.Adam(model.parameters(), lr=1e-3)

    opt = make(tapegrad, model)
    loss_fn = tapegrad.nn.MSELoss(reduction="sum")

    def step(model, opt):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(3):
        step(model, opt)
    path = tmp_path / "checkpoint.tg"
    tapegrad.save({"model": model.state_dict(), "optim": opt.state_dict()}, path)
    uninterrupted = [step(model, opt) for _ in range(4)]

    _, resumed = _tutorial_models(seed=5)  # different weights, overwritten by the checkpoint
    resumed_opt = make(tapegrad, resumed)
    checkpoint = tapegrad.load(path)
    resumed.load_state_dict(checkpoint["model"])
    resumed_opt.load_state_dict(checkpoint["optim"])
    assert [step(resumed, resumed_opt) for _ in range(4)] == uninterrupted
    for a, b in zip(model.parameters(), resumed.parameters(), strict=True):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def _convnet(m):
    return m.nn.Sequential(
        m.nn.Conv2d(1, 4, 3, padding=1),
        m.nn.BatchNorm2d(4),
        m.nn.ReLU(),
        m.nn.MaxPool2d(2),
        m.nn.Flatten(),
        m.nn.Linear(4 * 4 * 4, 16),
        m.nn.BatchNorm1d(16),
        m.nn.Dropout(0.0),
        m.nn.Linear(16, 3),
    )


def test_batchnorm_training_and_eval_through_a_model_match_torch():
    torch.manual_seed(3)
    t_model = _convnet(torch)
    g_model = _convnet(tapegrad)
    g_model.load_state_dict(
        {k: tapegrad.tensor(v.numpy()) for k, v in t_model.state_dict().items()}
    )
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
    target = rng.integers(0, 3, 8)

    def train(m, model, steps):
        opt = m.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loss_fn = m.nn.CrossEntropyLoss()
        xb, yb = m.tensor(x), m.tensor(target)
        model.train()
        losses = []
        for _ in range(steps):
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        model.eval()
        with m.no_grad():
            return losses, model(xb).numpy()

    t_losses, t_eval = train(torch, t_model, 10)
    g_losses, g_eval = train(tapegrad, g_model, 10)
    np.testing.assert_allclose(g_losses, t_losses, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g_eval, t_eval, rtol=1e-4, atol=1e-5)
    _assert_weights_match(t_model, g_model, rtol=1e-4, atol=1e-5)  # running stats included
    assert g_model[1].num_batches_tracked.item() == 10


def test_dropout_is_active_in_training_and_the_identity_in_eval():
    tapegrad.manual_seed(0)
    model = tapegrad.nn.Sequential(tapegrad.nn.Dropout(0.5))
    x = tapegrad.ones(2000)
    train_out = model(x)
    kept = train_out.numpy() != 0
    assert 0.45 < kept.mean() < 0.55
    np.testing.assert_allclose(train_out.numpy()[kept], 2.0)
    assert not np.array_equal(model(x).numpy(), train_out.numpy())  # a new mask every call
    model.eval()
    assert np.array_equal(model(x).numpy(), x.numpy())


SCHEDULERS = {
    "StepLR": lambda m, opt: m.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5),
    "MultiStepLR": lambda m, opt: m.optim.lr_scheduler.MultiStepLR(opt, [3, 8, 15], gamma=0.3),
    "ExponentialLR": lambda m, opt: m.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9),
    "CosineAnnealingLR": lambda m, opt: m.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7),
    "LambdaLR": lambda m, opt: m.optim.lr_scheduler.LambdaLR(opt, lambda e: 1 / (1 + e)),
    "OneCycleLR": lambda m, opt: m.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=20),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_twenty_scheduled_steps_match_torch(name):
    t_model, g_model = _tutorial_models(seed=4)
    x, y = _data(seed=4)

    def run(m, model):
        opt = m.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        sched = SCHEDULERS[name](m, opt)
        loss_fn = m.nn.MSELoss(reduction="sum")
        xb, yb = m.tensor(x), m.tensor(y)
        out = []
        for _ in range(20):
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            out.append((loss.item(), sched.get_last_lr()[0]))
        return out

    t_out, g_out = run(torch, t_model), run(tapegrad, g_model)
    assert [lr for _, lr in g_out] == [lr for _, lr in t_out]
    np.testing.assert_allclose([v for v, _ in g_out], [v for v, _ in t_out], **F64)
    _assert_weights_match(t_model, g_model, **F64)
