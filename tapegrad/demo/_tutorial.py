"""Part 1: the classic tutorial MLP (batch 64, 1000 -> 100 -> 10, ReLU, summed MSE, manual SGD
under ``no_grad``), trained eagerly and then, from the same initial weights, with the whole
training step compiled by ``tapegrad.compile``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tqdm import tqdm

import tapegrad
from tapegrad import nn
from tapegrad.demo._timing import StepTimer

BATCH, D_IN, HIDDEN, D_OUT = 64, 1000, 100, 10
LR = 1e-4
AGREE_RTOL = 1e-3  # float32 runs of one computation fused differently stay far closer than this


@dataclass
class TutorialRun:
    """Losses of every step of one run and its measured time per step."""

    losses: list[float]
    per_step_us: float | None
    timing: str


def make_model() -> nn.Module:
    """The tutorial's two-layer MLP, with PyTorch's default Linear initialisation."""
    return nn.Sequential(nn.Linear(D_IN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, D_OUT))


def make_step(model: nn.Module) -> Callable[[tapegrad.Tensor, tapegrad.Tensor], tapegrad.Tensor]:
    """The tutorial's training step: forward, loss, ``zero_grad``, backward, SGD update."""
    loss_fn = nn.MSELoss(reduction="sum")

    def step(x: tapegrad.Tensor, y: tapegrad.Tensor) -> tapegrad.Tensor:
        y_pred = model(x)
        loss = loss_fn(y_pred, y)
        model.zero_grad()
        loss.backward()
        with tapegrad.no_grad():
            for param in model.parameters():
                param -= LR * param.grad
        return loss

    return step


def train(step: Callable, x, y, steps: int, desc: str) -> TutorialRun:
    """Run ``step(x, y)`` ``steps`` times behind a progress bar; losses are read after the loop,
    so no step waits for its loss."""
    timer = StepTimer(steps)
    losses = []
    for _ in tqdm(range(steps), desc=desc, unit="step", leave=False, disable=None):
        losses.append(step(x, y).detach())
        timer.step_done()
    return TutorialRun([loss.item() for loss in losses], timer.per_step_us, timer.describe())


def run(steps: int, seed: int) -> tuple[TutorialRun, TutorialRun]:
    """Train the tutorial MLP eagerly, then compiled from the same initial weights and data;
    return both runs."""
    tapegrad.manual_seed(seed)
    x, y = tapegrad.randn(BATCH, D_IN), tapegrad.randn(BATCH, D_OUT)
    eager_model, compiled_model = make_model(), make_model()
    compiled_model.load_state_dict(eager_model.state_dict())
    eager = train(make_step(eager_model), x, y, steps, "eager")
    compiled = train(tapegrad.compile(make_step(compiled_model)), x, y, steps, "compiled")
    return eager, compiled


def largest_relative_difference(a: list[float], b: list[float]) -> float:
    """The largest ``|a - b| / max(|a|, |b|)`` over paired losses."""
    return max(abs(u - v) / max(abs(u), abs(v), 1e-30) for u, v in zip(a, b, strict=True))


def report(eager: TutorialRun, compiled: TutorialRun, every: int) -> None:
    """Print the losses every ``every`` steps side by side, whether the runs agree, and the
    per-step times."""
    steps = len(eager.losses)
    print(f"{'step':>6}  {'eager loss':>14}  {'compiled loss':>14}")
    for i in sorted({*range(0, steps, every), steps - 1}):
        print(f"{i:>6}  {eager.losses[i]:>14.6f}  {compiled.losses[i]:>14.6f}")
    diff = largest_relative_difference(eager.losses, compiled.losses)
    verdict = "agree" if diff <= AGREE_RTOL else "DISAGREE"
    print(f"eager and compiled losses {verdict}: largest relative difference {diff:.1e}")
    if eager.per_step_us is None or compiled.per_step_us is None:
        print("per-step time: too few steps to time")
        return
    print(
        f"per-step time: eager {eager.per_step_us:.0f} us, compiled {compiled.per_step_us:.0f} us, "
        f"ratio eager/compiled {eager.per_step_us / compiled.per_step_us:.2f} ({eager.timing})"
    )
