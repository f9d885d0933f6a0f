"""``tapegrad.config``: the kernel cache's size and JAX's persistent compilation cache."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import tapegrad as tg


@pytest.fixture
def cache_dir(tmp_path):
    yield tmp_path / "kernels"
    tg.config.compilation_cache_dir = None


def test_the_compilation_cache_writes_kernels_to_its_directory(cache_dir):
    assert tg.config.compilation_cache_dir is None
    tg.config.compilation_cache_dir = cache_dir
    assert tg.config.compilation_cache_dir == str(cache_dir)
    x = tg.tensor(np.arange(13, dtype=np.float32))  # a shape no other test uses
    np.testing.assert_allclose((x * 0.5).exp().numpy(), np.exp(np.arange(13) * 0.5), rtol=1e-6)
    assert len(os.listdir(cache_dir)) >= 2  # the mul and the exp kernels
    tg.config.compilation_cache_dir = None
    assert tg.config.compilation_cache_dir is None
    written = set(os.listdir(cache_dir))
    (tg.ones(17) * 3).sum()
    assert set(os.listdir(cache_dir)) == written  # off again: nothing more is written


@pytest.mark.parametrize("bad", ["", 3])
def test_the_compilation_cache_needs_a_path(bad):
    with pytest.raises(ValueError, match="compilation_cache_dir must be a directory path"):
        tg.config.compilation_cache_dir = bad
    assert tg.config.compilation_cache_dir is None


def test_the_environment_sets_both_before_import(tmp_path):
    env = {
        **os.environ,
        "TAPEGRAD_KERNEL_CACHE_SIZE": "40",
        "TAPEGRAD_COMPILATION_CACHE_DIR": str(tmp_path / "c"),
    }
    code = (
        "import tapegrad as tg; (tg.ones(19) * 2).sum().item(); "
        "print(tg.config.kernel_cache_size, tg.config.compilation_cache_dir)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["40", str(tmp_path / "c")]
    assert os.listdir(tmp_path / "c")


def test_config_repr_shows_every_setting():
    assert repr(tg.config) == (
        f"tapegrad.config(kernel_cache_size={tg.config.kernel_cache_size}, "
        "compilation_cache_dir=None, deferred_forward=True)"
    )
