"""Stochastic gradient descent, optionally with momentum (PyTorch's ``torch.optim.SGD``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tapegrad._tensor import Tensor
from tapegrad.optim.optimizer import KernelOptimizer, check_fused_flags, check_lr, scalar

__all__ = ["SGD"]


def _sgd_update(options, hypers, params, grads, states):
    has_weight_decay, has_momentum, nesterov, maximize = options
    lr, momentum, dampening, weight_decay = hypers
    new_params, new_states = [], []
    for p, g, s in zip(params, grads, states, strict=True):
        if maximize:
            g = -g
        if has_weight_decay:
            g = g + scalar(weight_decay, p) * p
        ns = {}
        if has_momentum:
            buf = s.get("momentum_buffer")  # None at the first step: the buffer starts as g
            if buf is not None:
                g_damped = scalar(1 - dampening, buf) * g
                buf = buf * scalar(momentum, buf) + g_damped
            else:
                buf = g
            ns["momentum_buffer"] = buf
            g = g + scalar(momentum, g) * buf if nesterov else buf
        new_params.append(p + scalar(-lr, p) * g)
        new_states.append(ns)
    return new_params, new_states


class SGD(KernelOptimizer):
    """Implements stochastic gradient descent (optionally with momentum).

    Args:
        params: Iterable of parameters to optimize, or dicts defining parameter groups.
        lr: Learning rate.
        momentum: Momentum factor.
        dampening: Dampening for momentum.
        weight_decay: Weight decay, an L2 penalty.
        nesterov: Enables Nesterov momentum; needs a momentum and zero dampening.
        maximize: Maximize the objective with respect to the params, instead of minimizing.
        differentiable: Must be ``False``: the step is a fused kernel that autograd does not
            record (``True`` raises ``NotImplementedError``).
        foreach: Accepted for compatibility; every step is one fused kernel.
        fused: Accepted for compatibility; every step is one fused kernel.
    """

    _update = staticmethod(_sgd_update)

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_lr(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        check_fused_flags(foreach, fused, differentiable)
        super().__init__(params, defaults)

    def _options(self, group: dict[str, Any]) -> tuple:
        return (
            group["weight_decay"] != 0,
            group["momentum"] != 0,
            bool(group["nesterov"]),
            bool(group["maximize"]),
        )

    def _hypers(self, group: dict[str, Any]) -> tuple:
        return (group["lr"], group["momentum"], group["dampening"], group["weight_decay"])
