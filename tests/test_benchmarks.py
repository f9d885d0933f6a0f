"""Smoke test of the training-step benchmark: its main path runs in ``--quick`` mode on the
smallest model and prints its tables (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def train_step(monkeypatch):
    """benchmarks/train_step.py as a module; the environment variable it sets is undone after."""
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    path = BENCHMARKS / "train_step.py"
    spec = importlib.util.spec_from_file_location("benchmarks_train_step", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_step_quick_prints_the_tables(train_step, capsys):
    train_step.main(["--quick", "--models", "overhead", "--n", "2", "--memory-steps", "20"])
    out = capsys.readouterr().out
    assert "per-step time, us" in out
    assert "ratios (target)" in out
    assert "losses agree to" in out
    for name in train_step.COMPETITORS:
        assert name in out
    assert any(line.startswith("overhead  SGD") for line in out.splitlines())
    assert "graph of a finished step freed: PASS" in out


def test_train_step_rejects_an_unknown_model(train_step, capsys):
    with pytest.raises(SystemExit):
        train_step.main(["--models", "resnet"])
    assert "invalid choice: 'resnet'" in capsys.readouterr().err


def test_train_step_times_a_compiled_step(train_step, capsys, monkeypatch):
    import tapegrad

    # A stand-in for tapegrad.compile that runs the step eagerly: the column gets times.
    monkeypatch.setattr(tapegrad, "compile", lambda step_fn: step_fn, raising=False)
    train_step.main(["--quick", "--models", "overhead", "--n", "2", "--memory-steps", "20"])
    row = next(line for line in capsys.readouterr().out.splitlines() if "overhead  SGD" in line)
    assert "n/a" not in row


def test_train_step_prints_na_when_compile_raises(train_step, capsys, monkeypatch):
    import tapegrad

    def failing_compile(step_fn):
        raise NotImplementedError("not yet")

    monkeypatch.setattr(tapegrad, "compile", failing_compile, raising=False)
    train_step.main(["--quick", "--models", "overhead", "--n", "2", "--memory-steps", "20"])
    out = capsys.readouterr().out
    assert "tapegrad compiled: n/a, NotImplementedError: not yet" in out
    assert "per-step time, us" in out


def test_memory_check_fails_when_steps_keep_their_graphs(train_step, capsys, monkeypatch):
    memory = sys.modules[train_step.memory_check.__module__]
    kept = []

    def leaky_step(*args):
        step_fn = make_step(*args)

        def step(x, y):
            loss = step_fn(x, y)
            kept.append(loss)  # a training loop that keeps every loss and its graph
            return loss

        return step

    make_step = memory.torch_like_step
    monkeypatch.setattr(memory, "torch_like_step", leaky_step)
    assert not train_step.memory_check(20)
    assert "graph of a finished step freed: FAIL" in capsys.readouterr().out


def test_eager_latency_quick_prints_the_tables(monkeypatch, capsys):
    """benchmarks/eager_latency.py in ``--quick`` mode (fewer values still) prints all three
    parts' tables; no timing is asserted."""
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    path = BENCHMARKS / "eager_latency.py"
    spec = importlib.util.spec_from_file_location("benchmarks_eager_latency", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    module.main(["--quick", "--values", "3", "--sizes", "2", "--shapes", "5"])
    out = capsys.readouterr().out
    assert "latency: 3 fresh values per row" in out
    assert "tg fresh med" in out
    assert "fresh/rep (<= 1.5)" in out
    assert "tg/torch (<= 10)" in out
    for row in module.ROWS:
        assert any(line.startswith(row.name) for line in out.splitlines())
    assert "first step: tutorial MLP" in out
    assert "tg first" in out
    assert "first step, ms: tapegrad mean" in out
    assert "memory: small MLP" in out
    assert "RSS growth from 1 to 5 shapes" in out
