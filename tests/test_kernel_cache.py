"""The kernel cache: one least-recently-used bound over every compiled eager kernel, set by
``tapegrad.config.kernel_cache_size``; eviction frees kernels and never changes a result."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import tapegrad as tg
from tapegrad._kernel_cache import KERNELS, KernelCache, _size_from_env, bounded_jit

_COMPILES = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: (
        _COMPILES.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
)


def _compiles(fn) -> int:
    before = len(_COMPILES)
    fn()
    return len(_COMPILES) - before


@pytest.fixture
def small_cache():
    """A kernel cache of 12 entries for the test, emptied before and after it."""
    old = tg.config.kernel_cache_size
    KERNELS.clear()
    tg.config.kernel_cache_size = 12
    yield KERNELS
    tg.config.kernel_cache_size = old
    KERNELS.clear()


def test_the_cache_evicts_the_least_recently_used_entry():
    cache = KernelCache(3)
    for k in "abc":
        cache.put(k, k.upper())
    assert cache.get("a") == "A"  # now the most recently used
    cache.put("d", "D")
    assert "b" not in cache
    assert list(cache) == ["c", "a", "d"]
    assert cache.evictions == 1
    cache.resize(1)
    assert list(cache) == ["d"]
    assert cache.evictions == 3


def test_training_over_many_shapes_stays_within_the_bound(small_cache):
    model = tg.nn.Sequential(tg.nn.Linear(6, 5), tg.nn.Tanh(), tg.nn.Linear(5, 1))
    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for batch in range(1, 16):
        x = tg.ones(batch, 6)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert len(small_cache) <= 12
    assert small_cache.evictions > 0
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())


def test_an_evicted_kernel_is_compiled_again_with_the_same_result(small_cache):
    x = tg.tensor(np.linspace(-2, 2, 7, dtype=np.float32))
    first = (x.exp() * 3 + 1).numpy()
    (x.exp() * 3 + 1).numpy()  # the second sight of 3 and 1 makes cached 0-d arrays of them
    assert _compiles(lambda: (x.exp() * 3 + 1).numpy()) == 0  # cached
    for n in range(1, 20):  # other shapes push the three kernels out
        (tg.ones(n).exp() * 3 + 1).numpy()
    assert _compiles(lambda: np.testing.assert_array_equal((x.exp() * 3 + 1).numpy(), first)) == 3


def test_a_kernel_in_use_survives_eviction(small_cache):
    x = tg.ones(3)
    x.sin()
    for n in range(4, 40):
        tg.ones(n).cos()
        x.sin()  # used every time: always the most recent entry
    assert _compiles(lambda: x.sin()) == 0


def test_bounded_jit_caches_one_kernel_per_signature(small_cache):
    calls = []

    def scale(a, factor):
        calls.append(1)  # runs only while jax traces
        return a * factor

    f = bounded_jit(scale, static_argnums=1)
    a3, a4 = jax.numpy.ones(3), jax.numpy.ones(4)
    for _ in range(2):
        np.testing.assert_array_equal(f(a3, 2.0), np.full(3, 2.0))
        np.testing.assert_array_equal(f(a4, 2.0), np.full(4, 2.0))
        np.testing.assert_array_equal(f(a4, 3.0), np.full(4, 3.0))
    assert len(calls) == 3
    assert sum(1 for key in small_cache if key[0] is f) == 3


@pytest.mark.parametrize("bad", [0, -3, 2.5, "64", None, True])
def test_the_size_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="kernel_cache_size must be a positive integer"):
        tg.config.kernel_cache_size = bad
    assert tg.config.kernel_cache_size >= 1


def test_the_size_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TAPEGRAD_KERNEL_CACHE_SIZE", "77")
    assert _size_from_env() == 77
    monkeypatch.setenv("TAPEGRAD_KERNEL_CACHE_SIZE", "lots")
    with pytest.raises(ValueError, match="TAPEGRAD_KERNEL_CACHE_SIZE must be a positive integer"):
        _size_from_env()
    monkeypatch.delenv("TAPEGRAD_KERNEL_CACHE_SIZE")
    assert _size_from_env() == 512


def test_threads_dispatching_through_a_small_cache_get_their_own_results(small_cache):
    import threading

    tg.config.kernel_cache_size = 4  # every call evicts: lookups race with evictions
    errors = []

    def work(offset: int) -> None:
        try:
            for n in range(1, 25):
                got = (tg.ones(n) * (offset + 1.0)).sum().item()
                assert got == n * (offset + 1.0)
        except Exception as exc:  # reported below, with the thread's own error
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(small_cache) <= 4
