"""``Parameter``: a leaf tensor that a ``Module`` registers as one of its parameters."""

from __future__ import annotations

from typing import Any

from tapegrad._creation import empty
from tapegrad._tensor import Tensor, _new

__all__ = ["Parameter"]

NON_FLOAT_PARAMETER = "Only Tensors of floating point and complex dtype can require gradients"


class _ParameterMeta(type):
    # As PyTorch: any tensor carrying the ``_is_param`` flag counts as a Parameter.
    def __instancecheck__(cls, instance: Any) -> bool:
        if cls is Parameter and isinstance(instance, Tensor) and instance._is_param:
            return True
        return super().__instancecheck__(instance)


class Parameter(Tensor, metaclass=_ParameterMeta):
    """A kind of Tensor that is to be considered a module parameter.

    Parameters are ``Tensor`` subclasses that have a very special property when used with
    ``Module`` s: when they're assigned as Module attributes they are automatically added to the
    list of its parameters, and will appear e.g. in ``Module.parameters()``. Assigning a Tensor
    doesn't have such effect.

    Operations on a Parameter return plain Tensors.

    Args:
        data: Parameter tensor; the parameter shares its storage and version counter (as
            ``data.detach()`` would). An empty float tensor when ``None``.
        requires_grad: If the parameter requires gradient. ``no_grad`` does NOT affect it: the
            Parameter still has ``requires_grad=True`` under ``no_grad``.
    """

    _is_param = True

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(
                f"Parameter.__new__(): argument 'data' must be Tensor, not {type(data).__name__}"
            )
        p = _new(cls)
        p._storage = data._storage
        p._view = data._view
        p._base = data._base
        p._vc = data._version_counter()
        p._is_inference = data._is_inference
        p._set_requires_grad(bool(requires_grad), NON_FLOAT_PARAMETER)
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # everything happens in __new__ (Tensor.__init__ refuses to construct)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.data.clone(), self.requires_grad)
        memo[id(self)] = result
        return result
