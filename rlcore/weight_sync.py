"""Learner -> rollout weight sync in size-bounded buckets of serialized tensors.

The learner turns its full weights into safetensors-serialized buckets (gathering ZeRO-3 partitions one bucket at
a time) and puts them in the Ray object store; rollout workers load each bucket into vLLM in place through the
worker extension in actors/vllm_extension.py. Only references pass through the driver.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from safetensors.torch import save

from rlcore.modeling import TORCH_DTYPES


def _numel(param: torch.nn.Parameter) -> int:
    return getattr(param, "ds_numel", None) or param.numel()


class WeightBucketer:
    """Iterates a (possibly ZeRO-3 partitioned) model's parameters as full tensors, grouped into buckets."""

    def __init__(self, module: torch.nn.Module, zero3: bool, rank: int):
        self.module = module
        self.zero3 = zero3
        self.rank = rank

    def _gathered(self, params: list[torch.nn.Parameter]):
        if not self.zero3:
            return nullcontext()
        import deepspeed

        return deepspeed.zero.GatheredParameters(params, modifier_rank=None)

    def _groups(self, max_bytes: int, dtype: torch.dtype) -> Iterator[list[tuple[str, torch.nn.Parameter]]]:
        group: list[tuple[str, torch.nn.Parameter]] = []
        size = 0
        itemsize = torch.empty((), dtype=dtype).element_size()
        for name, param in self.module.named_parameters():
            nbytes = _numel(param) * itemsize
            if group and size + nbytes > max_bytes:
                yield group
                group, size = [], 0
            group.append((name, param))
            size += nbytes
        if group:
            yield group

    def buckets(self, max_bytes: int, dtype: str) -> list[bytes]:
        """Serialized buckets on rank 0 (other ranks take part in the gathers and return [])."""
        torch_dtype = TORCH_DTYPES[dtype]
        out = []
        for group in self._groups(max_bytes, torch_dtype):
            with self._gathered([param for _, param in group]):
                if self.rank == 0:
                    tensors = {name: param.detach().to("cpu", torch_dtype).contiguous() for name, param in group}
                    out.append(save(tensors))
        return out

    def full_state_dict(self) -> dict[str, torch.Tensor]:
        """Every parameter in full on rank 0 (empty elsewhere), for Hugging Face checkpoints."""
        state = {}
        for group in self._groups(1 << 30, torch.float32):
            with self._gathered([param for _, param in group]):
                if self.rank == 0:
                    state.update({name: param.detach().cpu().clone() for name, param in group})
        return state


@dataclass
class SyncStats:
    seconds: float
    bytes: int
    buckets: int
    bucket_refs: list[Any] = field(default_factory=list, repr=False)  # in the object store while referenced

    def metrics(self) -> dict[str, float]:
        return {"sync/seconds": self.seconds, "sync/megabytes": self.bytes / 2**20, "sync/buckets": self.buckets}


def sync_weights(learner, rollout, bucket_mb: float, dtype: str, version: int) -> SyncStats:
    """Push the learner group's current weights into every rollout worker; returns time, bytes and buckets."""
    start = time.perf_counter()
    refs = learner.broadcast("weight_buckets", bucket_mb=bucket_mb, dtype=dtype)[0]  # only rank 0 holds the buckets
    loaded_bytes = rollout.broadcast(
        "load_weights", bucket_refs=refs, version=version
    )  # refs in a list: each worker fetches them
    return SyncStats(time.perf_counter() - start, int(loaded_bytes[0]), len(refs), refs)
