"""Thread-local grad modes: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``.

Every mode is a context manager and a decorator (on plain and generator functions). The state is
per thread and is restored when a ``with`` block or a decorated call exits, exceptions included.
"""

from __future__ import annotations

import functools
import inspect
import threading
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


class _State(threading.local):
    # Class attributes are the defaults every new thread starts from.
    grad_enabled = True
    inference = False


state = _State()


def is_grad_enabled() -> bool:
    """Returns True if grad mode is currently enabled."""
    return state.grad_enabled


def is_inference_mode_enabled() -> bool:
    """Returns True if inference mode is currently enabled."""
    return state.inference


class _DecoratorContextManager:
    """A context manager that also decorates functions, cloning itself for every call."""

    def clone(self) -> _DecoratorContextManager:
        return self.__class__()

    def __call__(self, func: F) -> F:
        if inspect.isclass(func):
            raise RuntimeError(
                "Decorating classes is not supported. Decorate the methods of the class instead."
            )
        if inspect.isgeneratorfunction(func):
            return self._wrap_generator(func)

        @functools.wraps(func)
        def decorate_context(*args, **kwargs):
            with self.clone():
                return func(*args, **kwargs)

        return decorate_context  # type: ignore[return-value]

    def _wrap_generator(self, func: F) -> F:
        # The mode holds while the generator body runs, and is lifted at every yield so the
        # caller's code between two next() calls runs under the caller's own mode.
        @functools.wraps(func)
        def generator_context(*args, **kwargs):
            gen = func(*args, **kwargs)
            try:
                with self.clone():
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with self.clone():
                            gen.close()
                        raise
                    except BaseException as exc:
                        with self.clone():
                            response = gen.throw(exc)
                    else:
                        with self.clone():
                            response = gen.send(request)
            except StopIteration as stop:
                return stop.value

        return generator_context  # type: ignore[return-value]

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

    Results computed inside it have ``requires_grad=False`` even when their inputs require grad.
    In-place updates of leaves that require grad are allowed inside it (the manual SGD step).
    """

    def __init__(self) -> None:
        self.prev = False

    def __enter__(self) -> None:
        self.prev = state.grad_enabled
        state.grad_enabled = False

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        state.grad_enabled = self.prev


class enable_grad(_NoParamDecoratorContextManager):
    """Context-manager and decorator that enables gradient calculation inside ``no_grad``.

    It has no effect inside ``inference_mode``.
    """

    def __enter__(self) -> None:
        self.prev = state.grad_enabled
        state.grad_enabled = True

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        state.grad_enabled = self.prev


class set_grad_enabled(_DecoratorContextManager):
    """Context-manager that sets gradient calculation on or off.

    It takes effect when constructed, so ``set_grad_enabled(False)`` also works as a plain call.

    **Arguments:** ``mode`` (bool): whether to enable grad (True) or disable it (False).
    """

    def __init__(self, mode: bool) -> None:
        self.prev = state.grad_enabled
        self.mode = bool(mode)
        state.grad_enabled = self.mode

    def __call__(self, func: F) -> F:
        # As a decorator, construction must not have changed this thread's mode.
        state.grad_enabled = self.prev
        return super().__call__(func)

    def __enter__(self) -> None:
        state.grad_enabled = self.mode

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        state.grad_enabled = self.prev

    def clone(self) -> set_grad_enabled:
        return self.__class__(self.mode)


class inference_mode(_DecoratorContextManager):
    """Context-manager and decorator that enables or disables inference mode.

    Like ``no_grad`` it stops taping; tensors created inside it are inference tensors, which can
    not later be saved for backward.

    **Arguments:** ``mode`` (bool): enable (True, the default) or disable inference mode.
    """

    def __new__(cls, mode: bool | Callable = True):
        if isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        self.prev = (state.grad_enabled, state.inference)
        if self.mode:
            state.grad_enabled = False
            state.inference = True
        else:
            state.inference = False

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        state.grad_enabled, state.inference = self.prev

    def clone(self) -> inference_mode:
        return self.__class__(self.mode)
