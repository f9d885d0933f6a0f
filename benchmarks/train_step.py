"""Training-step time of three MLPs: tapegrad eager vs tapegrad compiled vs PyTorch eager vs pure
``jax.jit``, in one process on the same data and initial weights, plus the memory of eager training.

Models: the classic tutorial MLP (batch 64, 1000 -> 100 -> 10, ReLU, MSE summed) with manual SGD
under ``no_grad`` and with Adam; a compute-bound MLP (batch 512, 784 -> 1024 -> 1024 -> 10,
CrossEntropy, Adam); an overhead-bound MLP (batch 1, 20 small Linear layers, MSE, SGD).

Run: ``python benchmarks/train_step.py [--quick] [--models tutorial compute overhead]``. Prints
microseconds per step and the ratios against their targets; absolute times drift on shared
machines, the ratios are the figures to compare. Before timing, each model runs a few steps in
every framework and prints how far their losses are apart, so the table compares one computation.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

# PyTorch's OpenMP threads spin between ops. In one process with XLA's thread pool on a few
# shared cores they starve each other: a 0.8 ms tutorial step measured 20-80 ms. Passive waiting
# puts torch back at its own speed; set OMP_WAIT_POLICY yourself to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jax
import numpy as np

import tapegrad

sys.path.insert(0, str(Path(__file__).parent))
from _memory import memory_check
from _timing import best_time, run_header
from _train_models import MODELS, ModelSpec, jax_step, make_data, torch_like_step

try:
    import torch
except ImportError:  # torch is only the comparison, not a dependency
    torch = None

CHECK_STEPS = 3  # steps whose losses every competitor must agree on
LOSS_RTOL = 1e-3  # above this the competitors are not computing the same thing
COMPETITORS = ("tapegrad eager", "tapegrad compiled", "torch eager", "jax.jit")
# (label, numerator, denominator, target, models the target applies to)
RATIOS = (
    ("compiled/jax.jit", "tapegrad compiled", "jax.jit", 1.10, ("tutorial", "compute", "overhead")),
    ("eager/torch", "tapegrad eager", "torch eager", 1.0, ("tutorial",)),
    ("compiled/torch", "tapegrad compiled", "torch eager", 0.2, ("overhead",)),
)


def _compiler() -> Callable | None:
    """``tapegrad.compile``, or None until it exists."""
    found = getattr(tapegrad, "compile", None)
    if found is not None and not callable(found):  # the submodule, not re-exported
        found = getattr(found, "compile", None)
    return found


def _short(error: Exception) -> str:
    text = f"{type(error).__name__}: {error}".splitlines()[0]
    return text if len(text) <= 100 else text[:97] + "..."


def _competitors(spec: ModelSpec, rule: str, lr: float, notes: list[str]) -> dict[str, Callable]:
    """Each competitor as a no-argument step that returns its loss as a Python float (the
    conversion waits for the result, so asynchronous dispatch is never timed as done)."""
    x, y, weights = make_data(spec)
    tx, ty = tapegrad.tensor(x), tapegrad.tensor(y)
    eager = torch_like_step(tapegrad, spec, rule, lr, weights)
    runs = {"tapegrad eager": lambda: eager(tx, ty).item()}

    compile_fn = _compiler()
    if compile_fn is None:
        notes.append("tapegrad compiled: n/a, tapegrad.compile does not exist yet")
    else:
        try:
            compiled = compile_fn(torch_like_step(tapegrad, spec, rule, lr, weights))
            runs["tapegrad compiled"] = lambda: compiled(tx, ty).item()
        except Exception as error:
            notes.append(f"tapegrad compiled: n/a, {_short(error)}")

    if torch is not None:
        torch_eager = torch_like_step(torch, spec, rule, lr, weights)
        px, py = torch.tensor(x), torch.tensor(y)
        runs["torch eager"] = lambda: torch_eager(px, py).item()

    pure = jax_step(spec, rule, lr, weights)
    jx, jy = jax.numpy.asarray(x), jax.numpy.asarray(y)
    runs["jax.jit"] = lambda: pure(jx, jy).item()
    return runs


def _check_losses(runs: dict[str, Callable], notes: list[str]) -> float:
    """Run ``CHECK_STEPS`` steps of every competitor (compiling them) and return the largest
    relative difference of their losses from torch's (jax.jit's without torch)."""
    losses = {}
    for name, run in list(runs.items()):
        try:
            losses[name] = np.array([run() for _ in range(CHECK_STEPS)])
        except Exception as error:
            notes.append(f"{name}: n/a, {_short(error)}")
            del runs[name]
    ref = losses[next(name for name in ("torch eager", "jax.jit", *losses) if name in losses)]
    worst = 0.0
    for name, values in losses.items():
        diff = float(np.max(np.abs(values - ref) / np.abs(ref)))
        if not diff <= LOSS_RTOL:
            notes.append(f"WARNING {name}: losses {values} differ from {ref} (rel {diff:.1e})")
        worst = max(worst, diff)
    return worst


def _barrier_every(n: int, run: Callable) -> Callable:
    """``run``, and on every ``n``-th call a wait for all JAX work: an eager step's loss is known
    before its backward and update have run, so a sample of ``n`` steps must end when they have.
    (Torch pays the same wait, a few microseconds, so the samples stay comparable.)"""
    calls = itertools.count(1)

    def step():
        run()
        if next(calls) % n == 0:
            jax.block_until_ready(jax.live_arrays())

    return step


def _on_one_thread(sample: Callable[[], float]) -> Callable[[], float]:
    def run() -> float:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return sample()
        finally:
            torch.set_num_threads(threads)

    return run


def _time(runs: dict[str, Callable], spec: ModelSpec, quick: bool, n: int | None, notes):
    """Best per-step time of each competitor over ``repeats`` samples of ``n`` steps, sampled in
    turn (one sample of each, then the next round), so they all see the same load of a shared
    machine. Torch is also sampled on one thread and gets the faster: on few busy cores its
    OpenMP threads wait on each other, and small models run faster on one thread."""
    n = n or (max(1, spec.n // 4) if quick else spec.n)
    repeats = 2 if quick else spec.repeats
    samplers = {
        name: partial(best_time, _barrier_every(n, run), n, 1, 0) for name, run in runs.items()
    }
    threads = torch.get_num_threads() if torch is not None else 1
    if "torch eager" in runs and threads > 1:
        samplers["torch 1 thread"] = _on_one_thread(samplers["torch eager"])
    times: dict[str, float] = {}
    for name, run in runs.items():
        try:
            for _ in range(min(n, 20)):
                run()
        except Exception as error:
            notes.append(f"{name}: n/a, {_short(error)}")
            del samplers[name]
    jax.block_until_ready(jax.live_arrays())
    for _ in range(repeats):
        for name, sample in list(samplers.items()):
            try:
                times[name] = min(times.get(name, math.inf), sample())
            except Exception as error:
                notes.append(f"{name}: n/a, {_short(error)}")
                del samplers[name]
                times.pop(name, None)
    if "torch 1 thread" in times:
        single = times.pop("torch 1 thread")
        notes.append(
            f"torch eager: {times['torch eager']:.1f} us on {threads} threads, {single:.1f} us "
            "on 1 thread; the table has the faster"
        )
        times["torch eager"] = min(times["torch eager"], single)
    return times, n, repeats


def _ratio_cell(times: dict[str, float], spec: ModelSpec, ratio) -> str:
    _, num, den, target, applies_to = ratio
    if num not in times or den not in times:
        return "n/a"
    value = times[num] / times[den]
    if spec.key not in applies_to:
        return f"{value:.2f}"
    return f"{value:.2f} {'met' if value <= target else 'missed'}"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the memory check and time every model's steps; print both tables and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps: a smoke run")
    parser.add_argument(
        "--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="models to run"
    )
    parser.add_argument("--n", type=int, help="steps per timing sample (default: per model)")
    parser.add_argument(
        "--memory-steps", type=int, help="eager steps of the memory check (default 1000)"
    )
    args = parser.parse_args(argv)

    print(run_header(torch))
    memory_flat = memory_check(args.memory_steps or (100 if args.quick else 1000))

    rows = []
    for key in args.models:
        spec = MODELS[key]
        print(f"\n{spec.title}")
        for rule, lr in spec.steps:
            row_notes: list[str] = []
            runs = _competitors(spec, rule, lr, row_notes)
            diff = _check_losses(runs, row_notes)
            times, n, repeats = _time(runs, spec, args.quick, args.n, row_notes)
            print(f"  {rule}: losses agree to {diff:.1e} (relative, {CHECK_STEPS} steps); ", end="")
            print(f"timed best of {repeats} x {n} steps")
            for note in row_notes:
                print(f"    {note}")
            rows.append((spec, rule, times, diff))

    print("\nper-step time, us")
    label = f"{'model':<10}{'step':<12}"
    print(label + "".join(f"{name:>19}" for name in COMPETITORS) + f"{'loss rel diff':>15}")
    for spec, rule, times, diff in rows:
        cells = "".join(f"{times[c]:19.1f}" if c in times else f"{'n/a':>19}" for c in COMPETITORS)
        print(f"{spec.key:<10}{rule:<12}{cells}{diff:15.1e}")

    print("\nratios (target)")
    print(label + "".join(f"{f'{r[0]} (<= {r[3]:g})':>26}" for r in RATIOS))
    for spec, rule, times, _ in rows:
        cells = "".join(f"{_ratio_cell(times, spec, r):>26}" for r in RATIOS)
        print(f"{spec.key:<10}{rule:<12}{cells}")
    print(
        "targets apply to: compiled/jax.jit every model, eager/torch the tutorial MLP, "
        "compiled/torch the overhead-bound MLP"
    )
    print(f"memory: graph of a finished step freed: {'PASS' if memory_flat else 'FAIL'}")


if __name__ == "__main__":
    main()
