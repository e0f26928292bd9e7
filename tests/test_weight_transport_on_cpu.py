"""The collective weight transport end to end: two ZeRO-3 learner ranks, learner rank 0 broadcasting over gloo into
a vLLM engine, buckets smaller than the largest tensor, two syncs; the rollout worker killed between them, so the
second sync rebuilds the group with its replacement."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from rlcore.batch import Batch
from tests.test_fault_injection_on_cpu import pid_of
from tests.test_weight_sync_on_cpu import assert_greedy_matches_transformers

pytestmark = pytest.mark.integration

PROMPTS = [
    {
        "prompt": "Anna has 7 apples. She buys 5 more. How many apples does she have?\n",
        "answer": "12",
        "language": "en",
    },
    {"prompt": "Paul a 9 billes. Il en perd 4. Combien de billes a-t-il ?\n", "answer": "5", "language": "fr"},
]
GREEDY = {"temperature": 0.0, "max_tokens": 24}


def test_collective_sync_equals_object_store_sync(ray_cluster, tiny_model_path, tmp_path):
    from actors.runtime import Runtime
    from rlcore.weight_sync import sync_weights
    from tests.conftest import tiny_run_config

    config = tiny_run_config(
        tmp_path,
        tiny_model_path,
        "learner.lr=3e-3",
        "learner.num_workers=2",
        "learner.zero_stage=3",
        "learner.micro_batch_size=8",
        "weight_sync.transport=collective",
        "cluster.max_worker_restarts=1",
        "weight_sync.bucket_mb=0.1",  # < the 0.3 MB embedding: that tensor travels as a bucket of its own
    )
    runtime = Runtime(config, total_optimizer_steps=10)
    prompts = Batch.from_rows(PROMPTS)
    try:
        samples = runtime.generate(prompts, n=4, sampling={"temperature": 1.0})
        samples = samples.with_tensors(advantages=np.linspace(-1, 1, len(samples)).astype(np.float32))
        outputs, syncs = [], []
        for sync in range(2):  # the second sync reuses the group built by the first
            runtime.train(samples, "grpo", {})
            syncs.append(runtime.sync_weights())
            collective = runtime.generate(prompts, n=1, sampling=GREEDY)
            if sync == 1:
                runtime.save_checkpoint(tmp_path / "ckpt")
            # The same learner weights through the object store: the engine must compute exactly the same.
            learner, rollout = runtime.group("learner"), runtime.group("rollout")
            sync_weights(learner, rollout, config.weight_sync.bucket_mb, config.model.dtype, runtime.policy_version)
            outputs.append((collective, runtime.generate(prompts, n=1, sampling=GREEDY)))
            if sync == 0:
                os.kill(pid_of(rollout.actors[0]), signal.SIGKILL)  # Ray restarts it with its start-up weights
        builds = runtime.collective.builds if runtime.collective else 0
        restarts = runtime.take_restarts()
    finally:
        runtime.shutdown()

    assert builds == 2 and restarts == 1  # the replaced engine joined a rebuilt group
    for sync, (collective, object_store) in zip(syncs, outputs, strict=True):
        assert sync["sync/buckets"] > 3 and sync["sync/megabytes"] > 1
        assert collective["response_ids"] == object_store["response_ids"]
        np.testing.assert_array_equal(collective["rollout_logprobs"], object_store["rollout_logprobs"])  # bitwise
    assert outputs[0][0]["rollout_logprobs"].tolist() != outputs[1][0]["rollout_logprobs"].tolist()  # it moved
    assert_greedy_matches_transformers(outputs[1][0], tmp_path / "ckpt", max_new_tokens=24)
