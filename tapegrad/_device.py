"""Devices: PyTorch's ``device`` objects mapped onto JAX devices (cpu, cuda = JAX's gpu, tpu)."""

from __future__ import annotations

import functools
import re

import jax

__all__ = ["device"]

_JAX_PLATFORM = {"cpu": "cpu", "cuda": "gpu", "tpu": "tpu"}
_TORCH_TYPE = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda", "rocm": "cuda", "tpu": "tpu"}
# The device types PyTorch's parser accepts, in the order its error message lists them. tapegrad
# also accepts "tpu" (a JAX platform); the others parse but have no JAX device behind them.
TORCH_DEVICE_TYPES = (
    "cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga",
    "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone",
)  # fmt: skip
_DEVICE_TYPES = frozenset((*TORCH_DEVICE_TYPES, "tpu"))
_DEVICE_STRING = re.compile(r"([a-zA-Z_]+)(?::([1-9]\d*|0))?")
UNKNOWN_TYPE = (
    "Expected one of " + ", ".join(TORCH_DEVICE_TYPES) + " device type at start of device string: "
)
NO_ACCELERATOR = "Cannot access accelerator device when none is available."
BAD_ARGUMENTS = (
    "device() received an invalid combination of arguments - got ({got}), but expected one of:\n"
    " * (torch.device device)\n"
    "      didn't match because some of the arguments have invalid types: (!{got}!)\n"
    " * (str type, int index = -1)\n"
)


class device:
    """A device a tensor lives on: ``device('cpu')``, ``device('cuda', 0)``, ``device('cuda:1')``.

    Parsing and errors follow ``torch.device``; ``cuda`` maps to JAX's GPU platform and ``tpu`` (an
    addition) to JAX's TPU platform. A bare integer is an index on the accelerator (``cuda``).
    """

    __slots__ = ("index", "type")

    def __init__(self, type: str | device | int, index: int | None = None) -> None:
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int) and not isinstance(type, bool) and index is None:
            if not _jax_devices("gpu"):
                raise RuntimeError(NO_ACCELERATOR)
            type, index = "cuda", type
        if not isinstance(type, str):
            raise TypeError(BAD_ARGUMENTS.format(got=_type_name(type)))
        match = _DEVICE_STRING.fullmatch(type)
        if match is None:
            raise RuntimeError(f"Invalid device string: '{type}'")
        name, idx = match.groups()
        if name not in _DEVICE_TYPES:
            raise RuntimeError(UNKNOWN_TYPE + type)
        if idx is not None:
            if index is not None:
                raise RuntimeError(
                    "type (string) must not include an index because index was passed "
                    "explicitly: " + type
                )
            index = int(idx)
        if index is not None:
            if not isinstance(index, int) or isinstance(index, bool):
                raise TypeError(f"device(): argument 'index' must be int, not {_type_name(index)}")
            if index < 0:
                raise RuntimeError("Device index must not be negative")
        self.type = name
        self.index = index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        # As torch.device: equal only to devices (``device('cpu') == 'cpu'`` is False).
        if not isinstance(other, device):
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __reduce__(self):
        return (device, (self.type, self.index))

    def __hash__(self) -> int:
        return hash((self.type, self.index))


def _type_name(obj: object) -> str:
    return type(obj).__name__


@functools.cache
def _jax_devices(platform: str) -> tuple:
    try:
        return tuple(jax.devices(platform))
    except RuntimeError:
        return ()


def to_jax_device(dev: str | device | int | None):
    """The JAX device for a PyTorch-style device spec; None means JAX's default device."""
    if dev is None:
        return None
    dev = dev if isinstance(dev, device) else device(dev)
    if dev.type not in _JAX_PLATFORM:
        raise RuntimeError(
            f"tapegrad has no {dev.type!r} device: JAX runs on cpu, cuda (GPU) and tpu devices"
        )
    found = _jax_devices(_JAX_PLATFORM[dev.type])
    if not found:
        if dev.type == "cuda":
            raise RuntimeError(
                "Found no NVIDIA driver on your system: JAX sees no GPU. Install a CUDA build of "
                "jaxlib (pip install 'jax[cuda12]') or use device='cpu'."
            )
        raise RuntimeError(f"JAX sees no {dev.type} device; available: {jax.devices()}")
    index = dev.index or 0
    if index >= len(found):
        raise RuntimeError(
            f"Invalid device ordinal {index}: only {len(found)} {dev.type} device(s) are visible"
        )
    return found[index]


@functools.cache
def from_jax_device(jdev) -> device:
    kind = _TORCH_TYPE.get(jdev.platform, jdev.platform)
    if kind == "cpu":
        return device("cpu")
    return device(kind, jdev.id if kind != "cuda" else _jax_devices("gpu").index(jdev))


def multiple_devices() -> bool:
    """True when JAX sees more than one device, so ops must check that operands agree."""
    return len(jax.devices()) > 1 or jax.default_backend() != "cpu"
