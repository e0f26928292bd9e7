"""Tests for rlcore.safe_state: pickle-free round trips of nested training state."""

from __future__ import annotations

import json
import math
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from rlcore.safe_state import load_state, rng_state, save_state, set_rng_state


def roundtrip(tmp_path: Path, state, name: str = "state"):
    save_state(tmp_path / name, state)
    return load_state(tmp_path / name)


def assert_same(a, b, path="") -> None:
    """Deep equality that also checks container types, tensor dtype/shape and numpy dtype."""
    assert type(a) is type(b), f"{path}: {type(a)} != {type(b)}"
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert torch.equal(a, b), path
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}/{i}")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert a == b, path


def test_adamw_state_dict_roundtrip(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    sd = opt.state_dict()
    loaded = roundtrip(tmp_path, sd)
    assert_same(sd, loaded)
    assert isinstance(loaded["param_groups"][0]["betas"], tuple)
    assert all(isinstance(k, int) for k in loaded["state"])
    # the restored state is usable by a fresh optimizer
    opt2 = torch.optim.AdamW(model.parameters())
    opt2.load_state_dict(loaded)
    assert opt2.param_groups[0]["weight_decay"] == 0.1


def test_lambda_lr_state_dict_roundtrip(tmp_path: Path) -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (step + 1))
    for _ in range(3):
        opt.step()
        sched.step()
    sd = sched.state_dict()
    loaded = roundtrip(tmp_path, sd)
    assert_same(sd, loaded)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (step + 1))
    sched2.load_state_dict(loaded)
    assert sched2.last_epoch == 3


def draws() -> tuple:
    return (
        random.random(),
        np.random.rand(3).tolist(),
        torch.rand(3).tolist(),
        random.gauss(0, 1),
        float(np.random.randn()),
    )


def test_rng_state_roundtrip_reproduces_draws(tmp_path: Path) -> None:
    random.gauss(0, 1)  # leave a cached gaussian in `random`
    np.random.randn()
    save_state(tmp_path / "rng", rng_state())
    expected = draws()
    assert draws() != expected
    set_rng_state(load_state(tmp_path / "rng"))
    assert draws() == expected


def test_python_types_roundtrip(tmp_path: Path) -> None:
    state = {
        "tuple": (1, 2.5, "x", (None, True)),
        "int_keys": {0: "a", 7: [1, 2], -3: {"nested": (4,)}},
        "mixed_keys": {1: "one", "1": "str one", (2, 3): "tuple key", None: 0, 1.5: "f"},
        "none": None,
        "floats": [math.inf, -math.inf, math.nan, 0.0, -0.0, 1e300, 3.0],
        "bools": [True, False],
        "big_int": 2**80,
        "dtype": torch.bfloat16,
        "size": torch.Size([2, 3]),
        "np_scalars": [np.float32(1.5), np.int64(-4), np.bool_(True), np.float64("nan")],
        "empty": {"list": [], "dict": {}, "tuple": ()},
        "tag_like_keys": {"$tensor": "not a ref", "$tuple": [1]},
    }
    loaded = roundtrip(tmp_path, state)
    assert_same(state, loaded)
    assert math.copysign(1.0, loaded["floats"][4]) == -1.0
    assert loaded["np_scalars"][0].dtype == np.float32
    assert np.isnan(loaded["np_scalars"][3])


def test_tensors_and_arrays_roundtrip(tmp_path: Path) -> None:
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    state = {
        "bf16": torch.randn(5, dtype=torch.bfloat16),
        "scalar": torch.tensor(3.5),
        "bools": torch.tensor([True, False, True]),
        "int64": torch.tensor([2**40, -1]),
        "empty": torch.zeros(0, 3),
        "non_contiguous": base.t(),
        "shared_view": base[1],  # same storage as `base`
        "base": base,
        "same_object_twice": [base, base],
        "np": np.arange(6, dtype=np.uint32).reshape(2, 3),
        "np_big_endian": np.array([1.0, 2.0], dtype=">f8"),
        "np_scalar_array": np.array(7, dtype=np.int16),
        "grad": torch.nn.Parameter(torch.ones(2)),
    }
    loaded = roundtrip(tmp_path, state)
    state["grad"] = state["grad"].detach()  # parameters come back as plain tensors
    assert_same(state, loaded)
    assert loaded["np_big_endian"].dtype == np.dtype(">f8")
    assert loaded["same_object_twice"][0] is loaded["same_object_twice"][1]


def test_bare_tensor_and_overwrite(tmp_path: Path) -> None:
    save_state(tmp_path / "x", torch.ones(2))
    save_state(tmp_path / "x", {"a": torch.zeros(3)})  # overwrite in place
    assert_same(load_state(tmp_path / "x"), {"a": torch.zeros(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json", "x.safetensors"]


def test_unsupported_leaf_names_key_path(tmp_path: Path) -> None:
    class Thing:
        pass

    with pytest.raises(TypeError, match=r"Thing.*opt/state/0/extra"):
        save_state(tmp_path / "bad", {"opt": {"state": {0: {"extra": Thing()}}}})
    with pytest.raises(TypeError, match="set"):
        save_state(tmp_path / "bad", {"s": {1, 2}})
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_mismatched_files_are_detected(tmp_path: Path) -> None:
    save_state(tmp_path / "a", {"t": torch.ones(1)})
    save_state(tmp_path / "b", {"t": torch.ones(1)})
    (tmp_path / "a.safetensors").write_bytes((tmp_path / "b.safetensors").read_bytes())
    with pytest.raises(ValueError, match="does not belong"):
        load_state(tmp_path / "a")


def test_no_pickle_in_written_files(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 3)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 3)).sum().backward()
    opt.step()
    save_state(tmp_path / "ckpt", {"optim": opt.state_dict(), "rng": rng_state(), "step": 1})
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["ckpt.json", "ckpt.safetensors"]
    for f in files:
        data = f.read_bytes()
        assert not data.startswith(b"\x80"), f"{f.name} starts with a pickle protocol header"
        assert b"PK\x03\x04" not in data[:4], f"{f.name} is a zip (torch.save) archive"
    doc = json.loads((tmp_path / "ckpt.json").read_text())
    assert doc["format"] == "rlcore.safe_state"
    # the safetensors header is JSON: an 8-byte little-endian length, then a JSON object
    raw = (tmp_path / "ckpt.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    assert "__metadata__" in header


def test_pickle_is_never_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used")

    for name in ("dump", "dumps", "load", "loads", "Pickler", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    state = {"rng": rng_state(), "t": torch.ones(2, dtype=torch.bfloat16), "a": np.zeros(3)}
    assert_same(roundtrip(tmp_path, state), state)
