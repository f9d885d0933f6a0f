"""tapegrad.save / tapegrad.load: round trips (checked on torch.save / torch.load too), bit
exactness for every dtype, and refusal of corrupt, truncated, foreign or code-carrying files."""

import io
import json
import os
import pickle
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest

import tapegrad

DTYPES = [
    "bool",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
]


def round_trip(m, obj):
    buffer = io.BytesIO()
    m.save(obj, buffer)
    buffer.seek(0)
    return m.load(buffer)


@pytest.mark.parametrize("name", DTYPES)
def test_every_dtype_round_trips_bit_exactly(name, rng):
    dtype = getattr(tapegrad, name)
    if name == "bool":
        raw = rng.integers(0, 2, 24, dtype=np.uint8).view(np.bool_)
    else:
        # Random bit patterns: NaNs with payloads, infinities, subnormals, -0.0, extremes.
        raw = rng.integers(0, 256, 24 * dtype.itemsize, dtype=np.uint8).view(dtype.numpy)
    t = tapegrad.from_numpy(raw.reshape(2, 3, -1))
    assert t.dtype is dtype
    out = round_trip(tapegrad, t)
    assert out.dtype is dtype
    assert out.shape == t.shape
    bits = np.dtype(f"u{dtype.itemsize}")
    assert out.numpy().view(bits).tolist() == t.numpy().view(bits).tolist()


def test_zero_d_and_empty_tensors(m):
    out = round_trip(m, [m.tensor(2.5), m.zeros(0, 3, dtype=m.int64)])
    assert out[0].item() == 2.5
    assert out[0].shape == ()
    assert out[1].shape == (0, 3)
    assert out[1].dtype == m.int64


def test_nested_structures_keep_their_types(m):
    obj = {
        "weights": OrderedDict([("w", m.ones(2, 3)), ("b", m.zeros(3))]),
        "list": [1, 2.5, None, "text", True, (m.arange(3), -7)],
        3: {"nested": {"deeper": [m.tensor([1.5])]}},
        (1, "x"): float("inf"),
        "size": m.Size([2, 3]),
        "dtype": m.float16,
    }
    out = round_trip(m, obj)
    assert list(out) == list(obj)
    assert type(out["weights"]) is OrderedDict
    assert list(out["weights"]) == ["w", "b"]
    assert out["weights"]["w"].tolist() == [[1.0] * 3] * 2
    assert out["list"][:5] == [1, 2.5, None, "text", True]
    assert [type(v) for v in out["list"][:5]] == [int, float, type(None), str, bool]
    assert type(out["list"][5]) is tuple
    assert out["list"][5][0].tolist() == [0, 1, 2]
    assert out["list"][5][0].dtype == m.int64
    assert out[3]["nested"]["deeper"][0].tolist() == [1.5]
    assert out[(1, "x")] == float("inf")
    assert out["size"] == m.Size([2, 3])
    assert type(out["size"]) is type(m.Size([2, 3]))
    assert out["dtype"] == m.float16


def test_counter_round_trips():
    out = round_trip(tapegrad, {"milestones": Counter({10: 2, 20: 1})})
    assert out == {"milestones": Counter({10: 2, 20: 1})}
    assert type(out["milestones"]) is Counter


def test_requires_grad_is_kept(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    out = round_trip(m, {"leaf": x, "plain": m.tensor([3.0]), "non_leaf": x * 2})
    assert out["leaf"].requires_grad
    assert out["leaf"].is_leaf
    assert not out["plain"].requires_grad
    # as PyTorch: a non-leaf that requires grad loads as a leaf that requires grad
    assert out["non_leaf"].requires_grad
    assert out["non_leaf"].is_leaf
    assert out["non_leaf"].tolist() == [2.0, 4.0]


def test_views_are_saved_as_their_own_values(m):
    base = m.arange(12.0).reshape(3, 4)
    out = round_trip(m, {"column": base[:, 1], "transposed": base.t(), "row": base[2]})
    assert out["column"].tolist() == [1.0, 5.0, 9.0]
    assert out["transposed"].tolist() == base.t().tolist()
    assert out["row"].tolist() == [8.0, 9.0, 10.0, 11.0]


def test_the_same_tensor_twice_loads_as_one_tensor(m):
    t = m.ones(2)
    out = round_trip(m, {"a": t, "b": [t]})
    assert out["a"] is out["b"][0]


def test_parameters_load_as_parameters(m):
    p = m.nn.Parameter(m.ones(2))
    out = round_trip(m, {"p": p})
    assert isinstance(out["p"], m.nn.Parameter)
    assert out["p"].requires_grad


def test_optimizer_state_dict_round_trips_with_int_keys():
    w = tapegrad.tensor([1.0, 2.0], requires_grad=True)
    opt = tapegrad.optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    out = round_trip(tapegrad, opt.state_dict())
    assert list(out["state"]) == [0]
    assert out["param_groups"] == opt.state_dict()["param_groups"]
    assert out["param_groups"][0]["betas"] == (0.9, 0.999)
    for key, value in opt.state[w].items():
        assert out["state"][0][key].tolist() == value.tolist()
        assert out["state"][0][key].dtype is value.dtype


def test_paths_and_file_objects(tmp_path):
    t = tapegrad.tensor([[1, 2], [3, 4]], dtype=tapegrad.int16)
    tapegrad.save({"t": t}, str(tmp_path / "a.pt"))
    tapegrad.save({"t": t}, tmp_path / "b.pt")
    with open(tmp_path / "c.pt", "wb") as f:
        tapegrad.save({"t": t}, f)
    for name in ("a.pt", "b.pt", "c.pt"):
        assert tapegrad.load(tmp_path / name)["t"].tolist() == [[1, 2], [3, 4]]
        with open(tmp_path / name, "rb") as f:
            assert tapegrad.load(f)["t"].dtype is tapegrad.int16
    assert tapegrad.load(str(tmp_path / "a.pt"), map_location="cpu")["t"].device.type == "cpu"


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        tapegrad.load(tmp_path / "missing.pt")


# ----- refusing bad files -------------------------------------------------------------------
def saved_bytes(obj):
    buffer = io.BytesIO()
    tapegrad.save(obj, buffer)
    return buffer.getvalue()


def load_error(tmp_path, data: bytes) -> str:
    path = tmp_path / "damaged.pt"
    path.write_bytes(data)
    with pytest.raises(RuntimeError) as info:
        tapegrad.load(path)
    message = str(info.value)
    assert str(path) in message
    return message


def test_truncated_files_raise_runtime_error_naming_the_file(tmp_path):
    data = saved_bytes({"w": tapegrad.ones(64, 64), "b": tapegrad.zeros(64)})
    for cut in (0, 10, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        assert "is not a valid tapegrad file" in load_error(tmp_path, data[:cut])


def test_corrupted_bytes_raise_runtime_error(tmp_path):
    data = bytearray(saved_bytes({"w": tapegrad.ones(8, 8)}))
    rng = np.random.default_rng(1)
    for _ in range(20):
        damaged = bytearray(data)
        for i in rng.integers(0, len(damaged), 4):
            damaged[i] ^= 0xFF
        load_error(tmp_path, bytes(damaged))


def test_a_file_object_is_named_in_the_error():
    with pytest.raises(RuntimeError, match="BytesIO"):
        tapegrad.load(io.BytesIO(b"not a zip file at all"))


class Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_payload_is_refused_and_not_run(tmp_path):
    marker = str(tmp_path / "code-was-run")
    load_error(tmp_path, pickle.dumps({"w": Payload(marker)}))
    assert not os.path.exists(marker)


def test_a_torch_file_with_a_payload_is_refused_and_not_run(tmp_path):
    torch = pytest.importorskip("torch")
    marker = str(tmp_path / "code-was-run")
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(2), "evil": Payload(marker)}, buffer)
    assert "tapegrad/structure.json" in load_error(tmp_path, buffer.getvalue())
    assert not os.path.exists(marker)


def zip_with(structure, data=None):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(
            "tapegrad/structure.json",
            structure if isinstance(structure, bytes) else json.dumps(structure),
        )
        for name, raw in (data or {}).items():
            zf.writestr(name, raw)
    return buffer.getvalue()


def doc(root, tensors=()):
    return {"format": "tapegrad", "version": 1, "root": root, "tensors": list(tensors)}


TENSOR = {"$": "tensor", "index": 0}
FLOATS = {"dtype": "float32", "shape": [2], "requires_grad": False}
MALFORMED = {
    "pickle-as-structure": (pickle.dumps({"a": 1}), {}, "not valid JSON"),
    "not-tapegrad": ({"format": "other"}, {}, "does not describe a tapegrad file"),
    "future-version": ({**doc(None), "version": 99}, {}, "format version 99"),
    "no-root": ({"format": "tapegrad", "version": 1, "tensors": []}, {}, "incomplete"),
    "unknown-kind": (doc({"$": "module", "items": []}), {}, "unknown structure entry"),
    "raw-json-object": (doc({"a": 1}), {}, "unexpected structure entry"),
    "missing-tensor": (doc(TENSOR), {}, "reference to a missing tensor"),
    "missing-data": (doc(TENSOR, [FLOATS]), {}, "data of tensor 0 is missing"),
    "short-data": (doc(TENSOR, [FLOATS]), {"tapegrad/data/0": b"1234"}, "needs 8 bytes"),
    "huge-shape": (
        doc(TENSOR, [{**FLOATS, "shape": [2**40]}]),
        {"tapegrad/data/0": b"12345678"},
        "needs 4398046511104 bytes",
    ),
    "unknown-dtype": (doc(TENSOR, [{**FLOATS, "dtype": "object"}]), {}, "unknown dtype"),
    "negative-shape": (doc(TENSOR, [{**FLOATS, "shape": [-1]}]), {}, "invalid shape"),
    "int-requires-grad": (
        doc(TENSOR, [{**FLOATS, "dtype": "int32", "requires_grad": True}]),
        {"tapegrad/data/0": b"12345678"},
        "marked as requiring grad",
    ),
    "unhashable-key": (
        doc({"$": "dict", "items": [[{"$": "list", "items": []}, 1]]}),
        {},
        "not hashable",
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_files_raise_runtime_error(tmp_path, name):
    structure, data, reason = MALFORMED[name]
    assert reason in load_error(tmp_path, zip_with(structure, data))


def test_a_well_formed_hand_written_file_loads():
    data = np.array([1.5, -2.0], np.float32).tobytes()
    out = tapegrad.load(io.BytesIO(zip_with(doc(TENSOR, [FLOATS]), {"tapegrad/data/0": data})))
    assert out.tolist() == [1.5, -2.0]


# ----- refusing objects on save -------------------------------------------------------------
UNSUPPORTED = {
    "function": {"f": lambda: 0},
    "set": {"s": {1, 2}},
    "object": [object()],
    "numpy-array": {"a": np.ones(2)},
    "complex": (1j,),
    "tensor-key": None,  # built in the test
}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_objects_raise_type_error_and_write_nothing(tmp_path, name):
    obj = UNSUPPORTED[name]
    if obj is None:
        obj = {tapegrad.ones(1): 1}
    path = tmp_path / "out.pt"
    with pytest.raises(TypeError, match=r"^tapegrad\.save: cannot save"):
        tapegrad.save(obj, path)
    assert not path.exists()


def test_a_reference_cycle_is_refused():
    cycle = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="reference cycle"):
        tapegrad.save(cycle, io.BytesIO())
