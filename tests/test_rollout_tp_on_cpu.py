"""A tensor-parallel (TP = 2) vLLM rollout engine on CPU, placed by WorkerGroup as the Runtime places it: its greedy
tokens and log-probabilities are transformers' on the same model."""

from __future__ import annotations

import pytest

from rlcore.batch import Batch
from tests.test_weight_sync_on_cpu import assert_greedy_matches_transformers

pytestmark = pytest.mark.integration


def test_a_tp_2_engine_on_cpu_generates_what_transformers_does(ray_cluster, tiny_model_path):
    from actors.rollout import RolloutWorker, rollout_env
    from actors.runtime import placement_options
    from rlcore.cluster import WorkerGroup, actor_env
    from rlcore.config import load_config

    config = load_config(None, ["rollout.tensor_parallel_size=2", "rollout.temperature=0", "rollout.max_tokens=16"])
    rollout = config.rollout
    group = WorkerGroup(
        "rollout",
        RolloutWorker,
        1,
        env=actor_env(1, rollout_env(rollout)),
        init_kwargs={"model_path": tiny_model_path, "rollout": rollout.model_dump(), "dtype": "float32", "seed": 0},
        start_timeout_s=600,
        call_timeout_s=600,
        **placement_options(config, "rollout", rollout),
    )
    try:
        prompts = ["Tom has 3 apples and gets 4 more. How many apples does Tom have?\n", "What is 7 - 2?\n"]
        samples = group.call("generate", Batch(columns={"prompt": prompts}), n=1, seed=0)
    finally:
        group.shutdown()
    assert group.plan.bundles == [{"CPU": 1.0}]  # on CPU the shards are vLLM's own processes in the actor's bundle
    assert all(len(ids) > 0 for ids in samples["response_ids"])
    assert_greedy_matches_transformers(samples, tiny_model_path, max_new_tokens=16)
