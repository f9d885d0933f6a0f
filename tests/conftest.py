"""Shared test configuration and fixtures."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# Property tests compile kernels on first use, so no per-example deadline; on CI the examples
# are derived from the test itself (derandomize), so a run is reproducible.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(params=["torch", "tapegrad"])
def m(request):
    """The module under test: each test using it runs on PyTorch and on tapegrad, so every
    literal it asserts is first checked against PyTorch."""
    if request.param == "torch":
        return pytest.importorskip("torch")
    import tapegrad

    return tapegrad


@pytest.fixture(autouse=True)
def _default_modes():
    """Every test ends in the default modes, even one that fails with a mode changed."""
    yield
    import tapegrad

    tapegrad.set_grad_enabled(True)
    try:
        import torch
    except ImportError:
        return
    torch.set_grad_enabled(True)


@pytest.fixture
def rng():
    """A fresh, seeded NumPy generator per test, so every test sees the same inputs."""
    import numpy as np

    return np.random.default_rng(0)
