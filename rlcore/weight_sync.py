"""Learner -> rollout weight sync in size-bounded buckets, and the driver side of its three transports.

`weight_sync.transport` picks one (make_weight_sync): `object_store` (here: the learner turns its full weights into
safetensors-serialized buckets, gathering ZeRO-3 partitions one bucket at a time, and puts them in the Ray object
store), `collective` (a broadcast over a process group: rlcore.weight_transport) or `ipc` (shared memory between each
learner rank and the engines on its node: rlcore.weight_ipc). Rollout workers load the weights into vLLM in place
through the worker extension in actors/vllm_extension.py. Only references and handles pass through the driver.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from safetensors.torch import save

from rlcore.cluster import ClusterError
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

    def gathered(self, max_bytes: int, dtype: str, keep: bool | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """Each bucket's full tensors, cast to `dtype`, on the ranks that `keep` them (default: rank 0; the others
        join each gather and get {}). A tensor is only valid until the next bucket is gathered (ZeRO-3 frees it)."""
        torch_dtype = TORCH_DTYPES[dtype]
        keep = self.rank == 0 if keep is None else keep
        for group in self._groups(max_bytes, torch_dtype):
            with self._gathered([param for _, param in group]):
                if keep:
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


Transport = Literal["object_store", "collective", "ipc"]


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
# ... and those the IPC transport calls.
IPC_ENGINE_CALLS = ("node_id", "load_shared_weights")
IPC_SOURCE_CALLS = ("node_id", "share_weights", "release_shared_weights")


class ObjectStoreSync:
    """The object-store transport (sync_weights) behind the interface of the others."""

    keeps_copy = True  # of the weights of the last sync (its buckets, if the runtime holds on to bucket_refs)
    synced = False  # the runtime re-sends a restarted worker's weights from those buckets instead

    def sync(self, learner, rollout, bucket_mb: float, dtype: str, version: int) -> SyncStats:
        return sync_weights(learner, rollout, bucket_mb, dtype, version)


def make_weight_sync(
    transport: Transport, on_gpus: bool, timeout_s: float
) -> ObjectStoreSync | CollectiveSync | IpcSync:
    """The driver side of `weight_sync.transport`; `on_gpus`: learner and engines both on GPUs (NCCL, CUDA IPC)."""
    if transport == "collective":
        return CollectiveSync("nccl" if on_gpus else "gloo", timeout_s)
    if transport == "ipc":
        return IpcSync()
    return ObjectStoreSync()


class CollectiveSync:
    """Driver side of the collective transport (rlcore.weight_transport). The weight group (learner rank 0 plus one
    worker per rollout engine) is built at the first sync and rebuilt when its members changed: a new learner group,
    or a rollout process Ray replaced (it reports no rank in the group). A failed sync drops the group."""

    def __init__(self, backend: str, timeout_s: float):
        self.backend, self.timeout_s = backend, timeout_s
        self.members: tuple[Any, ...] | None = None  # the actors the current group was built with
        self.builds = 0
        self.keeps_copy = False

    @property
    def synced(self) -> bool:
        """The engines hold weights of a sync (a restarted worker then needs them too: see the runtime)."""
        return self.members is not None

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


def feeding_rank(engine: int, learner_ranks: int) -> int:
    """The learner rank that shares its buckets with rollout engine `engine`: rank i feeds engine i (colocated
    placement: the same bundle, so the same GPU), and engines beyond the learner's ranks wrap around."""
    return engine % learner_ranks


def check_same_nodes(learner_nodes: Sequence[str], engine_nodes: Sequence[str]) -> None:
    """Refuse (before anything is shared) an engine whose feeding learner rank runs on another node."""
    apart = [
        f"rollout[{engine}] on node {node[:12]} but learner[{rank}] on node {learner_nodes[rank][:12]}"
        for engine, node in enumerate(engine_nodes)
        if node != learner_nodes[rank := feeding_rank(engine, len(learner_nodes))]
    ]
    if apart:
        raise ClusterError(
            "weight_sync.transport ipc shares memory, which works only between processes on one machine: "
            + "; ".join(apart)
            + ". Use weight_sync.transport: collective (or object_store) across nodes, or "
            "cluster.placement.mode: colocated so that each engine sits beside its learner rank"
        )


class IpcSync:
    """Driver side of the IPC transport (rlcore.weight_ipc): learner rank i shares its buckets with engine i (and
    i + ranks, ...) on its node; the driver passes the handles on and, once every engine has loaded (or failed),
    has the learner stop sharing them. Nothing is shared before every engine is known to be on its rank's node."""

    def __init__(self) -> None:
        self.synced, self.keeps_copy = False, False

    def sync(self, learner, rollout, bucket_mb: float, dtype: str, version: int) -> SyncStats:
        start = time.perf_counter()
        engine_nodes = rollout.broadcast("node_id")  # replaces a dead rollout worker first (the group's restarts)
        check_same_nodes(learner.broadcast("node_id"), engine_nodes)
        ranks = len(learner.actors)
        feeds = [
            any(feeding_rank(engine, ranks) == rank for engine in range(len(engine_nodes))) for rank in range(ranks)
        ]
        try:
            shared = learner.call_each(
                "share_weights", [{"bucket_mb": bucket_mb, "dtype": dtype, "feeds_engine": feed} for feed in feeds]
            )
            loads = [
                actor.load_shared_weights.remote(buckets=shared[feeding_rank(engine, ranks)], version=version)
                for engine, actor in enumerate(rollout.actors)
            ]
            loaded = rollout.wait(["load_shared_weights"] * len(loads), loads)
        except BaseException:
            with suppress(Exception):  # best effort (a learner rank may be dead); the first error is the one to see
                learner.broadcast("release_shared_weights")
            raise
        learner.broadcast("release_shared_weights")  # no segment outlives its sync
        self.synced = True
        return SyncStats(time.perf_counter() - start, int(loaded[0]), len(shared[0]))
