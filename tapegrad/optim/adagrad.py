"""Adagrad (PyTorch's ``torch.optim.Adagrad``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax.numpy as jnp

from tapegrad._tensor import Tensor, _wrap
from tapegrad.optim.optimizer import (
    KernelOptimizer,
    check_fused_flags,
    check_lr,
    new_step,
    scalar,
)

__all__ = ["Adagrad"]


def _adagrad_update(options, hypers, params, grads, states):
    has_weight_decay, maximize = options
    lr, lr_decay, eps, weight_decay = hypers
    new_params, new_states = [], []
    for p, g, s in zip(params, grads, states, strict=True):
        step = s["step"] + 1
        if maximize:
            g = -g
        if has_weight_decay:
            g = g + scalar(weight_decay, p) * p
        clr = lr / (1 + (step.astype(jnp.float64) - 1) * lr_decay)
        state_sum = s["sum"] + g * g
        std = jnp.sqrt(state_sum) + scalar(eps, p)
        new_params.append(p + scalar(-clr, p) * g / std)
        new_states.append({"step": step, "sum": state_sum})
    return new_params, new_states


class Adagrad(KernelOptimizer):
    """Implements the Adagrad algorithm.

    Args:
        params: Iterable of parameters to optimize, or dicts defining parameter groups.
        lr: Learning rate.
        lr_decay: Learning rate decay.
        weight_decay: Weight decay, an L2 penalty.
        initial_accumulator_value: Initial value of the sums of squared gradients.
        eps: Term added to the denominator for numerical stability.
        maximize: Maximize the objective with respect to the params, instead of minimizing.
        differentiable: Must be ``False``: the step is a fused kernel that autograd does not
            record (``True`` raises ``NotImplementedError``).
        foreach: Accepted for compatibility; every step is one fused kernel.
        fused: Accepted for compatibility; every step is one fused kernel.
    """

    _update = staticmethod(_adagrad_update)

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_lr(lr)
        if not lr_decay >= 0.0:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not initial_accumulator_value >= 0.0:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        check_fused_flags(foreach, fused, differentiable)
        super().__init__(params, defaults)
        # Unlike the other optimizers, Adagrad creates its state up front.
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group, self.state[p])

    def _options(self, group: dict[str, Any]) -> tuple:
        return (group["weight_decay"] != 0, bool(group["maximize"]))

    def _hypers(self, group: dict[str, Any]) -> tuple:
        return (group["lr"], group["lr_decay"], group["eps"], group["weight_decay"])

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict) -> None:
        a = p._data
        state["step"] = new_step()
        state["sum"] = _wrap(jnp.full(a.shape, group["initial_accumulator_value"], a.dtype))
