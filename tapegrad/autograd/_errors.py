"""PyTorch's autograd error texts."""

from __future__ import annotations

import re

__all__ = [
    "HOOK_REPLACED_NONE",
    "hook_changed_size",
    "hook_changed_type",
    "hook_not_tensor",
    "hook_not_tuple",
    "hook_wrong_count",
    "legacy_type_name",
    "modified_inplace",
    "modified_output",
]


def legacy_type_name(dtype_name: str, device_type: str = "cpu") -> str:
    """PyTorch's legacy type string, e.g. ``torch.FloatTensor``."""
    prefix = "torch." if device_type == "cpu" else f"torch.{device_type}."
    from tapegrad._dtype import _by_name, legacy_name

    return prefix + legacy_name(_by_name(dtype_name)) + "Tensor"


def _short(node) -> str:
    return re.sub(r"Backward\d*$", "", node.name())


def _message(type_name: str, shape: list, where: str, version: int, expected: int) -> str:
    return (
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{type_name} {shape}]{where} is at version {version}; expected version "
        f"{expected} instead. Hint: enable anomaly detection to find the operation that failed "
        "to compute its gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False)."
    )


def modified_inplace(node, tensor, expected: int) -> RuntimeError:
    """A saved input of ``node`` was modified in place after it was saved."""
    gf = tensor._history()  # a stale view regenerates (or raises) here, as in PyTorch
    where = "" if gf is None else f", which is output {tensor.output_nr} of {_short(gf)},"
    name = legacy_type_name(tensor.dtype.name, tensor.device.type)
    return RuntimeError(
        _message(name, list(tensor.shape), where, tensor._version_value(), expected)
    )


def modified_output(node, version: int, expected: int) -> RuntimeError:
    """The output ``node`` saved for its backward was modified in place."""
    from tapegrad._dtype import from_numpy_dtype

    shape, dtype = node._out_avals[0]
    name = legacy_type_name(from_numpy_dtype(dtype).name)
    where = f", which is output 0 of {_short(node)},"
    return RuntimeError(_message(name, list(shape), where, version, expected))


# ----- hooks (torch/csrc/autograd/python_hook.cpp) ----------------------------------------------
HOOK_REPLACED_NONE = "can't replace a None gradient with a non-None value"


def _typename(obj: object) -> str:
    from tapegrad._grad_mode import _typename

    return _typename(obj)


def hook_not_tensor(result: object) -> str:
    return f"expected Variable, but hook returned '{_typename(result)}'"


def hook_not_tuple(result: object) -> str:
    return f"expected tuple, but hook returned '{_typename(result)}'"


def hook_wrong_count(name: str, got: int, expected: int) -> str:
    return (
        f"hook '{name}' has returned an incorrect number of values (got {got}, but expected "
        f"{expected})"
    )


def hook_changed_type(name: str, original, result) -> str:
    was = legacy_type_name(original.dtype.name, original.device.type)
    got = legacy_type_name(result.dtype.name, result.device.type)
    return f"hook '{name}' has changed the type of value (was {was} got {got})"


def hook_changed_size(name: str) -> str:
    return f"hook '{name}' has changed the size of value"
