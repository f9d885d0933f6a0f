"""The tapegrad demo (``python -m tapegrad.demo`` or ``tapegrad-demo``): two small trainings.

1. The classic tutorial MLP (batch 64, 1000 -> 100 -> 10, ReLU, summed MSE, manual SGD under
   ``no_grad``) on random data, trained eagerly and then, from the same initial weights, with the
   whole step (forward, backward, update, ``zero_grad``) compiled by ``tapegrad.compile``. Prints
   the losses of both runs, whether they agree, and the eager and compiled time per step.
2. An MLP classifier of scikit-learn's bundled handwritten digits (no download) trained with
   Adam and a compiled training step. Prints each epoch's training loss and test accuracy.

``--plot FILE.png`` saves the loss curves of both parts. The demo needs the ``demo`` extra
(scikit-learn, tqdm, matplotlib): ``pip install -e '.[demo]'``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

import jax

import tapegrad

__all__ = ["main"]

DEFAULT_STEPS, QUICK_STEPS = 500, 60
DEFAULT_EPOCHS, QUICK_EPOCHS = 30, 4
LOSS_PRINTS = 5  # tutorial losses printed per run, besides the last

MISSING_DEPENDENCY = (
    "The tapegrad demo needs {names}, which {verb} not installed.\n"
    "Install the demo's dependencies with: pip install -e '.[demo]' (in a clone of tapegrad) "
    "or pip install 'tapegrad[demo]'."
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tapegrad.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--steps",
        type=_positive,
        help=f"training steps of the tutorial MLP, per run (default {DEFAULT_STEPS})",
    )
    parser.add_argument(
        "--epochs",
        type=_positive,
        help=f"epochs of the digits classifier (default {DEFAULT_EPOCHS})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke run: {QUICK_STEPS} steps and {QUICK_EPOCHS} epochs unless given",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--plot", metavar="FILE.png", help="save the loss curves to this file")
    return parser


def _check_dependencies(plot: bool) -> None:
    """Exit with an installation hint, not a traceback, if a demo dependency is missing."""
    needed = {"scikit-learn": "sklearn", "tqdm": "tqdm"}
    if plot:
        needed["matplotlib"] = "matplotlib"
    missing = []
    for name, module in needed.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(name)
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise SystemExit(MISSING_DEPENDENCY.format(names=" and ".join(missing), verb=verb))


def main(argv: list[str] | None = None) -> None:
    """Runs the demo: trains the tutorial MLP eagerly and compiled, then the digits classifier,
    printing losses, test accuracy and step times; ``argv`` defaults to the command line (see
    ``python -m tapegrad.demo --help``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.plot is not None and not Path(args.plot).parent.is_dir():
        parser.error(f"argument --plot: directory {Path(args.plot).parent} does not exist")
    _check_dependencies(plot=args.plot is not None)
    try:
        _run(args)
    except BrokenPipeError:  # the output was piped into e.g. `head`, which has exited
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        raise SystemExit(1) from None


def _run(args: argparse.Namespace) -> None:
    from tapegrad.demo import _digits, _tutorial

    steps = args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS)
    epochs = args.epochs or (QUICK_EPOCHS if args.quick else DEFAULT_EPOCHS)
    start = time.perf_counter()
    print(f"tapegrad {tapegrad.__version__}, jax {jax.__version__}, device {jax.devices()[0]}")

    print(
        f"\nPart 1: the tutorial MLP (batch {_tutorial.BATCH}, {_tutorial.D_IN} -> "
        f"{_tutorial.HIDDEN} -> {_tutorial.D_OUT}, ReLU, MSE summed, SGD lr {_tutorial.LR:g}), "
        f"{steps} steps eagerly, then compiled from the same weights"
    )
    eager, compiled = _tutorial.run(steps, args.seed)
    _tutorial.report(eager, compiled, every=max(1, steps // LOSS_PRINTS))

    print(
        f"\nPart 2: digits classifier (scikit-learn's 8x8 digits, MLP 64 -> {_digits.HIDDEN} -> "
        f"10 with Dropout {_digits.DROPOUT:g}, CrossEntropyLoss, Adam lr {_digits.LR:g}, "
        f"batch {_digits.BATCH}, compiled step), {epochs} epochs"
    )
    digits = _digits.run(epochs, args.seed)
    correct = round(digits.accuracies[-1] * digits.n_test)
    print(
        f"final test accuracy: {digits.accuracies[-1]:.4f} ({correct}/{digits.n_test} test "
        f"digits, trained on {digits.n_train})"
    )

    if args.plot is not None:
        from tapegrad.demo import _plot

        _plot.save(args.plot, eager, compiled, digits)
        print(f"\nloss curves saved to {args.plot}")
    print(f"demo finished in {time.perf_counter() - start:.0f} s")
