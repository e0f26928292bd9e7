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

    def gathered(self, max_bytes: int, dtype: str) -> Iterator[dict[str, torch.Tensor]]:
        """Each bucket's full tensors on rank 0, cast to `dtype` (other ranks join each gather and get {}). A tensor
        is only valid until the next bucket is gathered (ZeRO-3 frees it again)."""
        torch_dtype = TORCH_DTYPES[dtype]
        for group in self._groups(max_bytes, torch_dtype):
            with self._gathered([param for _, param in group]):
                if self.rank == 0:
                    yield {name: param.detach().to(dtype=torch_dtype).contiguous() for name, param in group}
                else:
                    yield {}

    def shapes(self, max_bytes: int, dtype: str) -> list[list[tuple[str, tuple[int, ...]]]]:
        """The bucket grouping of `gathered`, as (name, full shape) per tensor, without gathering anything."""
        return [
            [(name, tuple(getattr(param, "ds_shape", None) or param.shape)) for name, param in group]
            for group in self._groups(max_bytes, TORCH_DTYPES[dtype])
        ]

    def buckets(self, max_bytes: int, dtype: str) -> list[bytes]:
        """Serialized buckets on rank 0 (other ranks take part in the gathers and return [])."""
        return [
            save({name: t.cpu() for name, t in bucket.items()}) for bucket in self.gathered(max_bytes, dtype) if bucket
        ]

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


# The worker methods the collective transport calls: on every rollout worker, and on the learner's ranks.
ENGINE_CALLS = ("join_weight_group", "receive_weights", "weight_group_rank")
SOURCE_CALLS = ("open_weight_group", "join_weight_group", "weight_plan", "send_weights")


class CollectiveSync:
    """Driver side of the collective transport (rlcore.weight_transport). The weight group (learner rank 0 plus one
    worker per rollout engine) is built at the first sync and rebuilt when its members changed: a new learner group,
    or a rollout process Ray replaced (it reports no rank in the group). A failed sync drops the group."""

    def __init__(self, backend: str, timeout_s: float):
        self.backend, self.timeout_s = backend, timeout_s
        self.members: tuple[Any, ...] | None = None  # the actors the current group was built with
        self.builds = 0

    def sync(self, learner, rollout, bucket_mb: float, dtype: str, version: int) -> SyncStats:
        start = time.perf_counter()
        try:
            ranks = rollout.broadcast("weight_group_rank")  # replaces a dead worker first (the group's restarts)
            if self.members != (learner.actors[0], *rollout.actors) or ranks != list(range(1, len(ranks) + 1)):
                self._build(learner, rollout)
            plan = learner.broadcast("weight_plan", bucket_mb=bucket_mb, dtype=dtype)[0]  # metadata, once per sync
            senders = [actor.send_weights.remote(bucket_mb=bucket_mb, dtype=dtype) for actor in learner.actors]
            receivers = [actor.receive_weights.remote(plan=plan, version=version) for actor in rollout.actors]
            sent = learner.wait(["send_weights"] * len(senders), senders)[0]
            rollout.wait(["receive_weights"] * len(receivers), receivers)
        except BaseException:
            self.members = None  # a member may be mid-broadcast or dead: never reuse this group
            raise
        return SyncStats(time.perf_counter() - start, int(sent), len(plan))

    def _build(self, learner, rollout) -> None:
        """Learner rank 0 serves the group's store on a port it holds; it and every engine join at once."""
        source = learner.actors[0]
        address, port = learner.wait(["open_weight_group"], [source.open_weight_group.remote()])[0]
        world_size = 1 + len(rollout.actors)
        options = {"address": address, "port": port, "world_size": world_size, "backend": self.backend}
        options["timeout_s"] = self.timeout_s
        joined = source.join_weight_group.remote(**options)
        engines = [actor.join_weight_group.remote(rank=1 + i, **options) for i, actor in enumerate(rollout.actors)]
        rollout.wait(["join_weight_group"] * len(engines), engines)
        learner.wait(["join_weight_group"], [joined])
        self.members = (learner.actors[0], *rollout.actors)  # handles compare by actor id
        self.builds += 1
