"""vLLM worker extension: loads serialized weight buckets into the running engine in place.

Named by `worker_extension_cls` when the engine is built; its methods run inside vLLM's worker and are reached
through `LLM.collective_rpc`. Payloads are safetensors bytes, never pickled objects.
"""
from __future__ import annotations

from safetensors.torch import load


class WeightReceiver:
    def rlcore_load_weights(self, payload: bytes) -> int:
        tensors = load(payload)
        self.reload_weights(weights_iterator=iter(tensors.items()))
        return len(tensors)
