"""Activation modules: ``ReLU``, ``LeakyReLU``, ``GELU``, ``SiLU``, ``Sigmoid``, ``Tanh``,
``Softmax``, ``LogSoftmax``; each calls its ``nn.functional`` form, as PyTorch's do."""

from __future__ import annotations

from tapegrad._ops import pointwise
from tapegrad._tensor import Tensor
from tapegrad.nn import functional as F
from tapegrad.nn.modules.module import Module

__all__ = ["GELU", "LeakyReLU", "LogSoftmax", "ReLU", "SiLU", "Sigmoid", "Softmax", "Tanh"]


def _inplace_str(inplace: bool) -> str:
    return "inplace=True" if inplace else ""


class ReLU(Module):
    """Applies the rectified linear unit function element-wise: ``ReLU(x) = max(0, x)``.

    ``inplace=True`` does the operation in-place.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace)


class LeakyReLU(Module):
    """Applies ``LeakyReLU(x) = max(0, x) + negative_slope * min(0, x)`` element-wise."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        inplace_str = ", inplace=True" if self.inplace else ""
        return f"negative_slope={self.negative_slope}{inplace_str}"


class GELU(Module):
    """Applies the Gaussian Error Linear Units function ``x * Phi(x)``; with
    ``approximate='tanh'`` it is estimated with the tanh formula."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """Applies the Sigmoid Linear Unit (swish) function element-wise: ``x * sigmoid(x)``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace)


class Sigmoid(Module):
    """Applies the Sigmoid function element-wise: ``1 / (1 + exp(-x))``."""

    def forward(self, input: Tensor) -> Tensor:
        return pointwise.sigmoid(input)


class Tanh(Module):
    """Applies the Hyperbolic Tangent (Tanh) function element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        return pointwise.tanh(input)


class Softmax(Module):
    """Applies the Softmax function along ``dim``: the outputs lie in [0, 1] and sum to 1."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Applies ``log(Softmax(x))`` along ``dim``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
