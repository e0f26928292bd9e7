"""The collective and ipc weight transports without Ray or vLLM: the bucket plan's layout, a gloo broadcast between two
ranks (two threads of this process) that delivers every tensor bitwise, and /dev/shm buckets shared, opened without
a copy and always unlinked; the ipc transport's placement checks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from rlcore import weight_ipc
from rlcore.cluster import ClusterError
from rlcore.colocation import colocated_plan
from rlcore.config import ConfigError, load_config
from rlcore.weight_ipc import SEGMENT_PREFIX, SHM_DIR, IpcSource, ShmBucket, leftover_segments, shared_tensors
from rlcore.weight_sync import WeightBucketer, check_same_nodes, feeding_rank
from rlcore.weight_transport import (
    ALIGN,
    WeightGroup,
    bucket_nbytes,
    layout,
    open_listen_socket,
    plan_from_wire,
    plan_to_wire,
    receive_stream,
    send_stream,
)


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    # 300x64 float32 = 75 KiB: the largest tensor, larger than the 32 KiB buckets below
    return torch.nn.Sequential(torch.nn.Embedding(300, 64), torch.nn.Linear(64, 48), torch.nn.LayerNorm(48))


def plan_of(model: torch.nn.Module, max_bytes: int, dtype: str):
    return [layout(entries, dtype) for entries in WeightBucketer(model, zero3=False, rank=0).shapes(max_bytes, dtype)]


def test_bucket_plan_layout():
    model = small_model()
    plan = plan_of(model, 32 * 1024, "float32")
    names = [slot.name for slots in plan for slot in slots]
    assert names == [name for name, _ in model.named_parameters()]  # every tensor once, in order
    assert [slot.name for slot in plan[0]] == ["0.weight"]  # larger than a bucket: a bucket of its own
    assert bucket_nbytes(plan[0]) == 300 * 64 * 4 > 32 * 1024
    for slots in plan[1:]:
        assert bucket_nbytes(slots) <= 32 * 1024  # the others respect the bound
    for slots in plan:
        end = 0
        for slot in slots:  # aligned, in order, no overlap, sizes from shape and dtype
            assert slot.offset % ALIGN == 0 and slot.offset >= end
            assert slot.nbytes == 4 * torch.Size(slot.shape).numel() and slot.dtype == "float32"
            end = slot.offset + slot.nbytes
    assert plan_from_wire(plan_to_wire(plan)) == plan
    assert [slot.nbytes for slot in layout([("w", (3, 5))], "bfloat16")] == [30]


@pytest.mark.timeout(60)
def test_gloo_stream_delivers_every_tensor_bitwise():
    model = small_model()
    max_bytes, dtype = 32 * 1024, "bfloat16"
    plan = plan_of(model, max_bytes, dtype)
    listen = open_listen_socket("127.0.0.1")
    port = listen.getsockname()[1]
    received: dict[str, torch.Tensor] = {}

    def receiver() -> None:
        group = WeightGroup("gloo", "127.0.0.1", port, 1, 2, timeout_s=30)
        for _ in range(2):  # a second sync over the same group
            received.update(
                (name, tensor.clone()) for name, tensor in receive_stream(group.broadcast, plan, group.device)
            )
        group.close()

    thread = threading.Thread(target=receiver)
    thread.start()
    source = WeightGroup("gloo", "127.0.0.1", port, 0, 2, timeout_s=30, listen_socket=listen)
    bucketer = WeightBucketer(model, zero3=False, rank=0)
    sent = sum(
        send_stream(source.broadcast, bucketer.gathered(max_bytes, dtype), plan, source.device) for _ in range(2)
    )
    thread.join(timeout=30)
    source.close()

    assert sent == 2 * sum(bucket_nbytes(slots) for slots in plan)
    expected = {name: param.detach().to(torch.bfloat16) for name, param in model.named_parameters()}
    assert received.keys() == expected.keys()
    for name, tensor in expected.items():
        assert received[name].dtype == torch.bfloat16 and torch.equal(received[name], tensor), name


class SharingRank(IpcSource):
    """A learner rank's ipc side on a plain module (the LearnerWorker mixes IpcSource into its DeepSpeed worker)."""

    def __init__(self, model: torch.nn.Module):
        self.rank, self.device = 0, torch.device("cpu")
        self.bucketer = WeightBucketer(model, zero3=False, rank=0)


@pytest.fixture
def sharing_rank() -> Iterator[SharingRank]:
    rank = SharingRank(small_model())
    yield rank
    rank.release_shared_weights()  # also when an assertion failed midway: no segment outlives the test


def test_shared_buckets_are_owner_only_opened_without_copies_and_unlinked(sharing_rank: SharingRank):
    rank, before = sharing_rank, set(leftover_segments())
    model = rank.bucketer.module
    shared = rank.share_weights(bucket_mb=8 / 1024, dtype="float32", feeds_engine=True)
    paths = [Path(bucket["handle"]["path"]) for bucket in shared]
    assert len(shared) == len(plan_of(model, 8 * 1024, "float32")) == 3  # one segment per bucket of the plan
    for path in paths:
        assert (
            path.parent == SHM_DIR
            and path.name.startswith(SEGMENT_PREFIX)
            and len(path.name) == len(SEGMENT_PREFIX) + 32
        )  # 128 random bits
        assert path.stat().st_mode & 0o777 == 0o600
    received = dict(shared_tensors(shared, torch.device("cpu")))
    buffers = {tensor.untyped_storage().data_ptr() for tensor in received.values()}
    assert len(buffers) == len(shared)  # views into one mapping per bucket, not copies per tensor
    for name, param in model.named_parameters():
        assert torch.equal(received[name], param.detach()), name
    assert rank.release_shared_weights() == len(shared)
    assert not any(path.exists() for path in paths) and set(leftover_segments()) == before
    assert torch.equal(
        received["0.weight"], model.get_parameter("0.weight").detach()
    )  # the mapped views outlive the file
    assert rank.share_weights(bucket_mb=1, dtype="float32", feeds_engine=False) == []  # joins gathers, shares none
    assert set(leftover_segments()) == before


def test_a_failed_share_leaves_no_segment(monkeypatch: pytest.MonkeyPatch):
    before, packed = set(leftover_segments()), []

    def pack_then_fail(buffer, tensors, slots):
        packed.append(len(slots))
        if len(packed) == 2:
            raise RuntimeError("out of memory while packing")  # what a full /dev/shm looks like, in effect
        return buffer

    monkeypatch.setattr(weight_ipc, "pack_into", pack_then_fail)
    with pytest.raises(RuntimeError, match="out of memory"):
        SharingRank(small_model()).share_weights(bucket_mb=32 / 1024, dtype="float32", feeds_engine=True)
    assert len(packed) == 2 and set(leftover_segments()) == before


def test_only_weight_segments_are_opened():
    with pytest.raises(ValueError, match="not an rlcore weight segment"):
        list(shared_tensors([{"handle": {"kind": "shm", "path": "/etc/passwd", "nbytes": 8}, "slots": []}], "cpu"))
    segment = ShmBucket(64)
    segment.release()
    segment.release()  # twice is harmless (the driver always releases, also after a failed share)
    assert not segment.path.exists()


def test_engines_are_fed_by_a_learner_rank_on_their_node():
    assert [feeding_rank(engine, 2) for engine in range(5)] == [0, 1, 0, 1, 0]
    check_same_nodes(["a", "b"], ["a", "b", "a"])
    with pytest.raises(ClusterError, match=r"rollout\[1\] on node b but learner\[0\] on node a.*transport: collective"):
        check_same_nodes(["a"], ["a", "b"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["rollout.num_gpus=1", "learner.num_gpus=1"], r"needs cluster.placement.mode: colocated"),
        (["learner.num_gpus=1"], r"both must be on the same kind of device"),
    ],
)
def test_ipc_on_gpus_needs_each_engine_on_its_learner_ranks_gpu(overrides, message):
    with pytest.raises(ConfigError, match=message):
        colocated_plan(load_config(None, ["weight_sync.transport=ipc", *overrides]), ["rollout", "learner"])
    colocated = ["cluster.placement.mode=colocated", "rollout.num_gpus=0.5", "learner.num_gpus=0.5"]
    assert colocated_plan(load_config(None, ["weight_sync.transport=ipc", *colocated]), ["rollout", "learner"])
    assert colocated_plan(load_config(None, ["weight_sync.transport=ipc"]), ["rollout", "learner"]) is None  # CPU
