"""IPC weight transport: each learner rank shares its weight buckets with the rollout engines on its own node, and
only handles (small metadata) travel through Ray.

A bucket is one flat uint8 buffer laid out by the collective transport's plan (rlcore.weight_transport: names,
shapes, dtypes, aligned byte offsets). Where it lives is a small per-device strategy:

- CPU: a file in /dev/shm with a random name, created owner-only (0600). The learner writes each tensor into it once;
  every worker of the engine maps the same file (a private, copy-on-write mapping) and loads tensor views of it in
  place: no serialization, no per-worker copy. The learner unlinks it once the engines have loaded, or failed.
- GPU: a CUDA allocation shared through a CUDA IPC handle (torch.multiprocessing.reductions.reduce_tensor); the
  engine on the same GPU rebuilds the tensor from the handle, loads from it, synchronizes and returns, and only
  then does the learner drop the buffer. Written against torch 2.13's API and not run (no GPU on these machines).

The learner holds one copy of the weights (in buckets) while the engines load it: the price of loading them in one
pass of vLLM's layer-wise reload, as the object-store transport does.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

import ray
import torch

from rlcore.cluster import ClusterError
from rlcore.weight_sync import IPC_SOURCE_CALLS, WeightBucketer
from rlcore.weight_transport import bucket_nbytes, bucket_plan, pack_into, plan_from_wire, plan_to_wire, unpack

SHM_DIR = Path("/dev/shm")
SEGMENT_PREFIX = "rlcore-weights-"


def this_node_id() -> str:
    """The Ray node this process runs on."""
    return ray.get_runtime_context().get_node_id()


class SharedBucket(Protocol):
    """One bucket's flat buffer, shared with other processes of this node."""

    buffer: torch.Tensor

    def handle(self) -> dict[str, Any]:
        """What an engine needs to open the buffer (plain values: Ray and vLLM's collective_rpc carry them)."""
        ...

    def release(self) -> None:
        """Stop sharing; only after every engine that opened the buffer has loaded from it."""
        ...


class ShmBucket:
    """CPU: a /dev/shm file with an unguessable name, readable and writable by this user only."""

    def __init__(self, nbytes: int):
        self.path = SHM_DIR / f"{SEGMENT_PREFIX}{secrets.token_hex(16)}"
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)  # fails if the name exists
        try:
            os.ftruncate(descriptor, nbytes)
        except BaseException:
            os.close(descriptor)
            self.path.unlink()
            raise
        os.close(descriptor)
        self.nbytes = nbytes
        self.buffer = _map(self.path, nbytes, shared=True)

    def handle(self) -> dict[str, Any]:
        return {"kind": "shm", "path": str(self.path), "nbytes": self.nbytes}

    def release(self) -> None:
        """Unlink the file: mappings still open stay valid; the memory goes with the last one."""
        self.path.unlink(missing_ok=True)
        self.buffer = torch.empty(0, dtype=torch.uint8)


class CudaIpcBucket:
    """GPU (not run here): a CUDA allocation on the learner's device, shared by a CUDA IPC handle."""

    def __init__(self, nbytes: int, device: torch.device):
        self.buffer = torch.empty(nbytes, dtype=torch.uint8, device=device)

    def handle(self) -> dict[str, Any]:
        from torch.multiprocessing.reductions import reduce_tensor

        # Called after packing: the IPC event it records on the current stream orders the engine's reads after the
        # copies into the buffer. Of reduce_tensor's arguments only the plain ones travel; the engine knows the rest
        # (a uint8 torch.Tensor in a TypedStorage) and puts in its own index of this GPU.
        _, args = reduce_tensor(self.buffer)
        size, stride, offset, device = args[1], args[2], args[3], args[6]
        return {
            "kind": "cuda",
            "gpu_uuid": str(torch.cuda.get_device_properties(device).uuid),
            "nbytes": self.buffer.numel(),
            "ipc": [list(size), list(stride), offset, *args[7:10], *args[11:15]],
        }

    def release(self) -> None:
        self.buffer = torch.empty(0, dtype=torch.uint8)
        torch.cuda.ipc_collect()  # frees the allocation once the engine's refcount on it is gone


def _map(path: Path, nbytes: int, shared: bool) -> torch.Tensor:
    """The file as a uint8 tensor over an mmap of it: MAP_SHARED (the learner writes), else MAP_PRIVATE."""
    storage = cast(torch.UntypedStorage, torch.UntypedStorage.from_file(str(path), shared=shared, nbytes=nbytes))
    return torch.empty(0, dtype=torch.uint8).set_(storage)


def share_bucket(nbytes: int, device: torch.device) -> SharedBucket:
    """A fresh shared buffer of `nbytes` on the learner's device: the per-device strategy."""
    return CudaIpcBucket(nbytes, device) if device.type == "cuda" else ShmBucket(nbytes)


def open_bucket(handle: dict[str, Any], device: torch.device) -> torch.Tensor:
    """Engine side: the learner's buffer as a uint8 tensor on `device`, without copying it."""
    if handle["kind"] == "shm":
        path = Path(handle["path"])
        if path.parent != SHM_DIR or not path.name.startswith(SEGMENT_PREFIX):  # only ever a weight segment
            raise ValueError(f"not an rlcore weight segment: {path}")
        return _map(path, int(handle["nbytes"]), shared=False)
    if device.type != "cuda":
        raise ValueError("weight_sync.transport ipc: the learner shares CUDA memory but this engine runs on CPU")
    from torch.multiprocessing.reductions import rebuild_cuda_tensor

    size, stride, offset, storage_handle, storage_bytes, storage_offset, *counter_and_event = handle["ipc"]
    return rebuild_cuda_tensor(
        torch.Tensor,
        torch.Size(size),
        tuple(stride),
        offset,
        torch.storage.TypedStorage,
        torch.uint8,
        _local_index(handle["gpu_uuid"]),
        storage_handle,
        storage_bytes,
        storage_offset,
        False,
        *counter_and_event,
    )


def _local_index(gpu_uuid: str) -> int:
    """This process's index of the GPU with `gpu_uuid` (CUDA_VISIBLE_DEVICES may number it differently)."""
    for index in range(torch.cuda.device_count()):
        if str(torch.cuda.get_device_properties(index).uuid) == gpu_uuid:
            return index
    raise ClusterError(
        f"weight_sync.transport ipc: this engine does not see the learner's GPU {gpu_uuid}; CUDA IPC needs each "
        "engine on its learner rank's GPU (cluster.placement.mode: colocated with learner and rollout)"
    )


def shared_tensors(buckets: Sequence[dict[str, Any]], device: torch.device) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, view) of every tensor of the shared buckets. All buckets are opened first: a handle that fails to open
    then fails the sync before the engine's reload has touched a layer."""
    opened = [(open_bucket(bucket["handle"], device), plan_from_wire([bucket["slots"]])[0]) for bucket in buckets]
    return (item for buffer, slots in opened for item in unpack(buffer, slots))


def leftover_segments() -> list[Path]:
    """Weight segments in /dev/shm now (a finished sync leaves none)."""
    return sorted(SHM_DIR.glob(f"{SEGMENT_PREFIX}*"))


class IpcSource:
    """Mixed into the learner worker: every rank that feeds an engine shares its gathered buckets; every rank joins
    the ZeRO-3 gathers."""

    remote_methods: ClassVar[tuple[str, ...]] = IPC_SOURCE_CALLS
    rank: int
    device: torch.device
    bucketer: WeightBucketer
    _shared_buckets: list[SharedBucket]

    def node_id(self) -> str:
        return this_node_id()

    def share_weights(self, bucket_mb: float, dtype: str, feeds_engine: bool) -> list[dict[str, Any]]:
        """Pack this sync's buckets into shared buffers, each written once; returns their handles and layouts ([] on
        a rank that feeds no engine). They stay shared until release_shared_weights."""
        self.release_shared_weights()  # an earlier sync's, should the driver have lost track of them
        plan = bucket_plan(self.bucketer, bucket_mb, dtype)
        buckets = self.bucketer.gathered(int(bucket_mb * 2**20), dtype, keep=feeds_engine)
        shared = []
        try:
            for tensors, slots in zip(buckets, plan, strict=True):
                if not feeds_engine:
                    continue  # this rank's part of the ZeRO-3 gather only
                bucket = share_bucket(bucket_nbytes(slots), self.device)
                self._shared_buckets.append(bucket)
                pack_into(bucket.buffer, tensors, slots)
                shared.append({"handle": bucket.handle(), "slots": plan_to_wire([slots])[0]})
        except BaseException:
            self.release_shared_weights()
            raise
        return shared

    def release_shared_weights(self) -> int:
        """Stop sharing this rank's buckets (after the engines loaded them, or failed to); returns how many."""
        buckets = getattr(self, "_shared_buckets", [])
        self._shared_buckets = []
        for bucket in buckets:
            bucket.release()
        return len(buckets)
