"""Thread-local grad modes: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``.

Every mode is a context manager and a decorator (on plain and generator functions). The state is
per thread and is restored when a ``with`` block or a decorated call exits, exceptions included.

Three flags live in ``state``:

- ``grad_mode``: what ``is_grad_enabled()`` reports (PyTorch's ``GradMode``);
- ``inference``: what ``is_inference_mode_enabled()`` reports;
- ``grad_enabled``: whether ops are taped, i.e. ``grad_mode and not inference``. Inside
  ``inference_mode`` PyTorch records nothing even under ``enable_grad`` (which still makes
  ``is_grad_enabled()`` True), so the dispatcher reads this derived flag, and every setter here
  keeps it in step with the other two.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = [
    "enable_grad",
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "no_grad",
    "set_grad_enabled",
]

F = TypeVar("F", bound=Callable[..., Any])

DECORATING_CLASSES = (
    "Decorating classes is deprecated and will be disabled in future versions. You should only "
    "decorate functions or methods. To preserve the current behavior of class decoration, you "
    "can directly decorate the `__init__` method and nothing else."
)


class _State(threading.local):
    # Class attributes are the defaults every new thread starts from.
    grad_mode = True
    inference = False
    grad_enabled = True


state = _State()


def is_grad_enabled() -> bool:
    """Returns True if grad mode is currently enabled."""
    return state.grad_mode


def is_inference_mode_enabled() -> bool:
    """Returns True if inference mode is currently enabled."""
    return state.inference


def _set_modes(grad_mode: bool, inference: bool) -> None:
    s = state
    s.grad_mode = grad_mode
    s.inference = inference
    s.grad_enabled = grad_mode and not inference


def _set_grad_mode(mode: bool) -> None:
    s = state
    s.grad_mode = mode
    s.grad_enabled = mode and not s.inference


def _typename(obj: object) -> str:
    # CPython's tp_name, which PyTorch's argument parser prints: "int", "numpy.bool", "Foo".
    cls = type(obj)
    if cls.__flags__ & (1 << 9) or cls.__module__ == "builtins":  # Py_TPFLAGS_HEAPTYPE
        return cls.__name__
    return f"{cls.__module__}.{cls.__name__}"


def _check_bool(mode: object) -> bool:
    if type(mode) is bool:
        return mode
    raise TypeError(
        f"set_grad_enabled(): argument 'enabled' (position 1) must be bool, not {_typename(mode)}"
    )


def _wrap_generator(ctx_factory: Callable, func: Callable) -> Callable:
    # The mode holds while the generator body runs, and is lifted at every yield so the caller's
    # code between two next() calls runs under the caller's own mode (torch/utils/_contextlib.py).
    @functools.wraps(func)
    def generator_context(*args, **kwargs):
        gen = func(*args, **kwargs)
        try:
            with ctx_factory():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with ctx_factory():
                        gen.close()
                    raise
                except BaseException:
                    with ctx_factory():
                        response = gen.throw(*sys.exc_info())
                else:
                    with ctx_factory():
                        response = gen.send(request)
        except StopIteration as stop:
            return stop.value

    return generator_context


class _DecoratorContextManager:
    """A context manager that also decorates functions, cloning itself for every call.

    A fresh clone per call keeps recursive and concurrent calls of a decorated function from
    sharing the saved previous mode.
    """

    def clone(self) -> _DecoratorContextManager:
        return self.__class__()

    def __call__(self, orig_func: F) -> F:
        if inspect.isclass(orig_func):
            warnings.warn(DECORATING_CLASSES, FutureWarning, stacklevel=2)
            cls = orig_func

            def func(*args, **kwargs):
                return cls(*args, **kwargs)

            func.__name__ = func.__qualname__ = "<lambda>"
        else:
            func = orig_func
        ctx_factory = self.clone
        if inspect.isgeneratorfunction(func):
            return _wrap_generator(ctx_factory, func)  # type: ignore[return-value]

        @functools.wraps(func)
        def decorate_context(*args, **kwargs):
            with ctx_factory():
                return func(*args, **kwargs)

        return decorate_context  # type: ignore[return-value]

    def __enter__(self) -> None:
        raise NotImplementedError

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        raise NotImplementedError


class _NoParamDecoratorContextManager(_DecoratorContextManager):
    """Also usable as a bare decorator: ``@no_grad`` as well as ``@no_grad()``."""

    def __new__(cls, orig_func: Callable | None = None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamDecoratorContextManager):
    """Context-manager and decorator that disables gradient calculation.

    Results computed inside it have ``requires_grad=False`` even when their inputs require grad;
    factory functions given ``requires_grad=True`` still make leaves that require grad. In-place
    updates of leaves that require grad are allowed inside it (the manual SGD step). The mode is
    thread local.
    """

    def __init__(self) -> None:
        self.prev = False

    def __enter__(self) -> None:
        self.prev = state.grad_mode
        _set_grad_mode(False)

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        _set_grad_mode(self.prev)


class enable_grad(_NoParamDecoratorContextManager):
    """Context-manager and decorator that enables gradient calculation inside ``no_grad``.

    Inside ``inference_mode`` it makes ``is_grad_enabled()`` True but still records nothing.
    """

    def __enter__(self) -> None:
        self.prev = state.grad_mode
        _set_grad_mode(True)

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        _set_grad_mode(self.prev)


class set_grad_enabled(_DecoratorContextManager):
    """Context-manager that sets gradient calculation on or off.

    It takes effect when constructed, so ``set_grad_enabled(False)`` also works as a plain call.

    Args:
        mode: Whether to enable grad (``True``) or disable it (``False``).
    """

    def __init__(self, mode: bool) -> None:
        self.prev = state.grad_mode
        self.mode = mode
        _set_grad_mode(_check_bool(mode))

    def __call__(self, orig_func: F) -> F:
        # As a decorator, construction must not have changed this thread's mode.
        _set_grad_mode(self.prev)
        return super().__call__(orig_func)

    def __enter__(self) -> None:
        _set_grad_mode(self.mode)

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        _set_grad_mode(self.prev)

    def __str__(self) -> str:
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}(mode={self.mode})"

    __repr__ = __str__

    def clone(self) -> set_grad_enabled:
        return self.__class__(self.mode)


class inference_mode(_DecoratorContextManager):
    """Context-manager and decorator that enables or disables inference mode.

    ``inference_mode()`` disables grad mode and taping; tensors created inside it are inference
    tensors, which can not later be saved for backward. ``inference_mode(False)`` leaves
    inference mode and enables grad mode, as PyTorch's ``InferenceMode(false)`` guard does.

    Args:
        mode: Enable (``True``, the default) or disable inference mode. A function given here
            is decorated with inference mode enabled (``@inference_mode``).
    """

    def __new__(cls, mode: bool | Callable = True):
        if isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        self._prev = (state.grad_mode, state.inference)
        enabled = bool(self.mode)
        _set_modes(not enabled, enabled)

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        _set_modes(*self._prev)

    def clone(self) -> inference_mode:
        return self.__class__(self.mode)
