"""Devices: PyTorch's ``device`` objects mapped onto JAX devices (cpu, cuda = JAX's gpu, tpu)."""

from __future__ import annotations

import functools

import jax

__all__ = ["device"]

_JAX_PLATFORM = {"cpu": "cpu", "cuda": "gpu", "tpu": "tpu"}
_TORCH_TYPE = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda", "rocm": "cuda", "tpu": "tpu"}


class device:
    """A device a tensor lives on: ``device('cpu')``, ``device('cuda', 0)``, ``device('cuda:1')``."""

    __slots__ = ("index", "type")

    def __init__(self, type: str | device, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if not isinstance(type, str):
            raise TypeError(f"device() received an invalid combination of arguments: {type!r}")
        name, _, idx = type.partition(":")
        if name not in _JAX_PLATFORM:
            raise RuntimeError(
                "Expected one of cpu, cuda, tpu device type at start of device string: " + type
            )
        if idx:
            if index is not None:
                raise RuntimeError("type (string) must not include an index because index was passed explicitly: " + type)
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = int(idx)
        self.type = name
        self.index = index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


@functools.lru_cache(maxsize=None)
def _jax_devices(platform: str) -> tuple:
    try:
        return tuple(jax.devices(platform))
    except RuntimeError:
        return ()


def to_jax_device(dev: str | device | int | None):
    """The JAX device for a PyTorch-style device spec; None means JAX's default device."""
    if dev is None:
        return None
    if isinstance(dev, int):
        dev = device("cuda", dev)
    dev = dev if isinstance(dev, device) else device(dev)
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


@functools.lru_cache(maxsize=None)
def from_jax_device(jdev) -> device:
    kind = _TORCH_TYPE.get(jdev.platform, jdev.platform)
    if kind == "cpu":
        return device("cpu")
    return device(kind, jdev.id if kind != "cuda" else _jax_devices("gpu").index(jdev))


def multiple_devices() -> bool:
    """True when JAX sees more than one device, so ops must check that operands agree."""
    return len(jax.devices()) > 1 or jax.default_backend() != "cpu"
