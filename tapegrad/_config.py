"""``tapegrad.config``: the settings of tapegrad's eager execution and kernel caching.

Each can also be set before ``import tapegrad`` from the environment:
``TAPEGRAD_KERNEL_CACHE_SIZE``, ``TAPEGRAD_COMPILATION_CACHE_DIR`` and
``TAPEGRAD_DEFERRED_FORWARD`` (``0`` turns deferral off).
"""

from __future__ import annotations

import os

import jax
from jax.experimental.compilation_cache import compilation_cache as _jax_cache

from tapegrad import _kernel_cache, _segment

__all__ = ["Config", "config"]

_CACHE_DIR_ENV = "TAPEGRAD_COMPILATION_CACHE_DIR"


class Config:
    """tapegrad's settings, as attributes: ``tapegrad.config.kernel_cache_size = 256``."""

    __slots__ = ("_compilation_cache_dir",)

    def __init__(self) -> None:
        self._compilation_cache_dir: str | None = None

    @property
    def kernel_cache_size(self) -> int:
        """How many compiled kernels eager tapegrad keeps in memory (default 512).

        Every eager kernel is compiled for one set of shapes, dtypes and static arguments;
        past this many, the least recently used one is dropped (and compiled again if it is
        needed again). On CPU a kernel takes about 1-2 MB, so the default bounds kernel memory
        at a few GB however many shapes a program meets. A program whose steps need more
        distinct kernels than this recompiles every step: raise it then."""
        return _kernel_cache.KERNELS.limit

    @kernel_cache_size.setter
    def kernel_cache_size(self, size: int) -> None:
        _kernel_cache.KERNELS.resize(_kernel_cache.check_size(size))

    @property
    def compilation_cache_dir(self) -> str | None:
        """A directory where JAX's persistent compilation cache keeps compiled kernels across
        processes, or None (the default: nothing is written to disk).

        With it set, a second run of the same program (or test suite) loads its kernels from
        disk instead of compiling them: about 15 ms instead of 50-100 ms each on CPU. Every
        kernel is cached, however quickly it compiled."""
        return self._compilation_cache_dir

    @compilation_cache_dir.setter
    def compilation_cache_dir(self, path: str | os.PathLike | None) -> None:
        if path is not None:
            if not isinstance(path, str | os.PathLike) or not os.fspath(path):
                raise ValueError(f"compilation_cache_dir must be a directory path, got {path!r}")
            path = os.fspath(path)
            os.makedirs(path, exist_ok=True)
            # tapegrad's eager kernels are small: JAX's defaults (only kernels that took over a
            # second to compile) would cache none of them.
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        # JAX opens its cache once, at the first compile that uses it: reset it so that a new
        # directory (or none) takes effect now.
        _jax_cache.reset_cache()
        _jax_cache.set_cache_dir(path)
        self._compilation_cache_dir = path

    @property
    def deferred_forward(self) -> bool:
        """Whether eager ops are deferred and run in batches (default True).

        An eager op on concrete tensors returns at once with a result whose shape and dtype
        are known (errors are raised at the op, as always); the ops run when a result's value
        is needed (``.item()``, printing, ``backward()``, a view or an in-place write), a run
        that repeats as one compiled program instead of one kernel call per op. Values are
        the same bit for bit either way; ``False`` runs every op at once, one kernel each."""
        return _segment.enabled[0]

    @deferred_forward.setter
    def deferred_forward(self, on: bool) -> None:
        if not isinstance(on, bool):
            raise TypeError(f"deferred_forward must be a bool, got {type(on).__name__}")
        _segment.flush_all()
        _segment.enabled[0] = on

    def __repr__(self) -> str:
        return (
            f"tapegrad.config(kernel_cache_size={self.kernel_cache_size}, "
            f"compilation_cache_dir={self.compilation_cache_dir!r}, "
            f"deferred_forward={self.deferred_forward})"
        )


config = Config()
if os.environ.get(_CACHE_DIR_ENV):
    config.compilation_cache_dir = os.environ[_CACHE_DIR_ENV]
