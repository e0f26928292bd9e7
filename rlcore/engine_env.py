"""The process environment of a vLLM engine (a rollout worker's, or a model reward's inside a reward worker)."""

from __future__ import annotations

import os


def vllm_env(on_gpu: bool, kv_cache_gib: float, tensor_parallel_size: int = 1) -> dict[str, str]:
    """On CPU the engine runs in-process (2 s start instead of 15 s) with a bounded KV cache; GPUs need nothing."""
    if on_gpu:
        return {}
    env = {
        "VLLM_CPU_KVCACHE_SPACE": str(max(1, round(kv_cache_gib))),
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "VLLM_LOGGING_LEVEL": "WARNING",
    }
    if tensor_parallel_size > 1:
        # vLLM binds each CPU shard's threads to a NUMA node of its own and refuses on a machine with fewer NUMA nodes
        # than shards (a one-node machine); unbound, the OS schedules them. A setting of the user's own is kept.
        env["VLLM_CPU_OMP_THREADS_BIND"] = os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    return env
