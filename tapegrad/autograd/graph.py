"""Graph nodes (``grad_fn`` objects): PyTorch's names, ``next_functions``, hooks, saved values."""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable

__all__ = ["AccumulateGrad", "Node", "RemovableHandle", "node_class"]

_seq = itertools.count()

# Nodes implemented in PyTorch's C++ autograd (not generated from derivatives.yaml) report a
# namespaced ``name()``, while their repr uses the bare class name.
_TORCH_NAMESPACED = frozenset({"AccumulateGrad", "CopyBackwards", "CopySlices", "NotImplemented"})

_metadata: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward."
)


class RemovableHandle:
    """A handle that removes the hook it was returned for: ``handle.remove()``."""

    _ids = itertools.count()

    def __init__(self, hooks: dict, hook: Callable) -> None:
        self.id = next(self._ids)
        self._hooks = hooks
        hooks[self.id] = hook

    def remove(self) -> None:
        """Removes the hook; removing it again does nothing."""
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class Node:
    """A node of the backward graph, the ``grad_fn`` of a tensor computed by a taped op.

    ``next_functions`` holds one ``(node, output_nr)`` pair per operand of the forward op;
    the node is ``None`` for operands that do not need a gradient.
    """

    # Hot fields are slots; rarely-set ones (hooks, retain_grad, released) are class-level
    # defaults stored in the instance dict only when set, so taping a node sets few fields.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_avals",
        "_key",
        "_op",
        "_out_avals",
        "_saved",
        "_seq",
        "_versions",
        "next_functions",
    )
    _tensor_hooks = None
    _retain = None
    _pre_hooks = None
    _post_hooks = None
    _released = False
    _edge_pos = None  # operand positions with a next_functions entry, when not all have one
    _mask = None  # which operands need a gradient, kept when _edge_pos is set
    _vals = ()  # the op's runtime values (``defop(values=...)``), passed to its VJP kernel

    def __init__(self) -> None:
        self._seq = next(_seq)

    def name(self) -> str:
        """The node's name, e.g. ``MulBackward0`` or ``torch::autograd::AccumulateGrad``."""
        name = type(self).__name__
        return f"torch::autograd::{name}" if name in _TORCH_NAMESPACED else name

    @property
    def metadata(self) -> dict:
        """A dict for the user's own annotations of this node, empty at first."""
        d = _metadata.get(self)
        if d is None:
            d = _metadata[self] = {}
        return d

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    def _add_tensor_hook(self, output_nr: int, hook: Callable) -> RemovableHandle:
        if self._tensor_hooks is None:
            self._tensor_hooks = {}
        return RemovableHandle(self._tensor_hooks.setdefault(output_nr, {}), hook)

    def _add_retain_grad(self, output_nr: int, tensor) -> None:
        if self._retain is None:
            self._retain = {}
        self._retain[output_nr] = weakref.ref(tensor)

    def register_hook(self, fn: Callable) -> RemovableHandle:
        """Registers a hook ``fn(grad_inputs, grad_outputs)`` run after this node computes.

        ``grad_inputs`` holds one gradient per entry of ``next_functions`` (empty for
        AccumulateGrad), ``grad_outputs`` the gradients this node received. A tuple returned by
        the hook replaces ``grad_inputs``; None leaves them unchanged.
        """
        if self._post_hooks is None:
            self._post_hooks = {}
        return RemovableHandle(self._post_hooks, fn)

    def register_prehook(self, fn: Callable) -> RemovableHandle:
        """Registers a hook ``fn(grad_outputs)`` run before this node computes.

        It runs after the hooks registered on the tensors this node produced. A tuple returned
        by the hook replaces ``grad_outputs``; None leaves them unchanged.
        """
        if self._pre_hooks is None:
            self._pre_hooks = {}
        return RemovableHandle(self._pre_hooks, fn)


class AccumulateGrad(Node):
    """The node that accumulates gradients into a leaf tensor's ``.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable) -> None:
        self._seq = next(_seq)  # Node.__init__, inlined: created once per leaf per graph
        self.variable = variable
        self.next_functions = ()
        self._versions = None


_NODE_CLASSES: dict[str, type] = {}


def node_class(name: str) -> type:
    """The Node subclass named ``name`` (``MulBackward0``), created once."""
    cls = _NODE_CLASSES.get(name)
    if cls is None:
        cls = type(name, (Node,), {"__slots__": (), "__module__": "tapegrad.autograd.graph"})
        _NODE_CLASSES[name] = cls
    return cls
