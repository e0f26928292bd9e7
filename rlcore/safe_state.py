"""Pickle-free serialization of nested training state (optimizer, scheduler, RNG, counters).

``save_state(path, state)`` writes two files next to each other:

* ``<path>.safetensors`` -- every tensor and numpy array, named after its key path;
* ``<path>.json`` -- the skeleton of the structure, with tensor leaves replaced by references.

Plain JSON values (str, int, finite float, bool, None, list) are stored as-is; anything else is
an object tagged by a "$" key, e.g. ``{"$tuple": [...]}``, ``{"$dict": {...}}`` (str keys),
``{"$items": [[key, value], ...]}`` (other keys), ``{"$float": "inf"}``, ``{"$dtype": "bfloat16"}``,
``{"$tensor": "state/0/exp_avg"}``, ``{"$ndarray": name, "dtype": "<u4"}``.
Nothing is ever unpickled, so loading an untrusted checkpoint cannot execute code.
"""

from __future__ import annotations

import json
import math
import os
import random
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

FORMAT = "rlcore.safe_state"
VERSION = 1
_ID_KEY = "rlcore_state_id"
_TAGS = ("$tuple", "$dict", "$items", "$float", "$dtype", "$size", "$np", "$tensor", "$ndarray")


def _paths(path: Path | str) -> tuple[Path, Path]:
    base = str(path)
    return Path(base + ".safetensors"), Path(base + ".json")


class _Encoder:
    """Walks a state, collecting tensors into a flat dict and returning the JSON skeleton."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self._by_id: dict[int, str] = {}  # same tensor object -> same entry
        self._storages: set[tuple[str, int]] = set()

    def _name(self, path: str) -> str:
        name, n = path or "root", 1
        while name in self.tensors:
            name, n = f"{path or 'root'}#{n}", n + 1
        return name

    def _add_tensor(self, t: torch.Tensor, path: str) -> str:
        if t.layout != torch.strided:
            raise TypeError(f"unsupported tensor layout {t.layout} at key path {path!r}")
        t = t.detach().to("cpu").contiguous()
        storage = (str(t.device), t.untyped_storage().data_ptr())
        if storage in self._storages and t.numel() > 0:
            t = t.clone()  # safetensors refuses tensors that share memory
        self._storages.add((str(t.device), t.untyped_storage().data_ptr()))
        name = self._name(path)
        self.tensors[name] = t
        return name

    def encode(self, obj: Any, path: str = "") -> Any:
        if obj is None or type(obj) in (bool, str, int):
            return obj
        if type(obj) is float:
            return obj if math.isfinite(obj) else {"$float": repr(obj)}
        if isinstance(obj, torch.Tensor):
            if id(obj) not in self._by_id:
                self._by_id[id(obj)] = self._add_tensor(obj, path)
            return {"$tensor": self._by_id[id(obj)]}
        if isinstance(obj, np.ndarray):
            return self._encode_ndarray(obj, path)
        if isinstance(obj, np.generic):
            return {"$np": obj.dtype.str, "value": self.encode(obj.item(), path)}
        if isinstance(obj, torch.dtype):
            return {"$dtype": str(obj).removeprefix("torch.")}
        if isinstance(obj, torch.Size):
            return {"$size": list(obj)}
        if type(obj) is list:
            return [self.encode(v, f"{path}/{i}") for i, v in enumerate(obj)]
        if type(obj) is tuple:
            return {"$tuple": [self.encode(v, f"{path}/{i}") for i, v in enumerate(obj)]}
        if isinstance(obj, dict):
            if all(type(k) is str for k in obj):
                return {"$dict": {k: self.encode(v, f"{path}/{k}") for k, v in obj.items()}}
            return {"$items": [[self._encode_key(k, path), self.encode(v, f"{path}/{k}")] for k, v in obj.items()]}
        raise TypeError(f"cannot serialize value of type {type(obj).__qualname__} at key path {path or '/'!r}")

    def _encode_key(self, key: Any, path: str) -> Any:
        if isinstance(key, (torch.Tensor, np.ndarray)):
            raise TypeError(f"tensor used as a dict key at key path {path or '/'!r}")
        return self.encode(key, f"{path}/<key {key!r}>")

    def _encode_ndarray(self, arr: np.ndarray, path: str) -> dict:
        native = arr.astype(arr.dtype.newbyteorder("="), copy=False)
        if not native.flags.c_contiguous:
            native = native.copy(order="C")
        try:
            t = torch.from_numpy(native)
        except TypeError:
            raise TypeError(f"cannot serialize numpy array of dtype {arr.dtype} at key path {path or '/'!r}") from None
        return {"$ndarray": self._add_tensor(t, path), "dtype": arr.dtype.str}


def _decode(node: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if node is None or isinstance(node, (bool, str, int, float)):
        return node
    if isinstance(node, list):
        return [_decode(v, tensors) for v in node]
    tag = next((t for t in _TAGS if t in node), None)
    if tag == "$tuple":
        return tuple(_decode(v, tensors) for v in node[tag])
    if tag == "$dict":
        return {k: _decode(v, tensors) for k, v in node[tag].items()}
    if tag == "$items":
        return {_decode(k, tensors): _decode(v, tensors) for k, v in node[tag]}
    if tag == "$float":
        return float(node[tag])
    if tag == "$dtype":
        return getattr(torch, node[tag])
    if tag == "$size":
        return torch.Size(node[tag])
    if tag == "$np":
        return np.dtype(node[tag]).type(_decode(node["value"], tensors))
    if tag == "$tensor":
        return tensors[node[tag]]
    if tag == "$ndarray":
        return tensors[node[tag]].cpu().numpy().astype(np.dtype(node["dtype"]), copy=True)
    raise ValueError(f"malformed state skeleton node: {node!r:.200}")


def _atomic_write(target: Path, write: Any) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def save_state(path: Path | str, state: Any) -> None:
    """Write ``state`` to ``<path>.safetensors`` + ``<path>.json`` (each replaced atomically).

    Raises ``TypeError`` naming the key path for any leaf that is not a supported type.
    """
    enc = _Encoder()
    skeleton = enc.encode(state)
    state_id = uuid.uuid4().hex
    doc = {"format": FORMAT, "version": VERSION, "id": state_id, "state": skeleton}
    text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
    st_path, json_path = _paths(path)
    st_path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(st_path, lambda p: save_file(enc.tensors, str(p), metadata={_ID_KEY: state_id}))
    _atomic_write(json_path, lambda p: p.write_text(text, encoding="utf-8"))


def load_state(path: Path | str, map_location: str = "cpu") -> Any:
    """Inverse of :func:`save_state`; tensors are placed on ``map_location``."""
    st_path, json_path = _paths(path)
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    if doc.get("format") != FORMAT:
        raise ValueError(f"{json_path} is not a {FORMAT} file")
    if doc.get("version") != VERSION:
        raise ValueError(f"{json_path}: unsupported {FORMAT} version {doc.get('version')}")
    with safe_open(str(st_path), framework="pt", device=map_location) as f:
        if (f.metadata() or {}).get(_ID_KEY) != doc["id"]:
            raise ValueError(f"{st_path} does not belong to {json_path} (interrupted save?)")
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (safe_open is not iterable)
    return _decode(doc["state"], tensors)


def rng_state() -> dict:
    """Snapshot of the python, numpy-global, torch CPU and (if available) CUDA RNG states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def _as_tuples(x: Any) -> Any:
    return tuple(_as_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def set_rng_state(state: dict) -> None:
    """Restore a snapshot taken by :func:`rng_state` (keys that are absent are left alone)."""
    if "python" in state:
        random.setstate(_as_tuples(state["python"]))
    if "numpy" in state:
        np.random.set_state(state["numpy"])
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    if "torch_cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["torch_cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:  # different GPU count: restore what matches
            for i, s in enumerate(cuda_states[: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(s, i)
