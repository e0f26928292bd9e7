"""Collective weight transport: learner rank 0 broadcasts flat weight buckets to one worker per rollout engine.

The group is vLLM's stateless process group (it leaves every member's default torch.distributed group alone, the
learner's DeepSpeed world included): gloo on CPU, NCCL (vLLM's PyNcclCommunicator) on GPUs. Each bucket travels as
one contiguous uint8 tensor laid out by a plan (names, shapes, dtypes, byte offsets) that the driver sends once per
sync through Ray; nothing is serialized. Both ends keep one bucket in flight while they work on the previous one:
the learner gathers and packs bucket i+1 while bucket i is broadcast, and the engine loads bucket i while bucket i+1
arrives. A tensor larger than bucket_mb is a bucket of its own.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass
from datetime import timedelta
from typing import Any, ClassVar, Literal, Protocol

import torch

from rlcore.modeling import TORCH_DTYPES
from rlcore.ray_setup import environment, interface_of
from rlcore.weight_sync import SOURCE_CALLS, WeightBucketer

Backend = Literal["gloo", "nccl"]
# Every tensor starts at a multiple of this many bytes, so that a view of any dtype into the flat buffer is aligned.
ALIGN = 64


@dataclass(frozen=True)
class Slot:
    """Where one tensor lies in its bucket's flat byte buffer."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    offset: int
    nbytes: int


Plan = list[list[Slot]]  # one list of slots per bucket, in broadcast order


def layout(entries: Sequence[tuple[str, Sequence[int]]], dtype: str) -> list[Slot]:
    """Slots for one bucket's tensors (name, shape), all of `dtype`, packed in order at aligned offsets."""
    itemsize = torch.empty((), dtype=TORCH_DTYPES[dtype]).element_size()
    slots, offset = [], 0
    for name, shape in entries:
        nbytes = itemsize * int(torch.Size(shape).numel())
        slots.append(Slot(name, tuple(int(size) for size in shape), dtype, offset, nbytes))
        offset += -(-nbytes // ALIGN) * ALIGN
    return slots


def bucket_nbytes(slots: Sequence[Slot]) -> int:
    """Size of the bucket's flat buffer."""
    return slots[-1].offset + slots[-1].nbytes if slots else 0


def plan_to_wire(plan: Plan) -> list[list[list[Any]]]:
    """Plain lists (what Ray and vLLM's collective_rpc carry without pickling objects)."""
    return [[list(astuple(slot)) for slot in slots] for slots in plan]


def plan_from_wire(wire: Sequence[Sequence[Sequence[Any]]]) -> Plan:
    return [
        [
            Slot(str(name), tuple(shape), str(dtype), int(offset), int(nbytes))
            for name, shape, dtype, offset, nbytes in slots
        ]
        for slots in wire
    ]


def pack(tensors: dict[str, torch.Tensor], slots: Sequence[Slot], device: torch.device) -> torch.Tensor:
    """One bucket's tensors copied into a fresh flat uint8 buffer on `device`."""
    return pack_into(torch.empty(bucket_nbytes(slots), dtype=torch.uint8, device=device), tensors, slots)


def pack_into(buffer: torch.Tensor, tensors: dict[str, torch.Tensor], slots: Sequence[Slot]) -> torch.Tensor:
    """One bucket's tensors copied into `buffer` (at least bucket_nbytes long) at their slots; returns it."""
    for name, view in unpack(buffer, slots):
        view.copy_(tensors[name])
    return buffer


def unpack(buffer: torch.Tensor, slots: Sequence[Slot]) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) views into a bucket's flat buffer: no copy."""
    for slot in slots:
        raw = buffer[slot.offset : slot.offset + slot.nbytes]
        yield slot.name, raw.view(TORCH_DTYPES[slot.dtype]).view(slot.shape)


class Pending(Protocol):
    def wait(self) -> Any: ...


class _Done:
    def wait(self) -> None:
        return None


class _CudaPending:
    """A broadcast enqueued on a side stream; waiting blocks the host until it is done (and keeps the buffer alive)."""

    def __init__(self, event: Any, buffer: torch.Tensor):
        self.event, self.buffer = event, buffer

    def wait(self) -> None:
        self.event.synchronize()


def open_listen_socket(address: str) -> socket.socket:
    """A listening socket on `address` only (127.0.0.1 on a single node), for the group's store to take over."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return socket.create_server((address, 0), family=family)


class WeightGroup:
    """This process's membership in the weight group; rank 0 is the source of every broadcast."""

    def __init__(
        self,
        backend: Backend,
        address: str,
        port: int,
        rank: int,
        world_size: int,
        timeout_s: float,
        listen_socket: socket.socket | None = None,
    ):
        self.backend, self.rank, self.world_size = backend, rank, world_size
        interface = interface_of(address)
        # gloo's and NCCL's own sockets go on the store's interface ('lo' on a single node), not on every interface.
        env = {f"{name}_SOCKET_IFNAME": interface for name in ("GLOO", "NCCL")} if interface else {}
        with environment(env):
            if backend == "gloo":
                from vllm.distributed.utils import stateless_init_torch_distributed_process_group

                self._pg: Any = stateless_init_torch_distributed_process_group(
                    address,
                    port,
                    rank,
                    world_size,
                    "gloo",
                    listen_socket=listen_socket,
                    timeout=timedelta(seconds=timeout_s),
                )
            else:
                self._pg = _nccl_communicator(address, port, rank, world_size, timeout_s, listen_socket)
                self._stream = torch.cuda.Stream()
        self.device = torch.device("cpu") if backend == "gloo" else torch.device("cuda", torch.cuda.current_device())

    def broadcast(self, buffer: torch.Tensor) -> Pending:
        """Start broadcasting `buffer` from rank 0 (received in place elsewhere); wait() on the result."""
        if self.backend == "gloo":
            options = torch.distributed.BroadcastOptions()
            options.rootRank, options.rootTensor = 0, 0
            return self._pg.broadcast([buffer], options)
        self._stream.wait_stream(torch.cuda.current_stream())  # the buffer was packed (or allocated) on that stream
        with torch.cuda.stream(self._stream):
            self._pg.broadcast(buffer, src=0, stream=self._stream)
            event = torch.cuda.Event()
            event.record(self._stream)
        return _CudaPending(event, buffer)

    def close(self) -> None:
        if self.backend == "gloo":
            from vllm.distributed.utils import stateless_destroy_torch_distributed_process_group

            stateless_destroy_torch_distributed_process_group(self._pg)
        else:
            self._pg.destroy()


def _nccl_communicator(
    address: str, port: int, rank: int, world_size: int, timeout_s: float, listen_socket: socket.socket | None
) -> Any:
    """GPU only (not run on the CPU machines): NCCL over vLLM's StatelessProcessGroup, as vLLM's weight transfer."""
    from vllm.distributed.device_communicators.pynccl import PyNcclCommunicator
    from vllm.distributed.utils import StatelessProcessGroup
    from vllm.utils.nccl import unpinned_nccl_env

    store = StatelessProcessGroup.create(
        host=address,
        port=port,
        rank=rank,
        world_size=world_size,
        store_timeout=int(timeout_s),
        listen_socket=listen_socket,
    )
    with unpinned_nccl_env():
        return PyNcclCommunicator(store, device=torch.cuda.current_device())


def send_stream(
    broadcast: Callable[[torch.Tensor], Pending],
    buckets: Iterable[dict[str, torch.Tensor]],
    plan: Plan,
    device: torch.device,
) -> int:
    """Rank 0: pack and broadcast each bucket; bucket i+1 is gathered and packed while bucket i is in flight. At most
    two buffers are alive. Returns the bytes sent."""
    in_flight: deque[Pending] = deque()
    sent = 0
    for tensors, slots in zip(buckets, plan, strict=True):
        buffer = pack(tensors, slots, device)
        in_flight.append(broadcast(buffer))
        sent += buffer.numel()
        if len(in_flight) == 2:
            in_flight.popleft().wait()
    for pending in in_flight:
        pending.wait()
    return sent


def receive_stream(
    receive: Callable[[torch.Tensor], Pending],
    plan: Plan,
    device: torch.device,
    fan_out: Callable[[torch.Tensor], Any] | None = None,
) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor of the plan as it arrives: bucket i+1 is posted before bucket i is handed out, so it is in
    flight while the caller loads bucket i. `fan_out` passes each received buffer on (to an engine's other
    tensor-parallel workers). Each bucket gets a fresh buffer: vLLM's layer-wise reload keeps the tensors of a
    layer until the layer is complete, and a layer may span buckets."""

    def post(slots: Sequence[Slot]) -> tuple[torch.Tensor, Pending]:
        buffer = torch.empty(bucket_nbytes(slots), dtype=torch.uint8, device=device)
        return buffer, receive(buffer)

    upcoming = post(plan[0]) if plan else None
    for index, slots in enumerate(plan):
        assert upcoming is not None
        buffer, pending = upcoming
        pending.wait()
        if index + 1 < len(plan):
            upcoming = post(plan[index + 1])
        if fan_out is not None:
            fan_out(buffer)
        yield from unpack(buffer, slots)


def engine_receiver(
    group: WeightGroup | None, plan: Plan, device: torch.device, tp_group: Any
) -> Iterator[tuple[str, torch.Tensor]]:
    """The tensors one vLLM worker loads. Only an engine's first tensor-parallel worker is in the weight group, so the
    learner sends each tensor once per engine; it passes each bucket on over the engine's own tensor-parallel group
    (vLLM's GroupCoordinator), whose other workers receive from it there. With tensor_parallel_size 1 (all CPU
    runs) there is no fan-out: the multi-worker branch is written against vLLM's API but not run here."""
    if tp_group.world_size == 1 or tp_group.rank_in_group == 0:
        if group is None:
            raise RuntimeError("this engine worker has not joined the weight group (join_weight_group first)")
        fan_out = None if tp_group.world_size == 1 else (lambda buffer: tp_group.broadcast(buffer, src=0))
        return receive_stream(group.broadcast, plan, device, fan_out)

    def from_leader(buffer: torch.Tensor) -> Pending:
        tp_group.broadcast(buffer, src=0)
        return _Done()

    return receive_stream(from_leader, plan, device)


class WeightSender:
    """Mixed into the learner worker: its rank 0 is the source of the weight group; every rank joins the ZeRO-3
    gathers of each sync."""

    remote_methods: ClassVar[tuple[str, ...]] = SOURCE_CALLS
    rank: int
    bucketer: WeightBucketer
    node_address: Callable[[], str]
    _weight_socket: socket.socket | None = None
    _weight_group: WeightGroup | None = None

    def open_weight_group(self) -> tuple[str, int]:
        """Rank 0: hold a free port on this node's address for the group's store (no other process can take it)."""
        address = self.node_address()
        self._weight_socket = open_listen_socket(address)
        return address, self._weight_socket.getsockname()[1]

    def join_weight_group(self, address: str, port: int, world_size: int, backend: Backend, timeout_s: float) -> None:
        """Rank 0: serve the group's store on open_weight_group's socket and join as the source (after closing the
        group of an earlier build). Blocks until every engine has joined."""
        if self._weight_group is not None:
            self._weight_group.close()
            self._weight_group = None
        listen, self._weight_socket = self._weight_socket, None
        self._weight_group = WeightGroup(backend, address, port, 0, world_size, timeout_s, listen_socket=listen)

    def weight_plan(self, bucket_mb: float, dtype: str) -> list[list[list[Any]]]:
        """The layout of this sync's buckets (the same on every rank; no gathering)."""
        return plan_to_wire(bucket_plan(self.bucketer, bucket_mb, dtype))

    def send_weights(self, bucket_mb: float, dtype: str) -> int:
        """Gather bucket by bucket (all ranks); rank 0 broadcasts each one. Returns the bytes sent (0 elsewhere)."""
        buckets = self.bucketer.gathered(int(bucket_mb * 2**20), dtype)
        if self.rank != 0:
            for _ in buckets:  # the other ranks' part of each ZeRO-3 gather
                pass
            return 0
        if self._weight_group is None:
            raise RuntimeError("learner[0]: no weight group (join_weight_group first)")
        group = self._weight_group
        return send_stream(group.broadcast, buckets, bucket_plan(self.bucketer, bucket_mb, dtype), group.device)


def bucket_plan(bucketer: WeightBucketer, bucket_mb: float, dtype: str) -> Plan:
    """This model's buckets of at most `bucket_mb` (a larger tensor alone), laid out; the same on every rank."""
    return [layout(entries, dtype) for entries in bucketer.shapes(int(bucket_mb * 2**20), dtype)]
