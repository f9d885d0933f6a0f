"""Storage shared by a tensor, its views, its ``detach()`` aliases and its ``.data`` aliases.

JAX arrays are immutable, so a write replaces ``Storage.array``; ``generation`` counts the
writes so views know when their cached array is stale. The autograd version counter is a
separate object (``VersionCounter``) because ``.data`` shares storage but not the counter.
"""

from __future__ import annotations

__all__ = ["Storage", "VersionCounter"]


class Storage:
    __slots__ = ("array", "generation")

    def __init__(self, array) -> None:
        self.array = array
        self.generation = 0

    def write(self, array) -> None:
        self.array = array
        self.generation += 1


class VersionCounter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0
