"""Shared test configuration and fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def rng():
    """A fresh, seeded NumPy generator per test, so every test sees the same inputs."""
    import numpy as np

    return np.random.default_rng(0)
