"""The Tensor class: a jax.Array in a shared storage, plus autograd metadata.

Operations on tensors live in ``tapegrad._ops``; they are attached as methods by
``tapegrad._methods`` so that every spelling (method, function, operator) reaches one op entry.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any

import jax
import numpy as np

from tapegrad import _dtype as dt
from tapegrad._device import device as _device_cls
from tapegrad._device import from_jax_device
from tapegrad._grad_mode import state as _mode
from tapegrad._storage import PendingStorage, Storage, VersionCounter
from tapegrad._tracing import host_value, structure_version

__all__ = ["Size", "Tensor"]


class Size(tuple):
    """A tensor's shape: a tuple that prints as ``torch.Size([2, 3])``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"torch.Size({list(self)!r})"

    __str__ = __repr__

    def numel(self) -> int:
        """Returns the number of elements a tensor of this shape holds."""
        n = 1
        for s in self:
            n *= s
        return n


NON_LEAF_REQUIRES_GRAD = (
    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
    "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
)
SCALAR_CONVERSION = "only one element tensors can be converted to Python scalars"
# PyTorch words these two differently: requires_grad_() and the requires_grad setter.
NON_FLOAT_REQUIRES_GRAD = "only Tensors of floating point dtype can require gradients"
NON_FLOAT_SETTER = "only Tensors of floating point and complex dtype can require gradients"
NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad field "
    "to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you "
    "access the non-leaf Tensor by mistake, make sure you access the leaf Tensor instead. See "
    "github.com/pytorch/pytorch/pull/30531 for more information."
)


def _requires_grad_leaf_error(requires_grad: bool) -> str:
    # PyTorch's requires_grad_leaf_error: the detach() hint only when turning grad off.
    if requires_grad:
        return "you can only change requires_grad flags of leaf variables."
    return NON_LEAF_REQUIRES_GRAD


class Tensor:
    """A multi-dimensional array with autograd, PyTorch's ``torch.Tensor`` on a ``jax.Array``."""

    # Rarely-set attributes live on the class so creating a tensor sets only a few fields.
    _view = None
    _base = None
    _vc = None
    _requires_grad = False
    _grad_fn = None
    _output_nr = 0
    _grad = None
    _hooks = None
    _grad_acc = None
    _retains_grad = False
    _is_inference = False
    _is_param = False
    # Views only: the version at which _grad_fn was last set, and PyTorch's CreationMeta
    # (None for DEFAULT, else "no_grad", "inference" or "multi").
    _attr_version = 0
    _made_by_view_op = False  # PyTorch's is_view(); detach()/.data aliases are not views
    _creation = None
    _meta = None  # (dtype, is 0-d) for promotion, cached by dispatch

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "tapegrad.Tensor(...) is not a constructor here: use tapegrad.tensor(data), "
            "tapegrad.empty(size) or tapegrad.zeros(size)"
        )

    # ----- data ---------------------------------------------------------------------------
    @property
    def _data(self) -> jax.Array:
        v = self._view
        if v is None:
            return self._storage.array
        return v.read(self._storage)

    @property
    def _peek(self):
        """The tensor's array, or while it is a pending step of a deferred segment its
        ``PendingStorage``, which has the array's ``shape``, ``dtype``, ``ndim`` and ``size``:
        for code that needs only those, without running the segment."""
        st = self._storage
        if type(st) is PendingStorage and st.segment is not None and self._view is None:
            return st
        v = self._view
        return st.array if v is None else v.read(st)

    def _version_counter(self) -> VersionCounter:
        vc = self._vc
        if vc is None:
            vc = self._vc = VersionCounter()
        return vc

    @property
    def _version(self) -> int:
        if self._is_inference:
            raise RuntimeError("Inference tensors do not track version counter.")
        return self._version_value()

    def _version_value(self) -> int:
        """The version counter's value, for tapegrad's own checks (no inference-tensor error)."""
        vc = self._vc
        return 0 if vc is None else vc.value

    def _promotion_key(self) -> tuple:
        a = self._peek
        return (dt.from_numpy_dtype(a.dtype), a.ndim == 0)

    # ----- metadata -----------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        """The size of the tensor, a ``torch.Size``: the same as ``size()``."""
        return Size(self._peek.shape)

    def size(self, dim: int | None = None) -> Size | int:
        """Returns the size of the tensor, or of dimension ``dim``."""
        shape = self._peek.shape
        if dim is None:
            return Size(shape)
        from tapegrad._ops._util import normalize_dim

        return shape[normalize_dim(dim, len(shape))]

    @property
    def dtype(self) -> dt.dtype:
        """The data type of the tensor's elements, such as ``torch.float32``."""
        return dt.from_numpy_dtype(self._peek.dtype)

    @property
    def device(self) -> _device_cls:
        """The ``torch.device`` where this tensor is."""
        (d,) = self._peek.devices()
        return from_jax_device(d)

    @property
    def is_cuda(self) -> bool:
        """Is ``True`` if the tensor is stored on the GPU, ``False`` otherwise."""
        return self.device.type == "cuda"

    @property
    def ndim(self) -> int:
        """The number of dimensions of the tensor: the same as ``dim()``."""
        return self._peek.ndim

    def dim(self) -> int:
        """Returns the number of dimensions of the tensor."""
        return self._peek.ndim

    ndimension = dim

    def numel(self) -> int:
        """Returns the total number of elements in the tensor."""
        return int(self._peek.size)

    nelement = numel

    def element_size(self) -> int:
        """Returns the size in bytes of an individual element."""
        return self.dtype.itemsize

    def is_floating_point(self) -> bool:
        """Returns True if the data type of the tensor is a floating point data type."""
        return self.dtype.is_floating_point

    def is_complex(self) -> bool:
        """Returns True if the data type of the tensor is a complex data type (never, here)."""
        return False

    def is_inference(self) -> bool:
        """Returns True if the tensor is an inference tensor (created in ``inference_mode``)."""
        return self._is_inference

    def __len__(self) -> int:
        shape = self._peek.shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    # ----- autograd metadata --------------------------------------------------------------
    def _history(self):
        """``grad_fn``, after regenerating a view's history if its base (or another view of
        it) was modified in place since it was last set, as PyTorch does lazily."""
        if self._base is not None and self._attr_version != self._vc.value:
            global _refresh_view
            if _refresh_view is None:
                from tapegrad._ops.inplace import refresh_view as _refresh_view
            _refresh_view(self)
        return self._grad_fn

    @property
    def requires_grad(self) -> bool:
        """Is ``True`` if gradients need to be computed for this tensor, ``False`` otherwise.

        Only a leaf's flag can be set; a non-leaf's follows from the inputs of the op that made
        it.
        """
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._history() is not None:
            raise RuntimeError(_requires_grad_leaf_error(bool(value)))
        self._set_requires_grad(bool(value))

    def _set_requires_grad(self, value: bool, message: str = NON_FLOAT_SETTER) -> None:
        if value and not self.dtype.is_floating_point:
            raise RuntimeError(message)
        if value and self._is_inference:
            raise RuntimeError(
                "Setting requires_grad=True on inference tensor outside InferenceMode is not "
                "allowed."
            )
        self._requires_grad = value
        structure_version[0] += 1

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Change if autograd should record operations on this tensor: sets it in place.

        As in PyTorch, ``requires_grad_(True)`` on a non-leaf (which already requires grad) is a
        no-op, while ``requires_grad_(False)`` on a non-leaf raises.
        """
        requires_grad = bool(requires_grad)
        if self._history() is not None:
            if not requires_grad:
                raise RuntimeError(_requires_grad_leaf_error(False))
            return self
        self._set_requires_grad(requires_grad, NON_FLOAT_REQUIRES_GRAD)
        return self

    @property
    def grad_fn(self):
        """The node that created this tensor and propagates gradients to its inputs.

        ``None`` for leaves. Its ``name()`` is PyTorch's (``MulBackward0``, ...) and its
        ``next_functions`` lead to the nodes of the op's inputs.
        """
        return self._history()

    @property
    def is_leaf(self) -> bool:
        """Whether this tensor is a leaf of the graph: ``grad_fn`` is None.

        Tensors that do not require grad are leaves by convention; tensors that require grad
        are leaves when the user created them rather than an op. Only leaves have their
        ``grad`` populated by ``backward()``.
        """
        return self._history() is None

    @property
    def grad(self) -> Tensor | None:
        """The gradient computed for this tensor by ``backward()``; ``None`` until then.

        Further calls to ``backward()`` accumulate (add) gradients into it. Reading it on a
        non-leaf that does not retain its grad returns ``None`` and warns.
        """
        if self._history() is not None and not self._retains_grad:
            warnings.warn(NON_LEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        g = self._grad
        if g is not None and g._storage.pin_on_read:
            g._storage.pin()
        return g

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value.dtype is not self.dtype:
                raise RuntimeError("assigned grad has data of a different type")
            if value._data.shape != self._data.shape:
                raise RuntimeError("assigned grad has data of a different size")
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    @property
    def retains_grad(self) -> bool:
        """Is ``True`` if this non-leaf tensor will have its ``grad`` populated by backward."""
        return self._retains_grad

    @property
    def output_nr(self) -> int:
        """Which output of its ``grad_fn`` this tensor is (0 for single-output ops)."""
        return self._output_nr

    @property
    def _accumulate_node(self):
        """This leaf's AccumulateGrad node, shared while some graph holds it."""
        ref = self._grad_acc
        node = ref() if ref is not None else None
        if node is None:
            global _AccumulateGrad
            if _AccumulateGrad is None:
                from tapegrad.autograd.graph import AccumulateGrad as _AccumulateGrad
            node = _AccumulateGrad(self)
            self._grad_acc = weakref.ref(node)
        return node

    def retain_grad(self) -> None:
        """Enables this non-leaf tensor to have its ``.grad`` populated during backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._history() is None or self._retains_grad:
            return
        self._grad_fn._add_retain_grad(self._output_nr, self)
        self._retains_grad = True

    def register_hook(self, hook):
        """Registers a backward hook, called with the gradient of this tensor.

        The hook may return a new gradient to use in place of ``grad``. Returns a handle whose
        ``remove()`` removes the hook.
        """
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from tapegrad.autograd.graph import RemovableHandle

        if self._history() is not None:
            return self._grad_fn._add_tensor_hook(self._output_nr, hook)
        if self._hooks is None:
            self._hooks = {}
        return RemovableHandle(self._hooks, hook)

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs=None,
    ) -> None:
        """Computes the gradient of this tensor w.r.t. graph leaves, accumulating into ``.grad``.

        Args:
            gradient: The gradient w.r.t. this tensor (the "vector" of the vector-Jacobian
                product). Needed unless the tensor has one element.
            retain_graph: If ``False``, the graph's saved values are freed after the pass, so a
                second backward through it raises. Defaults to ``create_graph``.
            create_graph: If ``True``, the backward pass is recorded, so higher-order
                derivatives can be computed.
            inputs (Tensor or sequence of Tensor, optional): Tensors into whose ``.grad`` the
                gradient is accumulated; all leaves when omitted.
        """
        from tapegrad.autograd import backward

        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # ----- data aliases -------------------------------------------------------------------
    def detach(self) -> Tensor:
        """Returns a new tensor, detached from the graph, sharing storage and version counter."""
        out = _alias(self)
        out._vc = self._version_counter()
        return out

    def detach_(self) -> Tensor:
        """Detaches the tensor from the graph that created it, making it a leaf."""
        if self._made_by_view_op:
            raise RuntimeError(
                "Can't detach views in-place. Use detach() instead. If you are using "
                "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is set "
                "as True, gradients are views of DDP buckets, and hence detach_() cannot be "
                "called on these gradients. To fix this error, please refer to the "
                "Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution."
            )
        self._grad_fn = None
        self._requires_grad = False
        self._output_nr = 0
        structure_version[0] += 1
        return self

    def _is_view(self) -> bool:
        """True if this tensor was made by a view op and shares its base's storage."""
        return self._made_by_view_op

    @property
    def data(self) -> Tensor:
        """The tensor's values as a new leaf outside the graph, sharing storage.

        Unlike ``detach()`` it does not share the version counter, so autograd cannot see
        in-place writes made through it: prefer ``detach()``, or ``no_grad()`` for updates.
        Assigning a tensor to ``data`` makes this tensor use that tensor's storage.
        """
        return _alias(self)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, not {type(value).__name__}")
        self._storage = value._storage
        self._view = value._view
        self._meta = None
        structure_version[0] += 1

    # ----- conversion to Python / NumPy ---------------------------------------------------
    def item(self) -> float | int | bool:
        """Returns the value of this one-element tensor as a standard Python number."""
        a = self._data
        if a.size != 1:
            raise RuntimeError(f"a Tensor with {a.size} elements cannot be converted to Scalar")
        return host_value(a, "item", "Tensor.item()").reshape(()).item()

    def tolist(self) -> Any:
        """Returns the tensor as a (nested) list of Python numbers."""
        arr = host_value(self._data, "tolist", "Tensor.tolist()")
        if arr.dtype.kind == "V" or str(arr.dtype) == "bfloat16":
            arr = arr.astype(np.float32)
        return arr.tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """Returns the tensor's values as a NumPy array (a copy: JAX arrays are immutable)."""
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return np.array(host_value(self._data, "numpy", "Tensor.numpy()"))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        arr = host_value(self._data, "numpy", "Converting a tensor to a NumPy array")
        return arr if dtype is None else arr.astype(dtype)

    def _scalar_value(self):
        a = self._data
        if a.size != 1:
            raise ValueError(SCALAR_CONVERSION)
        return host_value(a, "number", "Converting a tensor to a Python number").reshape(()).item()

    def __bool__(self) -> bool:
        a = self._data
        if a.size != 1:
            raise RuntimeError(
                "Boolean value of Tensor with "
                + ("no values" if a.size == 0 else "more than one value")
                + " is ambiguous"
            )
        value = host_value(a, "bool", "The truth value of a tensor (if tensor: / while tensor:)")
        return bool(value.reshape(()).item())

    def __float__(self) -> float:
        return float(self._scalar_value())

    def __int__(self) -> int:
        return int(self._scalar_value())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._scalar_value())

    def __hash__(self) -> int:
        return id(self)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __repr__(self, *, tensor_contents=None) -> str:
        from tapegrad._tensor_str import tensor_repr

        values = host_value(self._data, "print", "Printing a tensor")
        dev = self.device
        gf = self._grad_fn
        return tensor_repr(
            values,
            self.dtype,
            device=None if dev.type == "cpu" else str(dev),
            requires_grad=self._requires_grad and gf is None,
            grad_fn_name=None if gf is None else _grad_fn_name(gf),
            prefix=self._repr_prefix(),
        )

    def _repr_prefix(self) -> str:
        return "tensor("

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self.ndim == 0:  # PyTorch formats a 0-d tensor as its number, with or without spec
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __reduce_ex__(self, protocol):
        raise TypeError(
            "tapegrad tensors are not pickled; save them with tapegrad.save or convert with "
            ".numpy()"
        )

    def __deepcopy__(self, memo):
        out = _wrap(self._data)
        out._requires_grad = self._requires_grad if self._grad_fn is None else False
        if self._grad is not None:
            out._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = out
        return out


_new = object.__new__
_AccumulateGrad = None  # tapegrad.autograd.graph.AccumulateGrad, imported on first use
_refresh_view = None  # tapegrad._ops.inplace.refresh_view, imported on first use


def _grad_fn_name(node) -> str:
    # As torch/_tensor_str.py: the node's class name (CopyBackwards, not
    # torch::autograd::CopyBackwards); a C++ node without a Python class prints its name's tail.
    name = type(node).__name__
    if name == "CppFunction":
        name = node.name().rsplit("::", 1)[-1]
    return name


def _wrap(array: jax.Array) -> Tensor:
    """A new leaf tensor holding ``array`` (no copy), not requiring grad."""
    t = _new(Tensor)
    t._storage = Storage(array)
    if _mode.inference:
        t._is_inference = True
    return t


def _alias(src: Tensor) -> Tensor:
    """A leaf sharing ``src``'s storage (and view), with a fresh version counter."""
    t = _new(Tensor)
    t._storage = src._storage
    t._view = src._view  # reads through the same chain, but is not a view for autograd
    t._is_inference = src._is_inference
    return t
