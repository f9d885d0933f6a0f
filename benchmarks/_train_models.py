"""The benchmarked models and their training steps, written once per framework: PyTorch-style
code run on ``torch`` or ``tapegrad`` (eager, or whole steps under ``tapegrad.compile``), and the
same computation in pure JAX (``jax.jit`` of ``value_and_grad`` plus a hand-written update).

Every competitor starts from the same NumPy data and initial weights (PyTorch's default Linear
init, drawn once), so their losses agree step for step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

ADAM = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}


@dataclass(frozen=True)
class ModelSpec:
    """One benchmarked model: an MLP of ``sizes`` with ReLU between its Linear layers."""

    key: str  # the name ``--models`` picks it by
    title: str
    batch: int
    sizes: tuple[int, ...]
    loss: str  # "mse_sum", "mse_mean" or "cross_entropy"
    steps: tuple[tuple[str, float], ...]  # (update rule, learning rate)
    n: int  # steps per timing sample
    repeats: int  # timing samples, the best is reported
    weight_gain: float = 1.0  # weights uniform in +-gain/sqrt(fan_in); 1 is PyTorch's default


MODELS = {
    spec.key: spec
    for spec in (
        ModelSpec(
            "tutorial",
            "tutorial MLP: batch 64, 1000 -> 100 -> 10, ReLU, MSE summed",
            64,
            (1000, 100, 10),
            "mse_sum",
            (("manual SGD", 1e-4), ("Adam", ADAM["lr"])),
            n=20,
            repeats=50,
        ),
        ModelSpec(
            "compute",
            "compute-bound MLP: batch 512, 784 -> 1024 -> 1024 -> 10, ReLU, CrossEntropy",
            512,
            (784, 1024, 1024, 10),
            "cross_entropy",
            (("Adam", ADAM["lr"]),),
            n=3,
            repeats=7,
        ),
        ModelSpec(
            "overhead",
            "overhead-bound MLP: batch 1, 16 -> 32 -> ... -> 32 -> 1 (20 Linear), ReLU, MSE",
            1,
            (16, *[32] * 19, 1),
            "mse_mean",
            (("SGD", 1e-2),),
            n=20,
            repeats=50,
            # He init: with PyTorch's default the signal dies in 20 layers, the output is the
            # last bias and the loss check could not tell two computations apart.
            weight_gain=6**0.5,
        ),
    )
}


def make_data(spec: ModelSpec, seed: int = 0):
    """Inputs, targets and initial weights (PyTorch's layout, weight out x in, and by default its
    init: weight and bias uniform in +-1/sqrt(fan_in))."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((spec.batch, spec.sizes[0])).astype(np.float32)
    if spec.loss == "cross_entropy":
        y = rng.integers(0, spec.sizes[-1], spec.batch, dtype=np.int64)
    else:
        y = rng.standard_normal((spec.batch, spec.sizes[-1])).astype(np.float32)
    weights = []
    for fan_in, fan_out in zip(spec.sizes[:-1], spec.sizes[1:], strict=True):
        bound = 1 / np.sqrt(fan_in)
        gain = spec.weight_gain
        weights.append(
            rng.uniform(-gain * bound, gain * bound, (fan_out, fan_in)).astype(np.float32)
        )
        weights.append(rng.uniform(-bound, bound, (fan_out,)).astype(np.float32))
    return x, y, weights


# ----- PyTorch-style code, run on torch or tapegrad -------------------------------------------
def torch_like_step(m, spec: ModelSpec, rule: str, lr: float, weights) -> Callable:
    """A fresh model and optimizer for ``m`` = torch or tapegrad, and ``step_fn(x, y)``: forward,
    ``zero_grad``, ``loss.backward()``, the update; it returns the loss."""
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(spec.sizes[:-1], spec.sizes[1:], strict=True)):
        if i:
            layers.append(m.nn.ReLU())
        layers.append(m.nn.Linear(fan_in, fan_out))
    model = m.nn.Sequential(*layers)
    with m.no_grad():
        for p, w in zip(model.parameters(), weights, strict=True):
            p.copy_(m.tensor(w))
    loss_fn = {
        "mse_sum": lambda: m.nn.MSELoss(reduction="sum"),
        "mse_mean": m.nn.MSELoss,
        "cross_entropy": m.nn.CrossEntropyLoss,
    }[spec.loss]()

    if rule == "manual SGD":  # the tutorial's loop

        def step_fn(x, y):
            loss = loss_fn(model(x), y)
            model.zero_grad()
            loss.backward()
            with m.no_grad():
                for p in model.parameters():
                    p -= lr * p.grad
            return loss

        return step_fn

    if rule == "Adam":
        opt = m.optim.Adam(model.parameters(), lr=lr, betas=ADAM["betas"], eps=ADAM["eps"])
    else:
        opt = m.optim.SGD(model.parameters(), lr=lr)

    def step_fn(x, y):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return step_fn


# ----- pure JAX ----------------------------------------------------------------------------------
def _forward(params, x):
    for i, (w, b) in enumerate(params):
        if i:
            x = jax.nn.relu(x)
        x = x @ w.T + b
    return x


def _loss(kind: str):
    def loss(params, x, y):
        out = _forward(params, x)
        if kind == "cross_entropy":
            logp = jax.nn.log_softmax(out, axis=-1)
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))
        sq = (out - y) ** 2
        return jnp.sum(sq) if kind == "mse_sum" else jnp.mean(sq)

    return loss


def jax_step(spec: ModelSpec, rule: str, lr: float, weights) -> Callable:
    """``step(x, y)`` over params held as a pytree: one ``jax.jit`` of ``value_and_grad`` and the
    same update written by hand (Adam with PyTorch's bias corrections). The old params and state
    are donated, as ``tapegrad.compile`` donates what it replaces."""
    loss_fn = _loss(spec.loss)
    params = [
        (jnp.asarray(w), jnp.asarray(b)) for w, b in zip(weights[::2], weights[1::2], strict=True)
    ]

    if rule in ("manual SGD", "SGD"):

        @partial(jax.jit, donate_argnums=0)
        def update(params, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            return loss, jax.tree.map(lambda p, g: p - lr * g, params, grads)

        state = {"params": params}

        def step(x, y):
            loss, state["params"] = update(state["params"], x, y)
            return loss

        return step

    b1, b2 = ADAM["betas"]
    eps = ADAM["eps"]

    @partial(jax.jit, donate_argnums=(0, 1, 2, 3))
    def adam(params, m1, m2, t, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        t = t + 1
        m1 = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m1, grads)
        m2 = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, m2, grads)
        c1, c2 = 1 - b1**t, 1 - b2**t
        params = jax.tree.map(
            lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), params, m1, m2
        )
        return loss, params, m1, m2, t

    zeros = jax.tree.map(jnp.zeros_like, params)  # two trees: donated buffers must be distinct
    state = {"adam": (params, zeros, jax.tree.map(jnp.zeros_like, params), jnp.float32(0))}

    def step(x, y):
        loss, *rest = adam(*state["adam"], x, y)
        state["adam"] = tuple(rest)
        return loss

    return step
