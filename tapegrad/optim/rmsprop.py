"""RMSprop (PyTorch's ``torch.optim.RMSprop``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax.numpy as jnp

from tapegrad._tensor import Tensor
from tapegrad.optim.optimizer import (
    KernelOptimizer,
    check_fused_flags,
    check_lr,
    lerp,
    new_step,
    scalar,
    zeros_like,
)

__all__ = ["RMSprop"]


def _rmsprop_update(options, hypers, params, grads, states):
    has_weight_decay, has_momentum, centered, maximize = options
    lr, alpha, eps, weight_decay, momentum = hypers
    new_params, new_states = [], []
    for p, g, s in zip(params, grads, states, strict=True):
        if maximize:
            g = -g
        ns = {"step": s["step"] + 1}
        if has_weight_decay:
            g = g + scalar(weight_decay, p) * p
        square_avg = s["square_avg"] * scalar(alpha, p) + scalar(1 - alpha, p) * g * g
        ns["square_avg"] = square_avg
        if centered:
            grad_avg = ns["grad_avg"] = lerp(s["grad_avg"], g, 1 - alpha)
            avg = jnp.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = jnp.sqrt(square_avg)
        avg = avg + scalar(eps, p)
        if has_momentum:
            buf = ns["momentum_buffer"] = s["momentum_buffer"] * scalar(momentum, p) + g / avg
            new_params.append(p + scalar(-lr, p) * buf)
        else:
            new_params.append(p + scalar(-lr, p) * g / avg)
        new_states.append(ns)
    return new_params, new_states


class RMSprop(KernelOptimizer):
    """Implements the RMSprop algorithm.

    Args:
        params: Iterable of parameters to optimize, or dicts defining parameter groups.
        lr: Learning rate.
        alpha: Smoothing constant.
        eps: Term added to the denominator for numerical stability.
        weight_decay: Weight decay, an L2 penalty.
        momentum: Momentum factor.
        centered: Normalize the gradient by an estimate of its variance.
        maximize: Maximize the objective with respect to the params, instead of minimizing.
        differentiable: Must be ``False``: the step is a fused kernel that autograd does not
            record (``True`` raises ``NotImplementedError``).
        foreach: Accepted for compatibility; every step is one fused kernel.
        capturable: Accepted for compatibility; every step is one fused kernel.
    """

    _update = staticmethod(_rmsprop_update)

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_lr(lr)
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not momentum >= 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not alpha >= 0.0:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        check_fused_flags(foreach, None, differentiable)
        super().__init__(params, defaults)

    def _options(self, group: dict[str, Any]) -> tuple:
        return (
            group["weight_decay"] != 0,
            group["momentum"] > 0,
            bool(group["centered"]),
            bool(group["maximize"]),
        )

    def _hypers(self, group: dict[str, Any]) -> tuple:
        return (
            group["lr"],
            group["alpha"],
            group["eps"],
            group["weight_decay"],
            group["momentum"],
        )

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict) -> None:
        state["step"] = new_step()
        state["square_avg"] = zeros_like(p)
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = zeros_like(p)
