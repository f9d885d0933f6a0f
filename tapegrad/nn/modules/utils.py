"""Argument helpers shared by the layers: ``_single``, ``_pair`` (an int repeated, or a tuple)."""

from __future__ import annotations

import collections.abc
from itertools import repeat
from typing import Any


def _ntuple(n: int, name: str):
    def parse(x: Any) -> tuple:
        if isinstance(x, collections.abc.Iterable):
            return tuple(x)
        return tuple(repeat(x, n))

    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")


def _reverse_repeat_tuple(t: tuple, n: int) -> tuple:
    """Reverse the order of ``t`` and repeat each element ``n`` times (padding for ``F.pad``)."""
    return tuple(x for x in reversed(t) for _ in range(n))
