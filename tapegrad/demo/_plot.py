"""``--plot FILE.png``: the loss curves of both parts in one PNG (matplotlib's Agg canvas, so no
display and no global backend change)."""

from __future__ import annotations

from tapegrad.demo._digits import DigitsRun
from tapegrad.demo._tutorial import TutorialRun


def save(path: str, eager: TutorialRun, compiled: TutorialRun, digits: DigitsRun) -> None:
    """Left: the tutorial MLP's loss per step, eager and compiled (log scale). Right: the digits
    classifier's training loss and test accuracy per epoch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    left.plot(eager.losses, label="eager")
    left.plot(compiled.losses, "--", label="compiled")
    left.set(
        title="Tutorial MLP (manual SGD)", xlabel="step", ylabel="loss (MSE, summed)", yscale="log"
    )
    left.legend()

    epochs = range(1, len(digits.losses) + 1)
    right.plot(epochs, digits.losses, color="C0", label="train loss")
    right.set(title="Digits MLP (Adam, compiled)", xlabel="epoch", ylabel="train loss")
    accuracy = right.twinx()
    accuracy.plot(epochs, digits.accuracies, color="C1", label="test accuracy")
    accuracy.set_ylabel("test accuracy")
    right.legend(handles=right.get_lines() + accuracy.get_lines(), loc="center right")
    fig.savefig(path, dpi=100)
