"""Adam (PyTorch's ``torch.optim.Adam``), with L2 or decoupled (AdamW) weight decay."""

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

__all__ = ["Adam"]


def _adam_update(options, hypers, params, grads, states):
    has_weight_decay, decoupled, amsgrad, maximize = options
    lr, beta1, beta2, eps, weight_decay = hypers
    new_params, new_states = [], []
    for p, g, s in zip(params, grads, states, strict=True):
        if maximize:
            g = -g
        step = s["step"] + 1
        if has_weight_decay:
            if decoupled:
                p = p * scalar(1 - lr * weight_decay, p)
            else:
                g = g + scalar(weight_decay, p) * p
        exp_avg = lerp(s["exp_avg"], g, 1 - beta1)
        exp_avg_sq = s["exp_avg_sq"] * scalar(beta2, p) + scalar(1 - beta2, p) * g * g
        # PyTorch computes the bias corrections on the host in double precision.
        t = step.astype(jnp.float64)
        bias_correction1 = 1 - beta1**t
        bias_correction2_sqrt = jnp.sqrt(1 - beta2**t)
        step_size = lr / bias_correction1
        ns = {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
        if amsgrad:
            second = ns["max_exp_avg_sq"] = jnp.maximum(s["max_exp_avg_sq"], exp_avg_sq)
        else:
            second = exp_avg_sq
        denom = jnp.sqrt(second) / scalar(bias_correction2_sqrt, p) + scalar(eps, p)
        new_params.append(p + scalar(-step_size, p) * exp_avg / denom)
        new_states.append(ns)
    return new_params, new_states


class Adam(KernelOptimizer):
    """Implements the Adam algorithm.

    Args:
        params: Iterable of parameters to optimize, or dicts defining parameter groups.
        lr: Learning rate.
        betas: Coefficients for the running averages of the gradient and its square.
        eps: Term added to the denominator for numerical stability.
        weight_decay: Weight decay, an L2 penalty.
        amsgrad: Use the AMSGrad variant.
        maximize: Maximize the objective with respect to the params, instead of minimizing.
        differentiable: Must be ``False``: the step is a fused kernel that autograd does not
            record (``True`` raises ``NotImplementedError``).
        decoupled_weight_decay: Decay the weights directly, as AdamW.
        foreach: Accepted for compatibility; every step is one fused kernel.
        capturable: Accepted for compatibility; every step is one fused kernel.
        fused: Accepted for compatibility; every step is one fused kernel.
    """

    _update = staticmethod(_adam_update)

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_lr(lr)
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (
            (isinstance(betas[0], float) and isinstance(betas[1], float))
            or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))
        ):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, beta in enumerate(betas):
            if isinstance(beta, Tensor) and beta.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        check_fused_flags(foreach, fused, differentiable)
        super().__init__(params, defaults)

    def _options(self, group: dict[str, Any]) -> tuple:
        return (
            group["weight_decay"] != 0,
            bool(group["decoupled_weight_decay"]),
            bool(group["amsgrad"]),
            bool(group["maximize"]),
        )

    def _hypers(self, group: dict[str, Any]) -> tuple:
        beta1, beta2 = group["betas"]
        return (group["lr"], beta1, beta2, group["eps"], group["weight_decay"])

    def _init_state(self, p: Tensor, group: dict[str, Any], state: dict) -> None:
        state["step"] = new_step()
        state["exp_avg"] = zeros_like(p)
        state["exp_avg_sq"] = zeros_like(p)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_like(p)
