"""Training-step time of the classic tutorial MLP (batch 64, 1000 -> 100 -> 10, ReLU, MSE summed
over the batch): tapegrad eager vs PyTorch eager vs pure ``jax.jit``, with manual SGD under
``no_grad`` and with Adam, measured in one process on the same data and initial weights.

Run: ``python benchmarks/train_step.py [--n N]``. Prints microseconds per step and the ratios;
absolute times drift on shared machines, the ratios are the figures to compare.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import tapegrad

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_time

try:
    import torch
except ImportError:  # torch is only the comparison, not a dependency
    torch = None

SGD_LR = 1e-4
ADAM_LR = 1e-3


def tutorial_data(seed: int = 0):
    """Inputs, targets and initial weights (PyTorch's Linear layout: weight is out x in)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 1000)).astype(np.float32)
    y = rng.standard_normal((64, 10)).astype(np.float32)
    bound1, bound2 = 1 / np.sqrt(1000), 1 / np.sqrt(100)
    weights = [
        rng.uniform(-bound1, bound1, (100, 1000)).astype(np.float32),
        rng.uniform(-bound1, bound1, (100,)).astype(np.float32),
        rng.uniform(-bound2, bound2, (10, 100)).astype(np.float32),
        rng.uniform(-bound2, bound2, (10,)).astype(np.float32),
    ]
    return x, y, weights


# ----- the same model and step in each framework ---------------------------------------------
def _torch_like_steps(m, x_np, y_np, weights):
    """Eager steps for ``m`` = torch or tapegrad: the tutorial's two loops."""
    model = m.nn.Sequential(m.nn.Linear(1000, 100), m.nn.ReLU(), m.nn.Linear(100, 10))
    with m.no_grad():
        for p, w in zip(model.parameters(), weights, strict=True):
            p.copy_(m.tensor(w))
    x, y = m.tensor(x_np), m.tensor(y_np)
    loss_fn = m.nn.MSELoss(reduction="sum")
    params = list(model.parameters())

    def sgd_step():
        loss = loss_fn(model(x), y)
        model.zero_grad()
        loss.backward()
        with m.no_grad():
            for p in params:
                p -= SGD_LR * p.grad
        return loss

    adam_model = m.nn.Sequential(m.nn.Linear(1000, 100), m.nn.ReLU(), m.nn.Linear(100, 10))
    adam_model.load_state_dict(model.state_dict())
    opt = m.optim.Adam(adam_model.parameters(), lr=ADAM_LR)

    def adam_step():
        loss = loss_fn(adam_model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return {"manual SGD": sgd_step, "Adam": adam_step}


def _jax_steps(x_np, y_np, weights):
    """``jax.jit`` of ``value_and_grad`` plus the same update, the hand-written baseline."""
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)

    def loss_fn(params, x, y):
        w1, b1, w2, b2 = params
        h = jax.nn.relu(x @ w1.T + b1)
        return jnp.sum((h @ w2.T + b2 - y) ** 2)

    @jax.jit
    def sgd(params, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return loss, [p - SGD_LR * g for p, g in zip(params, grads, strict=True)]

    @jax.jit
    def adam(params, m1, m2, t, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        t = t + 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        m1 = [b1 * m + (1 - b1) * g for m, g in zip(m1, grads, strict=True)]
        m2 = [b2 * v + (1 - b2) * g * g for v, g in zip(m2, grads, strict=True)]
        c1, c2 = 1 - b1**t, 1 - b2**t
        params = [
            p - ADAM_LR * (m / c1) / (jnp.sqrt(v / c2) + eps)
            for p, m, v in zip(params, m1, m2, strict=True)
        ]
        return loss, params, m1, m2, t

    state = {"sgd": [jnp.asarray(w) for w in weights]}
    zeros = [jnp.zeros_like(p) for p in state["sgd"]]
    state["adam"] = ([jnp.asarray(w) for w in weights], zeros, list(zeros), jnp.float32(0))

    def sgd_step():
        loss, state["sgd"] = sgd(state["sgd"], x, y)
        return loss

    def adam_step():
        params, m1, m2, t = state["adam"]
        loss, *rest = adam(params, m1, m2, t, x, y)
        state["adam"] = tuple(rest)
        return loss

    return {"manual SGD": sgd_step, "Adam": adam_step}


def _synced(step, to_float):
    """A step that waits for its result, so asynchronous dispatch is not timed as done."""

    def run():
        to_float(step())

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="steps per timing sample")
    args = parser.parse_args()

    x, y, weights = tutorial_data()
    competitors = {"tapegrad eager": _torch_like_steps(tapegrad, x, y, weights)}
    if torch is not None:
        competitors["torch eager"] = _torch_like_steps(torch, x, y, weights)
    competitors["jax.jit"] = _jax_steps(x, y, weights)
    to_float = {"tapegrad eager": lambda t: t.item(), "torch eager": lambda t: t.item()}

    print(
        f"tapegrad {tapegrad.__version__}, jax {jax.__version__}, "
        f"torch {torch.__version__ if torch else 'not installed'}"
        f"{f' ({torch.get_num_threads()} threads)' if torch else ''}, device {jax.devices()[0]}"
    )
    print("tutorial MLP: batch 64, 1000 -> 100 -> 10, ReLU, MSE summed")
    header = f"{'step':<12}" + "".join(f"{name + ' us':>18}" for name in competitors)
    header += f"{'eager/torch':>13}{'eager/jit':>11}"
    print(header)
    for step_name in ("manual SGD", "Adam"):
        times = {}
        for name, steps in competitors.items():
            sync = to_float.get(name, lambda a: float(a))
            times[name] = best_time(_synced(steps[step_name], sync), args.n, warmup=20)
        row = f"{step_name:<12}" + "".join(f"{t:18.1f}" for t in times.values())
        eager = times["tapegrad eager"]
        vs_torch = eager / times["torch eager"] if "torch eager" in times else float("nan")
        row += f"{vs_torch:13.2f}{eager / times['jax.jit']:11.2f}"
        print(row)


if __name__ == "__main__":
    main()
