"""vLLM worker extension: loads weight buckets into the running engine in place, and re-seeds its sampling RNG.

Named by `worker_extension_cls` when the engine is built; its methods run inside vLLM's worker and are reached
through `LLM.collective_rpc`. Weights arrive as safetensors bytes (object-store transport), as flat buffers
broadcast over the weight group (collective transport, rlcore.weight_transport) or as handles of buffers the
learner shares on this node (ipc transport, rlcore.weight_ipc); never as pickled objects.

Buckets are staged and then loaded by one `reload_weights` pass: vLLM reloads layer by layer, and a fused layer
(qkv, gate/up) whose parts arrived in different passes would be rebuilt from a partial set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch
from safetensors.torch import load

from rlcore.weight_ipc import shared_tensors
from rlcore.weight_transport import Backend, WeightGroup, engine_receiver, plan_from_wire


class WeightReceiver:
    """Mixed into vLLM's worker class, which provides `reload_weights` and `model_runner`."""

    reload_weights: Callable[..., Any]
    model_runner: Any
    _rlcore_staged: list[bytes]
    _rlcore_group: WeightGroup | None = None

    def rlcore_stage_weights(self, payload: bytes) -> int:
        if not hasattr(self, "_rlcore_staged"):
            self._rlcore_staged = []
        self._rlcore_staged.append(payload)
        return len(payload)

    def rlcore_commit_weights(self) -> int:
        staged, self._rlcore_staged = getattr(self, "_rlcore_staged", []), []

        def tensors() -> Iterator[tuple[str, torch.Tensor]]:
            for payload in staged:  # deserialized one bucket at a time
                yield from load(payload).items()

        self._rlcore_reload(tensors())
        return len(staged)

    def rlcore_join_weight_group(
        self, address: str, port: int, rank: int, world_size: int, backend: Backend, timeout_s: float
    ) -> None:
        """Join the learner's weight group as `rank` (the engine's first tensor-parallel worker only: the others get
        each bucket from it), leaving the group of an earlier build."""
        from vllm.distributed.parallel_state import get_pp_group, get_tp_group

        if get_pp_group().world_size > 1:
            raise ValueError(
                "weight_sync.transport: collective reaches tensor-parallel engines only; this engine is pipeline-"
                "parallel (started outside rlcore's rollout settings): use weight_sync.transport: object_store"
            )
        if self._rlcore_group is not None:
            self._rlcore_group.close()
            self._rlcore_group = None
        if get_tp_group().rank_in_group == 0:
            self._rlcore_group = WeightGroup(backend, address, port, rank, world_size, timeout_s)

    def rlcore_receive_weights(self, plan: list[Any], load: bool = True) -> int:
        """Load this sync's broadcast buckets in place; bucket i+1 arrives while bucket i is loaded. With `load` off
        the buckets are received and dropped (benchmarks/weight_sync_throughput.py: the transport alone)."""
        from vllm.distributed.parallel_state import get_tp_group

        buckets = plan_from_wire(plan)
        device = self._rlcore_group.device if self._rlcore_group else torch.device(self.model_runner.device)
        tensors = engine_receiver(self._rlcore_group, buckets, device, get_tp_group())
        if load:
            self._rlcore_reload(tensors)
        else:
            for _ in tensors:
                pass
        return sum(slot.nbytes for slots in buckets for slot in slots)

    def rlcore_load_shared_weights(self, buckets: list[dict[str, Any]]) -> int:
        """Load the buckets the learner shares (ipc transport) in place from views of its buffers; every tensor-
        parallel worker opens the same buffers. Returns only once the loads are done, so the learner may free them."""
        device = torch.device(self.model_runner.device)
        self._rlcore_reload(shared_tensors(buckets, device))
        if device.type == "cuda":
            torch.cuda.current_stream(device).synchronize()  # the copies out of the learner's memory are finished
        return sum(slot[4] for bucket in buckets for slot in bucket["slots"])  # each slot's nbytes

    def _rlcore_reload(self, tensors: Iterator[tuple[str, torch.Tensor]]) -> None:
        """One in-place reload pass over `tensors`, then the tied head re-tied."""
        # Its "RotaryEmbedding/ParallelLMHead: Failed to load weights" warnings are expected: rotary has no
        # weights, and the tied head is re-tied below.
        logging.getLogger("vllm.model_executor.model_loader.reload.layerwise").setLevel(logging.ERROR)
        self.reload_weights(weights_iterator=tensors)
        self._rlcore_retie_embeddings()

    def rlcore_seed_sampling(self, seed: int) -> None:
        """Seed the RNG that samples requests without a seed of their own: vLLM's V1 sampler draws from the torch
        default generator (on CPU the per-row seeds of its Gumbel-max kernel, on GPUs the exponential noise)."""
        torch.manual_seed(seed)

    def _rlcore_retie_embeddings(self) -> None:
        """A tied lm_head gets no weights of its own, so the layerwise reload restores its old tensors (and on CPU
        its prepacked GEMM); point it at the new embedding and redo its post-load processing."""
        model = self.model_runner.get_model()
        config = getattr(model, "config", None)
        if getattr(config, "tie_word_embeddings", False) and hasattr(model, "lm_head"):
            model.lm_head.weight = model.model.embed_tokens.weight
            model.lm_head.quant_method.process_weights_after_loading(model.lm_head)
