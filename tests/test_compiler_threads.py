"""``tapegrad.compile`` and threads: a trace changes nothing another thread can see (its
storages' writes, hyperparameters, steps and random key live in the tracing thread's capture
context), so independent compiled training steps in threads equal a serial run bitwise, and
eager code in one thread runs while another compiles."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import tapegrad
from tapegrad import nn

N_THREADS = 4


def _setup(seed: int):
    """A fresh model, optimizer and data (made from the global seed, so before the threads
    start) and the function that compiles a training step for them and runs it."""
    tapegrad.manual_seed(seed)
    model = nn.Linear(3, 2)
    rng = np.random.default_rng(seed)
    x = tapegrad.tensor(rng.standard_normal((5, 3)).astype(np.float32))
    y = tapegrad.tensor(rng.standard_normal((5, 2)).astype(np.float32))
    opt = (
        tapegrad.optim.Adam(model.parameters(), lr=0.05)
        if seed % 2
        else tapegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    )

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def train(steps: int = 3) -> list[np.ndarray]:
        compiled = tapegrad.compile(step)
        losses = [compiled(x, y) for _ in range(steps)]
        assert compiled.trace_count == 1
        return [loss.detach().numpy() for loss in losses] + [
            p.detach().numpy() for p in model.parameters()
        ]

    return train


def _in_threads(fns: list) -> list:
    results: list = [None] * len(fns)
    errors: list = []
    barrier = threading.Barrier(len(fns))

    def run(i):
        try:
            barrier.wait()
            results[i] = fns[i]()
        except BaseException as e:  # reported by the test, not lost in the thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.slow  # 80 programs compiled: ~15 s
def test_compiled_training_steps_in_four_threads_equal_a_serial_run_bitwise():
    serial = [_setup(seed)() for seed in range(N_THREADS)]
    for _ in range(20):
        threaded = _in_threads([_setup(seed) for seed in range(N_THREADS)])
        for want, got in zip(serial, threaded, strict=True):
            for a, b in zip(want, got, strict=True):
                np.testing.assert_array_equal(a, b)


def test_eager_random_draws_in_one_thread_while_another_compiles_never_fail():
    tapegrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    x = tapegrad.ones(5, 3)
    done = threading.Event()

    def compile_many():
        try:
            for k in range(6):  # a new guard each time: six traces that draw random numbers
                forward = tapegrad.compile(lambda x, k=k: model(x).sum() * k)
                forward(x)
        finally:
            done.set()

    def draw():
        draws = []
        while not done.is_set() or not draws:
            a = tapegrad.randn(3)
            draws.append(a.numpy())  # a concrete value, never a tracer
            b = tapegrad.nn.functional.dropout(tapegrad.ones(4), 0.5)
            assert set(b.tolist()) <= {0.0, 2.0}
        return len(draws)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: draws land inside the traces
    try:
        n_draws = _in_threads([compile_many, draw])[1]
    finally:
        sys.setswitchinterval(interval)
    assert n_draws >= 1
