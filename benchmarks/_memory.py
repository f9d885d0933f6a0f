"""Memory of eager training: the peak resident memory a run of training steps adds, and whether
each finished step's graph is freed (resident memory and live JAX arrays stay flat)."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import jax

import tapegrad

sys.path.insert(0, str(Path(__file__).parent))
from _train_models import MODELS, make_data, torch_like_step

RSS_SLACK_MB = 8.0  # allocator noise; a leaked tutorial-MLP graph costs ~0.1 MB per step


def _status_mb(field: str) -> float | None:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status in MB, or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset Linux's resident-memory high-water mark, so the peak measured is this run's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_mb() -> float:
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    scale = 1 / 2**20 if sys.platform == "darwin" else 1 / 1024  # bytes on macOS, KB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _rss_mb() -> float:
    rss = _status_mb("VmRSS")
    return rss if rss is not None else _peak_mb()


def memory_check(steps: int) -> bool:
    """Train the tutorial MLP eagerly with manual SGD for ``steps`` steps (synchronized on the
    loss each step, as a loop printing it would be), print peak memory and the resident memory and
    live JAX arrays at steps/10 and steps, and return whether they stayed flat."""
    spec = MODELS["tutorial"]
    rule, lr = spec.steps[0]
    x_np, y_np, weights = make_data(spec)
    step_fn = torch_like_step(tapegrad, spec, rule, lr, weights)
    x, y = tapegrad.tensor(x_np), tapegrad.tensor(y_np)
    for _ in range(10):  # compile every kernel first: compilation is not training memory
        step_fn(x, y).item()

    device = jax.devices()[0]
    stats = device.memory_stats()
    start_rss = _rss_mb()
    start_peak = start_rss if _reset_peak() else _peak_mb()
    checkpoints = {max(1, steps // 10): None, steps: None}
    for i in range(1, steps + 1):
        step_fn(x, y).item()
        if i in checkpoints:
            checkpoints[i] = (_rss_mb(), len(jax.live_arrays()))

    print(f"\nmemory: {spec.title}, tapegrad eager, {rule}, {steps} steps")
    print(f"  peak resident memory added by training: {_peak_mb() - start_peak:.1f} MB")
    if stats:
        end = device.memory_stats()
        peak = end.get("peak_bytes_in_use", 0) - stats.get("bytes_in_use", 0)
        print(f"  peak {device.platform} memory added by training: {peak / 2**20:.1f} MB")
    else:
        print(f"  {device} memory: not reported (memory_stats() is None)")
    print(f"  {'step':>6}{'RSS MB':>10}{'live jax arrays':>17}")
    for i, (rss, live) in checkpoints.items():
        print(f"  {i:>6}{rss:10.1f}{live:17d}")
    (rss_a, live_a), (rss_b, live_b) = checkpoints.values()
    flat = live_b <= live_a and rss_b - rss_a < RSS_SLACK_MB
    print(
        f"  graph of a finished step freed: {'PASS' if flat else 'FAIL'} "
        f"(RSS {rss_b - rss_a:+.1f} MB, live arrays {live_b - live_a:+d}; "
        f"flat means live arrays do not grow and RSS grows < {RSS_SLACK_MB:.0f} MB)"
    )
    return flat
