"""The optimizer base class (PyTorch's ``torch.optim.Optimizer``) and the fused step.

``Optimizer`` holds ``param_groups`` and per-parameter ``state`` exactly as PyTorch lays them out,
so ``state_dict()`` and ``load_state_dict()`` exchange the same structure. ``KernelOptimizer``
is the step shared by SGD, Adam, AdamW, RMSprop and Adagrad: per parameter group, ONE
``jax.jit`` kernel updates every parameter and state tensor of the group at once. The kernel
is a pure function over lists of arrays; hyperparameters (lr, betas, eps, ...) enter it as
traced 0-d arrays, so a learning-rate scheduler never causes a recompile, and only boolean
options (nesterov, amsgrad, maximize, "weight decay is nonzero", ...) select the kernel. Results
are written back with ``inplace.write`` (new storage array, version bump), as PyTorch's in-place
updates do; no value is read back to the host, so ``step()`` can also run under a jax trace.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from tapegrad import _dtype as dt
from tapegrad._grad_mode import enable_grad, no_grad
from tapegrad._kernel_cache import KERNELS
from tapegrad._ops._registry import _scalar_array
from tapegrad._ops.inplace import write
from tapegrad._tensor import Tensor, _wrap
from tapegrad._tracing import capture as _capture

__all__ = ["Optimizer", "required"]

SET_OF_PARAMS = (
    "optimizer parameters need to be organized in ordered collections, but the ordering of "
    "tensors in sets will change between runs. Please use a list instead."
)
DUPLICATE_PARAMS = (
    "optimizer contains a parameter group with duplicate parameters; in future, this will "
    "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information"
)
GROUP_COUNT_MISMATCH = "loaded state dict has a different number of parameter groups"
GROUP_SIZE_MISMATCH = (
    "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
)
DIFFERENTIABLE_UNSUPPORTED = (
    "differentiable=True is not supported by tapegrad optimizers: their step is a fused "
    "kernel that autograd does not record"
)

# How many times each optimizer's step kernel was traced (compiled), by class name. Changing
# a hyperparameter's value must never add to it; tests read it.
TRACES: Counter = Counter()


class _RequiredParameter:
    """Singleton class representing a required parameter for an Optimizer."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj: Any) -> str:
    # torch.typename: legacy tensor type names, else the qualified class name.
    if isinstance(obj, Tensor):
        from tapegrad.autograd._errors import legacy_type_name

        return legacy_type_name(obj.dtype.name, obj.device.type)
    module = getattr(type(obj), "__module__", "") or ""
    name = type(obj).__qualname__
    return name if module in ("", "builtins") else f"{module}.{name}"


def scalar_dtype() -> dt.dtype:
    """The dtype of ``state['step']``: float32, or float64 when that is the default dtype."""
    return dt.float64 if dt.get_default_dtype() is dt.float64 else dt.float32


class Optimizer:
    """Base class for all optimizers.

    Args:
        params: An iterable of tensors, or of dicts (parameter groups) each holding a ``'params'``
            entry and options that override ``defaults`` for that group.
        defaults: A dict with the default values of the optimization options.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any]):
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got " + _typename(params)
            )
        self.state: defaultdict[Tensor, Any] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None:  # decorated once, where the class is defined
            cls.step = _recorded(step)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "defaults": self.defaults,
            "state": self.state,
            "param_groups": self.param_groups,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.defaults.setdefault("differentiable", False)

    def __repr__(self) -> str:
        format_string = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            format_string += "\n"
            format_string += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    format_string += f"    {key}: {group[key]}\n"
        format_string += ")"
        return format_string

    # ----- state dicts --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Returns the state of the optimizer as a dict with two entries.

        - ``state``: a dict mapping parameter ids (their position across all groups) to a dict
          with that parameter's state (the state tensors themselves, not copies).
        - ``param_groups``: a list of the groups' options, each with ``'params'`` the list of
          its parameter ids.
        """
        param_mappings: dict[int, int] = {}
        start_index = 0

        def pack_group(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start_index
            packed = {k: v for k, v in group.items() if k != "params"}
            param_mappings.update(
                {
                    id(p): i
                    for i, p in enumerate(group["params"], start_index)
                    if id(p) not in param_mappings
                }
            )
            packed["params"] = [param_mappings[id(p)] for p in group["params"]]
            start_index += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {
            (param_mappings[id(k)] if isinstance(k, Tensor) else k): v
            for k, v in self.state.items()
        }
        return {"state": packed_state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads the optimizer state.

        ``state_dict`` should be an object returned from a call to ``state_dict()``. Floating
        state tensors are cast to their parameter's dtype (``step`` is kept as it is).
        """
        state_dict = state_dict.copy()
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(GROUP_COUNT_MISMATCH)
        param_lens = (len(g["params"]) for g in groups)
        saved_lens = (len(g["params"]) for g in saved_groups)
        if any(p_len != s_len for p_len, s_len in zip(param_lens, saved_lens, strict=True)):
            raise ValueError(GROUP_SIZE_MISMATCH)
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
                strict=True,
            )
        )
        state: defaultdict[Any, dict] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast_state(param, v)
            else:
                state[k] = v

        def update_group(group: dict[str, Any], new_group: dict[str, Any]) -> dict[str, Any]:
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups, strict=True)]
        self.__setstate__({"state": state, "param_groups": param_groups})

    # ----- gradients and steps ------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Resets the gradients of all optimized tensors.

        With ``set_to_none=True`` (the default) each ``.grad`` becomes None; otherwise it is
        detached and filled with zeros in place.
        """
        for group in self.param_groups:
            for p in group["params"]:
                grad = p._grad
                if grad is None:
                    continue
                if set_to_none:
                    p._grad = None
                    continue
                if grad._grad_fn is not None:
                    grad.detach_()
                else:
                    grad.requires_grad_(False)
                with no_grad():
                    grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Performs a single optimization step (parameter update).

        ``closure``: a function that reevaluates the model and returns the loss; optional for
        most optimizers.
        """
        raise NotImplementedError

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a parameter group to the optimizer's ``param_groups``.

        Useful when fine-tuning a pre-trained network: frozen layers can be made trainable and
        added to the optimizer as training progresses. Options missing from ``param_group``
        take the optimizer's defaults.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(SET_OF_PARAMS)
        else:
            param_group["params"] = list(params)

        tensors, names = [], []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are "
                    "missing"
                )
            param_group["param_names"] = names

        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    + _typename(param)
                )
            if not self.defaults.get("differentiable", None) and not (
                param.is_leaf or param.retains_grad
            ):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)

        params = param_group["params"]
        if len(params) != len(set(params)):
            warnings.warn(DUPLICATE_PARAMS, UserWarning, stacklevel=3)

        param_set: set[Tensor] = set()
        for group in self.param_groups:
            param_set.update(set(group["params"]))
            if ("param_names" in param_group) != ("param_names" in group):
                current = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {current} to the optimizer"
                )
        if not param_set.isdisjoint(set(param_group["params"])):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)


def _cast_state(param: Tensor, value: Any, key: Any = None) -> Any:
    """PyTorch's policy for loaded state: floating tensors take the parameter's dtype, except
    ``step``; containers are rebuilt."""
    if isinstance(value, Tensor):
        if key == "step":
            return value
        if param.dtype.is_floating_point and value.dtype is not param.dtype:
            value = value.to(param.dtype)
        if value.device != param.device:
            value = value.to(param.device)
        return value
    if isinstance(value, dict):
        return {k: _cast_state(param, v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, v) for v in value)
    return value


def check_fused_flags(foreach: bool | None, fused: bool | None, differentiable: bool) -> None:
    """PyTorch's checks of the implementation flags. tapegrad's step is always one fused
    kernel, so ``foreach`` and ``fused`` are accepted and change nothing."""
    if differentiable:
        raise NotImplementedError(DIFFERENTIABLE_UNSUPPORTED)
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def check_lr(lr: Any) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not lr >= 0.0:
        # PyTorch formats a 0-d tensor as its number (Tensor.__format__ with an empty spec)
        value = lr.item() if isinstance(lr, Tensor) and lr.ndim == 0 else lr
        raise ValueError(f"Invalid learning rate: {value}")


# ----- the fused step ---------------------------------------------------------------------
def _recorded(step: Callable) -> Callable:
    """``step``, noting in the capture context of a thread tracing a compiled function that it
    ran (the compiler then sets ``_opt_called``, which a scheduler checks)."""

    @functools.wraps(step)
    def recorded_step(self, *args: Any, **kwargs: Any) -> Any:
        stepped = _capture.stepped
        if stepped is not None:
            stepped.append(self)
        return step(self, *args, **kwargs)

    return recorded_step


def hyper_array(value: Any):
    """A hyperparameter as a kernel argument: a Python number becomes a cached float64 0-d
    array (so 0 and 0.0 share one compiled kernel); a tensor passes its array."""
    if isinstance(value, Tensor):
        return value._data.reshape(())
    return _scalar_array(float(value))


def scalar(x, like):
    """A float64 hyperparameter expression cast to ``like``'s dtype, as PyTorch casts Python
    scalars to the tensor's dtype inside its kernels."""
    return x.astype(like.dtype)


def lerp(start, end, weight):
    """PyTorch's ``lerp`` with a scalar weight (its two-sided formula, for accuracy)."""
    w = scalar(weight, start)
    diff = end - start
    return jnp.where(jnp.abs(w) < 0.5, start + w * diff, end - diff * (1 - w))


def _kernel(cls: type, options: tuple, signature: tuple) -> Callable:
    """The jitted update of ``cls`` for one group's options and its parameters' shapes
    (``signature``), kept in the bounded ``KERNELS``."""
    key = ("optimizer", cls, options, signature)
    k = KERNELS.get(key)
    if k is None:
        update = cls._update
        name = cls.__name__

        def run(hypers, params, grads, states):
            TRACES[name] += 1
            return update(options, hypers, params, grads, states)

        k = KERNELS.put(key, jax.jit(run))
    return k


class KernelOptimizer(Optimizer):
    """An optimizer whose ``step()`` runs one jit-compiled kernel per parameter group.

    Subclasses give ``_options(group)`` (a tuple of booleans that selects the kernel),
    ``_hypers(group)`` (the numbers passed to it as traced arrays), ``_init_state(p, group,
    state)`` (lazy state creation) and ``_update(options, hypers, params, grads, states)``: a
    pure function from lists of arrays (``states`` a list of dicts of arrays, one per
    parameter) to ``(new_params, new_states)``. A state entry the kernel returns that the
    parameter's state lacks is created (SGD's first momentum buffer).
    """

    _update: ClassVar[Callable]

    def _options(self, group: dict) -> tuple:
        raise NotImplementedError

    def _hypers(self, group: dict) -> tuple:
        raise NotImplementedError

    def _init_state(self, p: Tensor, group: dict, state: dict) -> None:
        pass

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Performs a single optimization step.

        ``closure``: a function that reevaluates the model and returns the loss.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group: dict) -> None:
        params = [p for p in group["params"] if p._grad is not None]
        if not params:
            return
        all_state = self.state
        states = []
        for p in params:
            s = all_state.get(p)
            if not s:
                # Not through the defaultdict: like PyTorch's SGD without momentum, a step that
                # keeps no state leaves ``state`` empty.
                s = {}
                self._init_state(p, group, s)
                if s:
                    all_state[p] = s
            states.append(s)
        arrays = [p._data for p in params]
        grads = [p._grad._data for p in params]
        state_arrays = [{k: v._data for k, v in s.items() if isinstance(v, Tensor)} for s in states]
        # The parameters' shapes tell one model's kernel from another's (a grad or a state
        # with other shapes or dtypes would only add an executable to the same jit function).
        kernel = _kernel(type(self), self._options(group), tuple(a.shape for a in arrays))
        lifted = _capture.hypers  # traced values while tapegrad.compile traces this step
        values = lifted[id(group)] if lifted is not None and id(group) in lifted else None
        if values is None:
            values = self._hypers(group)
        hypers = tuple(hyper_array(h) for h in values)
        new_params, new_states = kernel(hypers, arrays, grads, state_arrays)
        for p, a in zip(params, new_params, strict=True):
            write(p, a)
        for p, s, ns in zip(params, states, new_states, strict=True):
            for k, a in ns.items():
                t = s.get(k)
                if isinstance(t, Tensor):
                    write(t, a)
                else:
                    s[k] = _wrap(a)
                    all_state[p] = s

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for name, default in self.defaults.items():
                if default is not required:
                    group.setdefault(name, default)
        sdt = scalar_dtype().jax
        for s in self.state.values():
            if isinstance(s, dict) and "step" in s and not isinstance(s["step"], Tensor):
                s["step"] = _wrap(jnp.asarray(float(s["step"]), sdt))


def new_step() -> Tensor:
    """A fresh ``state['step']``: a 0-d zero of ``scalar_dtype()``."""
    return _wrap(jnp.zeros((), scalar_dtype().jax))


def zeros_like(p: Tensor) -> Tensor:
    a = p._data
    return _wrap(jnp.zeros(a.shape, a.dtype))
