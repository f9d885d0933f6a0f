"""``tapegrad.autograd``: ``backward``, ``grad``, the grad modes and the graph's node types."""

from __future__ import annotations

from tapegrad import _grad_mode as grad_mode
from tapegrad._grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from tapegrad.autograd import graph
from tapegrad.autograd._api import backward, grad
from tapegrad.autograd.graph import Node

__all__ = [
    "Node",
    "backward",
    "enable_grad",
    "grad",
    "grad_mode",
    "graph",
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "no_grad",
    "set_grad_enabled",
]
