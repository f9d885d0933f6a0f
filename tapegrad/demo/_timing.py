"""Per-step wall time of a training loop, in the steady state and synchronised with JAX."""

from __future__ import annotations

import time

import jax


def wait_for_jax() -> None:
    """Block until every JAX computation dispatched so far has finished. A tapegrad call returns
    once its kernel is queued, not run, so a clock read without this waits times dispatch only."""
    jax.block_until_ready(jax.live_arrays())


class StepTimer:
    """Times a loop of ``total`` steps: the first ``warmup`` steps (which compile kernels) are
    not timed, the rest are split into ``windows`` windows that each end with
    :func:`wait_for_jax`. ``per_step_us`` is the best window's mean, the figure least disturbed
    by other work on a shared machine (``None`` if the loop is too short to time)."""

    def __init__(self, total: int, warmup: int = 10, windows: int = 5) -> None:
        self.warmup = warmup
        self.window = (total - warmup) // windows
        self.count = 0
        self.samples: list[float] = []
        self._start = 0.0

    def step_done(self) -> None:
        """Call after each step."""
        self.count += 1
        if self.window < 1 or self.count < self.warmup:
            return
        timed = self.count - self.warmup
        if timed % self.window == 0:
            wait_for_jax()
            now = time.perf_counter()
            if timed:
                self.samples.append((now - self._start) / self.window * 1e6)
            self._start = now

    @property
    def per_step_us(self) -> float | None:
        return min(self.samples) if self.samples else None

    def describe(self) -> str:
        """How the time was measured, for the printed summary."""
        return (
            f"best of {len(self.samples)} windows of {self.window} steps, "
            f"after {self.warmup} warm-up steps"
        )
