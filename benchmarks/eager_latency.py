"""Eager latency of values never seen before: tapegrad vs PyTorch eager, in one process.

Three parts:

* ``latency``: per-call time of small eager calls whose Python value (an index, offset, scalar,
  exponent, slope, fill value, dropout p) is new on every call, against the same call with one
  repeated value and against PyTorch. Each tapegrad call is timed until its result is ready
  (``jax.block_until_ready``); PyTorch's CPU results are ready when the call returns. Targets per
  row: tapegrad fresh/repeated <= 1.5 and tapegrad fresh/torch <= 10.
* ``first-step``: the first training step (zero_grad, forward, backward, SGD step) of the
  tutorial MLP (1000 -> 100 -> 10, MSE summed) at each of ten batch sizes the process has not
  used before.
* ``memory``: resident memory over eager training steps of a small MLP (16 -> 32 -> 1) at
  ``--shapes`` distinct batch sizes (1, 2, ..., one step each), sampled after 10%, 50% and 100%
  of them. Target: growth from the first sample to the last < 100 MB.

Run: ``python benchmarks/eager_latency.py [--quick] [--parts latency,first-step,memory]
[--values N] [--sizes N] [--shapes N]``. Absolute times drift on shared machines; the ratios are
the figures to compare.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# PyTorch's OpenMP threads spin between ops and starve XLA's on a few shared cores (see
# train_step.py); passive waiting puts torch back at its own speed.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jax
import numpy as np

import tapegrad

sys.path.insert(0, str(Path(__file__).parent))
from _memory import _rss_mb
from _timing import run_header
from _train_models import MODELS, ModelSpec, make_data, torch_like_step

try:
    import torch
except ImportError:  # torch is only the comparison, not a dependency
    torch = None

PARTS = ("latency", "first-step", "memory")
DATA_LEN = 100_000  # the int64 "token" tensor the slicing rows index
X_LEN = 1000  # the float32 vector the elementwise rows use
WINDOW = 8  # slice length, as a bigram model's block size
BATCH_OFFSETS = 32  # offsets per bigram batch
FRESH_OVER_REPEATED = 1.5  # target: a new value costs at most this times a repeated one
FRESH_OVER_TORCH = 10.0  # target: tapegrad's fresh-value call vs PyTorch's
# First-step batch sizes: primes and near-primes no other part of the process uses.
FIRST_STEP_SIZES = (17, 23, 31, 37, 41, 47, 53, 59, 61, 67)
FIRST_STEP_LR = 1e-4
RSS_GROWTH_MB = 100.0  # memory target over all the shapes
SMALL_MLP = ModelSpec(
    "small", "small MLP: 16 -> 32 -> 1, ReLU, MSE", 1, (16, 32, 1), "mse_mean", (), 1, 1
)


# ----- fresh values ------------------------------------------------------------------------------
class FreshValues:
    """Draws Python values never drawn before in this process (across every row), so no cache
    keyed on a value can have seen one."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = np.random.default_rng(seed)
        self._seen: set[Any] = set()

    def _new(self, draw: Callable[[], Any]) -> Any:
        while True:
            value = draw()
            if value not in self._seen:
                self._seen.add(value)
                return value

    def new_int(self, low: int, high: int) -> int:
        """A new int in ``[low, high)``."""
        return self._new(lambda: int(self._rng.integers(low, high)))

    def new_float(self, low: float, high: float) -> float:
        """A new float in ``[low, high)``."""
        return self._new(lambda: float(self._rng.uniform(low, high)))

    def offsets(self) -> tuple[int, ...]:
        """``BATCH_OFFSETS`` new offsets into the data tensor (one bigram batch)."""
        return tuple(self.new_int(0, DATA_LEN - WINDOW) for _ in range(BATCH_OFFSETS))


@dataclass(frozen=True)
class Row:
    """One latency row: ``call(m, F, env, value)`` on framework ``m`` (functional API ``F``,
    inputs ``env``), and ``draw(pool)``, a new value for it."""

    name: str
    call: Callable[[Any, Any, dict[str, Any], Any], Any]
    draw: Callable[[FreshValues], Any]


ROWS = (
    Row(
        "data[i:i+8]",
        lambda m, F, e, i: e["data"][i : i + WINDOW],
        lambda p: p.new_int(0, DATA_LEN - WINDOW),
    ),
    Row("data[i]", lambda m, F, e, i: e["data"][i], lambda p: p.new_int(0, DATA_LEN)),
    Row(
        "x.narrow(0, i, 8)",
        lambda m, F, e, i: e["x"].narrow(0, i, WINDOW),
        lambda p: p.new_int(0, X_LEN - WINDOW + 1),
    ),
    Row("x.clamp(max=v)", lambda m, F, e, v: e["x"].clamp(max=v), lambda p: p.new_float(0, 1)),
    Row("x + i", lambda m, F, e, i: e["x"] + i, lambda p: p.new_int(1, 10**9)),
    Row("x * float(i)", lambda m, F, e, v: e["x"] * v, lambda p: float(p.new_int(1, 10**9))),
    Row("x ** p", lambda m, F, e, v: e["x"] ** v, lambda p: p.new_float(0.5, 3)),
    Row(
        "F.leaky_relu(x, s)",
        lambda m, F, e, v: F.leaky_relu(e["x"], v),
        lambda p: p.new_float(0.01, 0.5),
    ),
    Row("full((8,), v)", lambda m, F, e, v: m.full((WINDOW,), v), lambda p: p.new_float(-10, 10)),
    Row(
        "x.masked_fill(mask, v)",
        lambda m, F, e, v: e["x"].masked_fill(e["mask"], v),
        lambda p: p.new_float(-10, 10),
    ),
    Row(
        "F.dropout(x, p)",
        lambda m, F, e, v: F.dropout(e["x"], v, training=True),
        lambda p: p.new_float(0.05, 0.95),
    ),
    Row(
        "stack(32 x data[i:i+8])",
        lambda m, F, e, ix: m.stack([e["data"][i : i + WINDOW] for i in ix]),
        FreshValues.offsets,
    ),
)


# ----- helpers -----------------------------------------------------------------------------------
def _ready(result: Any) -> None:
    """Wait until a result is computed: tapegrad dispatches asynchronously, PyTorch (CPU) does
    not. Tuples and lists are waited on element by element."""
    if isinstance(result, tuple | list):
        for item in result:
            _ready(item)
    elif isinstance(result, tapegrad.Tensor):
        jax.block_until_ready(result._data)


def _fmt(value: float, width: int, digits: int = 1) -> str:
    return f"{'n/a':>{width}}" if np.isnan(value) else f"{value:{width}.{digits}f}"


# ----- part 1: latency of fresh values -----------------------------------------------------------
def _envs() -> dict[str, tuple[Any, Any, dict[str, Any]]]:
    """Each framework's ``(m, F, inputs)``, the inputs built from the same NumPy arrays."""
    rng = np.random.default_rng(1)
    data = rng.integers(0, 65, DATA_LEN, dtype=np.int64)
    x = rng.uniform(0, 1, X_LEN).astype(np.float32)  # positive: x ** p stays finite
    mask = rng.uniform(0, 1, X_LEN) < 0.5
    envs = {}
    for name, m in (("tapegrad", tapegrad), ("torch", torch)):
        if m is None:
            continue
        inputs = {"data": m.tensor(data), "x": m.tensor(x), "mask": m.tensor(mask)}
        envs[name] = (m, m.nn.functional, inputs)
    return envs


def _times(row: Row, framework: tuple[Any, Any, dict[str, Any]], values: list[Any]) -> list[float]:
    """One call of ``row`` per value on ``framework`` = ``(m, F, inputs)``, each until its
    result is ready, in microseconds."""
    m, F, env = framework
    times = []
    for value in values:
        start = time.perf_counter()
        _ready(row.call(m, F, env, value))
        times.append((time.perf_counter() - start) * 1e6)
    return times


def latency(n_values: int) -> bool:
    """Time every row at ``n_values`` fresh values and at one repeated value; print the table and
    return whether every row met both targets."""
    pool = FreshValues()
    envs = _envs()
    print(f"\nlatency: {n_values} fresh values per row, one call each; us per call until ready")
    results = []
    for row in ROWS:
        gc.collect()
        values = [row.draw(pool) for _ in range(n_values)]
        fresh = _times(row, envs["tapegrad"], values)
        same = row.draw(pool)
        _times(row, envs["tapegrad"], [same])  # the repeated value's own first call is not timed
        repeated = _times(row, envs["tapegrad"], [same] * n_values)
        torch_med = float("nan")
        if "torch" in envs:
            _times(row, envs["torch"], [same])
            torch_med = float(np.median(_times(row, envs["torch"], values)))
        results.append(
            (
                row.name,
                fresh[0],
                float(np.median(fresh)),
                float(np.percentile(fresh, 90)),
                float(np.median(repeated)),
                torch_med,
            )
        )

    header = (
        f"{'row':<25}{'tg first':>11}{'tg fresh med':>14}{'tg fresh p90':>14}"
        f"{'tg repeat med':>15}{'torch fresh med':>17}"
        f"{f'fresh/rep (<= {FRESH_OVER_REPEATED:g})':>21}"
        f"{f'tg/torch (<= {FRESH_OVER_TORCH:g})':>20}{'result':>8}"
    )
    print(header)
    print("-" * len(header))
    passed = 0
    for name, first, med, p90, rep, torch_med in results:
        over_rep = med / rep
        over_torch = med / torch_med
        ok = over_rep <= FRESH_OVER_REPEATED and not over_torch > FRESH_OVER_TORCH
        passed += ok
        print(
            f"{name:<25}{first:11.1f}{med:14.1f}{p90:14.1f}{rep:15.1f}{_fmt(torch_med, 17)}"
            f"{over_rep:21.2f}{_fmt(over_torch, 20, 2)}{'PASS' if ok else 'FAIL':>8}"
        )
    print(f"latency: {passed}/{len(results)} rows PASS")
    return passed == len(results)


# ----- part 2: first step at new batch sizes -----------------------------------------------------
def first_step(n_sizes: int) -> None:
    """Time the tutorial MLP's first SGD step at ``n_sizes`` new batch sizes in each framework,
    and the second step at the same size for reference; print the table, mean and max."""
    spec = MODELS["tutorial"]
    x64, y64, weights = make_data(spec)
    sizes = FIRST_STEP_SIZES[:n_sizes]
    rng = np.random.default_rng(2)
    batches = [
        (
            rng.standard_normal((b, spec.sizes[0])).astype(np.float32),
            rng.standard_normal((b, spec.sizes[-1])).astype(np.float32),
        )
        for b in sizes
    ]
    frameworks = [("tapegrad", tapegrad)] + ([("torch", torch)] if torch else [])
    times: dict[str, list[tuple[float, float]]] = {}
    for name, m in frameworks:
        step_fn = torch_like_step(m, spec, "SGD", FIRST_STEP_LR, weights)
        tx, ty = m.tensor(x64), m.tensor(y64)
        for _ in range(3):  # the model's usual batch first: what is timed is a new size
            step_fn(tx, ty).item()
        times[name] = []
        for x, y in batches:
            bx, by = m.tensor(x), m.tensor(y)
            pair = []
            for _ in range(2):
                start = time.perf_counter()
                step_fn(bx, by).item()  # the conversion waits for the step
                pair.append((time.perf_counter() - start) * 1e3)
            times[name].append((pair[0], pair[1]))

    print(
        f"\nfirst step: {spec.title}, SGD, at {len(sizes)} new batch sizes "
        f"(after {3} steps at batch {spec.batch}); ms per step"
    )
    header = (
        f"{'batch':>6}{'tg first':>11}{'tg second':>11}{'torch first':>13}{'torch second':>14}"
        f"{'tg/torch first':>16}"
    )
    print(header)
    print("-" * len(header))
    nan = (float("nan"), float("nan"))
    torch_times = times.get("torch", [nan] * len(sizes))
    for b, (tg1, tg2), (th1, th2) in zip(sizes, times["tapegrad"], torch_times, strict=True):
        print(
            f"{b:>6}{tg1:11.2f}{tg2:11.2f}{_fmt(th1, 13, 2)}{_fmt(th2, 14, 2)}"
            f"{_fmt(tg1 / th1, 16, 2)}"
        )
    tg_first = np.array([t[0] for t in times["tapegrad"]])
    th_first = np.array([t[0] for t in torch_times])
    print(
        f"first step, ms: tapegrad mean {tg_first.mean():.2f} max {tg_first.max():.2f}; "
        f"torch mean {_fmt(th_first.mean(), 0, 2)} max {_fmt(th_first.max(), 0, 2)}; "
        f"tapegrad/torch mean {_fmt(tg_first.mean() / th_first.mean(), 0, 2)} "
        f"max {_fmt(tg_first.max() / th_first.max(), 0, 2)}"
    )


# ----- part 3: resident memory over many shapes --------------------------------------------------
def memory(n_shapes: int) -> bool:
    """One tapegrad eager SGD step of the small MLP at each batch size 1..``n_shapes``; print RSS
    after 10%, 50% and 100% of them and return whether it grew < ``RSS_GROWTH_MB``."""
    _, _, weights = make_data(SMALL_MLP)
    step_fn = torch_like_step(tapegrad, SMALL_MLP, "SGD", 1e-2, weights)
    rng = np.random.default_rng(3)
    marks = sorted({max(1, n_shapes // 10), max(1, n_shapes // 2), n_shapes})
    samples = []
    start_rss = _rss_mb()
    start = time.perf_counter()
    for b in range(1, n_shapes + 1):
        x = tapegrad.tensor(rng.standard_normal((b, SMALL_MLP.sizes[0])).astype(np.float32))
        y = tapegrad.tensor(rng.standard_normal((b, SMALL_MLP.sizes[-1])).astype(np.float32))
        step_fn(x, y).item()
        if b in marks:
            samples.append((b, _rss_mb(), time.perf_counter() - start))
    total = time.perf_counter() - start

    print(
        f"\nmemory: {SMALL_MLP.title}, tapegrad eager SGD, one step at each batch size "
        f"1..{n_shapes}; RSS before the first step {start_rss:.1f} MB"
    )
    header = f"{'shapes':>8}{'RSS MB':>10}{'elapsed s':>11}"
    print(header)
    print("-" * len(header))
    for b, rss, elapsed in samples:
        print(f"{b:>8}{rss:10.1f}{elapsed:11.1f}")
    growth = samples[-1][1] - samples[0][1]
    ok = growth < RSS_GROWTH_MB
    print(
        f"RSS growth from {samples[0][0]} to {samples[-1][0]} shapes: {growth:+.1f} MB "
        f"(target < {RSS_GROWTH_MB:g} MB): {'PASS' if ok else 'FAIL'}; "
        f"{total / n_shapes * 1e3:.1f} ms per new-shape step"
    )
    return ok


# ----- main --------------------------------------------------------------------------------------
def _parts(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(
            f"invalid part(s) {', '.join(unknown) or repr(text)}; choose from {', '.join(PARTS)}"
        )
    return parts


def main(argv: Sequence[str] | None = None) -> None:
    """Run the selected parts and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="20 values, 3 batch sizes, 30 shapes: a smoke run"
    )
    parser.add_argument(
        "--parts",
        type=_parts,
        default=list(PARTS),
        help=f"comma-separated parts to run (default {','.join(PARTS)})",
    )
    parser.add_argument("--values", type=int, help="fresh values per latency row (default 200)")
    parser.add_argument(
        "--sizes",
        type=int,
        choices=range(1, len(FIRST_STEP_SIZES) + 1),
        metavar=f"1..{len(FIRST_STEP_SIZES)}",
        help=f"new batch sizes of the first-step part (default {len(FIRST_STEP_SIZES)})",
    )
    parser.add_argument("--shapes", type=int, help="batch sizes of the memory part (default 1000)")
    args = parser.parse_args(argv)

    print(run_header(torch))
    verdicts = {}
    if "latency" in args.parts:
        verdicts["latency"] = latency(args.values or (20 if args.quick else 200))
    if "first-step" in args.parts:
        first_step(args.sizes or (3 if args.quick else len(FIRST_STEP_SIZES)))
    if "memory" in args.parts:
        verdicts["memory"] = memory(args.shapes or (30 if args.quick else 1000))
    if verdicts:
        print("\n" + "; ".join(f"{k}: {'PASS' if v else 'FAIL'}" for k, v in verdicts.items()))


if __name__ == "__main__":
    main()
