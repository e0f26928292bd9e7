"""The collective weight transport without Ray or vLLM: the bucket plan's layout, and a gloo broadcast between two
ranks (two threads of this process) that delivers every tensor bitwise."""

from __future__ import annotations

import threading

import pytest
import torch

from rlcore.weight_sync import WeightBucketer
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
