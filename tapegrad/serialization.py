"""``tapegrad.save`` and ``tapegrad.load``: tensors and containers of them, in a format that
runs no code when read.

A file is a zip archive (stored, not compressed) holding ``tapegrad/structure.json`` (the nested
structure: dicts, ordered dicts, lists, tuples, numbers, strings, None, dtypes, and tensor
references with their dtype, shape and ``requires_grad``) and one raw little-endian byte
entry per tensor, ``tapegrad/data/<i>``. Loading parses JSON and copies bytes into arrays,
nothing else (the equivalent of ``torch.load(weights_only=True)`` with no pickle at all), so
every dtype, bfloat16 and bool included, round-trips bit for bit. A tensor that appears
twice in the saved object is stored once and loads as one tensor; distinct tensors that shared
storage (views) are saved as their own values and load unshared.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import zipfile
from collections import Counter, OrderedDict
from typing import IO, Any

import jax
import numpy as np

from tapegrad import _dtype as dt
from tapegrad._tensor import Size, Tensor, _wrap

__all__ = ["load", "save"]

FORMAT = "tapegrad"
VERSION = 1
STRUCTURE = "tapegrad/structure.json"
DATA = "tapegrad/data/"
_LITTLE = sys.byteorder == "little"

FileLike = str | os.PathLike | IO[bytes]


class _Corrupt(Exception):
    """A defect found while reading a file, reported as a RuntimeError naming the file."""


# ----- save -------------------------------------------------------------------------------
def save(obj: Any, f: FileLike) -> None:
    """Saves an object to a file: ``tapegrad.save(model.state_dict(), "model.pt")``.

    Objects of any other type raise ``TypeError`` before the file is touched.

    Args:
        obj: A tensor, or nested dicts / OrderedDicts / lists / tuples of tensors, Python numbers,
            strings, None and dtypes (a module's or an optimizer's ``state_dict()``).
        f: A path, or a binary file object open for writing.
    """
    encoder = _Encoder()
    doc = {"format": FORMAT, "version": VERSION, "root": encoder.encode(obj, "obj")}
    doc["tensors"] = encoder.descriptions
    structure = json.dumps(doc, allow_nan=True).encode()
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(STRUCTURE, structure)
        for i, arr in enumerate(encoder.arrays):
            with zf.open(f"{DATA}{i}", "w", force_zip64=arr.nbytes >= 2**31) as out:
                out.write(arr.reshape(-1).view(np.uint8).data)


class _Encoder:
    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.descriptions: list[dict] = []
        self._index: dict[int, int] = {}  # id(tensor) -> its entry
        self._keep: list[Tensor] = []  # keeps ids unique while encoding
        self._active: set[int] = set()  # containers being encoded: a cycle is an error

    def encode(self, obj: Any, where: str) -> Any:
        if obj is None or type(obj) in (bool, str):
            return obj
        if isinstance(obj, Tensor):
            return {"$": "tensor", "index": self._tensor(obj)}
        if isinstance(obj, (bool, np.bool_)):
            return bool(obj)
        if isinstance(obj, (int, np.integer)):
            return int(obj)
        if isinstance(obj, (float, np.floating)) and not isinstance(obj, np.longdouble):
            return float(obj)
        if isinstance(obj, dt.dtype):
            return {"$": "dtype", "name": obj.name}
        kind = _CONTAINERS.get(type(obj))
        if kind is None:
            raise TypeError(
                f"tapegrad.save: cannot save an object of type {type(obj).__qualname__} (at "
                f"{where}); supported are tensors, dicts, OrderedDicts, lists, tuples, Python "
                "numbers, strings, None and dtypes"
            )
        if id(obj) in self._active:
            raise ValueError(f"tapegrad.save: {where} contains itself (a reference cycle)")
        self._active.add(id(obj))
        try:
            if kind in ("dict", "odict", "counter"):
                items = [
                    [self._key(k, where), self.encode(v, f"{where}[{k!r}]")] for k, v in obj.items()
                ]
                return {"$": kind, "items": items}
            return {
                "$": kind,
                "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)],
            }
        finally:
            self._active.discard(id(obj))

    def _key(self, key: Any, where: str) -> Any:
        if key is None or isinstance(key, (bool, int, float, str)):
            return self.encode(key, where)
        if type(key) is tuple:
            return {"$": "tuple", "items": [self._key(k, where) for k in key]}
        raise TypeError(
            f"tapegrad.save: cannot save a dict key of type {type(key).__qualname__} (in "
            f"{where}); keys must be strings, numbers, None or tuples of them"
        )

    def _tensor(self, t: Tensor) -> int:
        index = self._index.get(id(t))
        if index is not None:
            return index
        arr = np.asarray(t._data)
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        if not _LITTLE:
            arr = arr.byteswap()
        index = len(self.arrays)
        self._index[id(t)] = index
        self._keep.append(t)
        self.arrays.append(arr)
        desc = {"dtype": t.dtype.name, "shape": list(arr.shape), "requires_grad": t.requires_grad}
        if getattr(t, "_is_param", False):
            desc["parameter"] = True
        self.descriptions.append(desc)
        return index


_CONTAINERS = {
    dict: "dict",
    OrderedDict: "odict",
    Counter: "counter",
    list: "list",
    tuple: "tuple",
    Size: "size",
}


# ----- load -------------------------------------------------------------------------------
def load(f: FileLike, map_location: Any = None, *, weights_only: bool | None = None) -> Any:
    """Loads an object saved with ``tapegrad.save`` from a file.

    A file that is not a tapegrad file, or is truncated or corrupt, raises ``RuntimeError``
    naming the file.

    Args:
        f: A path, or a binary file object open for reading (and seekable).
        map_location: A device (or device string) to put the tensors on; by default they load on the
            default device.
        weights_only: Accepted for compatibility with ``torch.load``; loading never runs code,
            whatever its value.
    """
    device = None
    if map_location is not None:
        from tapegrad._device import device as _device_cls
        from tapegrad._device import to_jax_device

        if not isinstance(map_location, (str, _device_cls)):
            raise TypeError(
                "tapegrad.load: map_location must be a device or a device string, not "
                f"{type(map_location).__qualname__}"
            )
        device = to_jax_device(map_location)
    name = _file_name(f)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as opened:  # a missing file is the OSError of open, as usual
            return _load(opened, name, device)
    return _load(f, name, device)


# What reading a damaged zip raises (offsets out of range give ValueError and struct.error).
_DAMAGED = (
    _Corrupt,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    ValueError,
    struct.error,
    NotImplementedError,
    OverflowError,
)


def _load(f: IO[bytes], name: str, device: Any) -> Any:
    try:
        with zipfile.ZipFile(f, "r") as zf:
            return _Decoder(zf, device).run()
    except _DAMAGED as exc:
        reason = str(exc) or type(exc).__name__
        raise RuntimeError(f"tapegrad.load: {name} is not a valid tapegrad file: {reason}") from (
            None
        )


def _file_name(f: Any) -> str:
    if isinstance(f, (str, os.PathLike)):
        return repr(os.fspath(f))
    name = getattr(f, "name", None)
    return repr(name) if isinstance(name, str) else repr(f)


class _Decoder:
    def __init__(self, zf: zipfile.ZipFile, device: Any) -> None:
        self.zf = zf
        self.device = device
        self.tensors: dict[int, Tensor] = {}

    def run(self) -> Any:
        try:
            raw = self.zf.read(STRUCTURE)
        except KeyError:
            raise _Corrupt(f"it has no {STRUCTURE} entry") from None
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _Corrupt(f"its structure is not valid JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise _Corrupt("its structure does not describe a tapegrad file")
        if doc.get("version") != VERSION:
            raise _Corrupt(
                f"format version {doc.get('version')!r} is not supported (this is {VERSION})"
            )
        self.descriptions = doc.get("tensors")
        if not isinstance(self.descriptions, list) or "root" not in doc:
            raise _Corrupt("its structure is incomplete")
        return self.decode(doc["root"])

    def decode(self, node: Any) -> Any:
        if node is None or type(node) in (bool, int, float, str):
            return node
        if not isinstance(node, dict):
            raise _Corrupt(f"unexpected structure entry {node!r:.60}")
        kind = node.get("$")
        if kind == "tensor":
            return self._tensor(node.get("index"))
        if kind == "dtype":
            d = dt._NAMES.get(node.get("name"))
            if d is None:
                raise _Corrupt(f"unknown dtype {node.get('name')!r}")
            return d
        items = node.get("items")
        if not isinstance(items, list):
            raise _Corrupt(f"unexpected structure entry {node!r:.60}")
        if kind in ("dict", "odict", "counter"):
            pairs = []
            for item in items:
                if not isinstance(item, list) or len(item) != 2:
                    raise _Corrupt(f"malformed dict item {item!r:.60}")
                pairs.append((self._key(item[0]), self.decode(item[1])))
            if kind == "odict":
                return OrderedDict(pairs)
            return dict(pairs) if kind == "dict" else Counter(dict(pairs))
        if kind == "list":
            return [self.decode(v) for v in items]
        if kind == "tuple":
            return tuple(self.decode(v) for v in items)
        if kind == "size":
            if not all(type(v) is int for v in items):
                raise _Corrupt("a saved Size holds non-integers")
            return Size(items)
        raise _Corrupt(f"unknown structure entry kind {kind!r:.40}")

    def _key(self, node: Any) -> Any:
        key = self.decode(node)
        if isinstance(key, (list, dict, Tensor)):
            raise _Corrupt("a dict key is not hashable")
        return key

    def _tensor(self, index: Any) -> Tensor:
        if type(index) is not int or not 0 <= index < len(self.descriptions):
            raise _Corrupt(f"reference to a missing tensor {index!r:.40}")
        t = self.tensors.get(index)
        if t is not None:
            return t
        desc = self.descriptions[index]
        if not isinstance(desc, dict):
            raise _Corrupt(f"tensor {index} is described by {desc!r:.60}")
        dtype = dt._NAMES.get(desc.get("dtype"))
        shape = desc.get("shape")
        if dtype is None:
            raise _Corrupt(f"tensor {index} has an unknown dtype {desc.get('dtype')!r:.40}")
        if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
            raise _Corrupt(f"tensor {index} has an invalid shape {shape!r:.60}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        entry = f"{DATA}{index}"
        try:
            info = self.zf.getinfo(entry)
        except KeyError:
            raise _Corrupt(f"the data of tensor {index} is missing") from None
        if info.file_size != nbytes:
            raise _Corrupt(
                f"tensor {index} ({dtype}, shape {shape}) needs {nbytes} bytes but its data has "
                f"{info.file_size}"
            )
        arr = np.frombuffer(self.zf.read(info), dtype=dtype.numpy).reshape(tuple(shape))
        if not _LITTLE:
            arr = arr.byteswap()
        array = jax.device_put(arr, self.device)
        requires_grad = desc.get("requires_grad", False) is True
        if requires_grad and not dtype.is_floating_point:
            raise _Corrupt(f"tensor {index} ({dtype}) is marked as requiring grad")
        if desc.get("parameter"):
            from tapegrad.nn.parameter import Parameter

            t = Parameter(_wrap(array), requires_grad)
        else:
            t = _wrap(array)
            if requires_grad:
                t.requires_grad_(True)
        self.tensors[index] = t
        return t
