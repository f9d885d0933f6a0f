"""Neural-network building blocks: ``Module``, ``Parameter``, layers, losses, ``init``.

``tapegrad.nn`` mirrors ``torch.nn``: the same class names, constructor signatures, default
initialisations, ``repr`` strings, ``state_dict`` keys and error messages.
"""

from tapegrad.nn import functional, init
from tapegrad.nn.modules import *  # noqa: F403
from tapegrad.nn.modules import __all__ as _modules_all
from tapegrad.nn.parameter import Parameter

__all__ = ["Parameter", "functional", "init", *_modules_all]
