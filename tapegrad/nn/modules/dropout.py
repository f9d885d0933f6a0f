"""``Dropout``: zeroes elements with probability ``p`` in training mode only."""

from __future__ import annotations

from tapegrad._tensor import Tensor
from tapegrad.nn import functional as F
from tapegrad.nn.modules.module import Module

__all__ = ["Dropout"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """During training, randomly zeroes some of the elements of the input tensor with
    probability ``p`` and scales the outputs by ``1 / (1 - p)``; in evaluation mode it
    returns its input."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)
