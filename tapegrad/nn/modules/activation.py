"""Activation modules: ``ReLU``, ``LeakyReLU``, ``GELU``, ``SiLU``, ``Sigmoid``, ``Tanh``,
``Softmax``, ``LogSoftmax``.

They call the op table's functions directly (the same entries ``nn.functional`` uses), except
in-place ``LeakyReLU``, which needs ``F.leaky_relu(inplace=True)``.
"""

from __future__ import annotations

import warnings

from tapegrad._ops import pointwise, reduction
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
        return input.relu_() if self.inplace else pointwise.relu(input)

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace)


class LeakyReLU(Module):
    """Applies ``LeakyReLU(x) = max(0, x) + negative_slope * min(0, x)`` element-wise."""

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        if self.inplace:  # PyTorch's leaky_relu_ has its own node, LeakyReluBackward1
            return F.leaky_relu(input, self.negative_slope, inplace=True)
        return pointwise.leaky_relu(input, self.negative_slope)

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
        return pointwise.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """Applies the Sigmoid Linear Unit (swish) function element-wise: ``x * sigmoid(x)``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return input.silu_() if self.inplace else pointwise.silu(input)

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


def _softmax_dim(name: str, ndim: int) -> int:
    # PyTorch's implicit dimension for dim=None (deprecated, with its warning).
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=4,
    )
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """Applies the Softmax function along ``dim``: the outputs lie in [0, 1] and sum to 1."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim if self.dim is not None else _softmax_dim("softmax", input.dim())
        return reduction.softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Applies ``log(Softmax(x))`` along ``dim``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim if self.dim is not None else _softmax_dim("log_softmax", input.dim())
        return reduction.log_softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
