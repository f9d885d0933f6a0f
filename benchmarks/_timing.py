"""Timing helpers shared by the benchmarks: best-of-N mean time per call, and the line that
says what was measured."""

from __future__ import annotations

import os
import time


def best_time(fn, n: int, repeats: int = 7, warmup: int = 200) -> float:
    """Best over ``repeats`` of the mean time per call, in microseconds. The minimum is the
    figure least disturbed by other work on a shared machine."""
    for _ in range(min(n, warmup)):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n * 1e6)
    return min(samples)


def run_header(torch) -> str:
    """The versions, threads and device a benchmark ran with (``torch`` may be None)."""
    import jax

    import tapegrad

    threads = f" ({torch.get_num_threads()} threads" if torch else ""
    threads += f", OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')})" if torch else ""
    return (
        f"tapegrad {tapegrad.__version__}, jax {jax.__version__}, "
        f"torch {torch.__version__ if torch else 'not installed'}{threads}, "
        f"device {jax.devices()[0]}"
    )
