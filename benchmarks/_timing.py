"""Timing helper shared by the benchmarks: best-of-N mean time per call."""

from __future__ import annotations

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
