"""The collective and ipc weight transports end to end: two ZeRO-3 learner ranks, learner rank 0 broadcasting over gloo
into a vLLM engine, buckets smaller than the largest tensor, two syncs; the rollout worker killed between them, so the
second sync rebuilds the group with its replacement. On the same workers, an ipc sync (/dev/shm) loads what the object
store loads, and neither it nor a failed one leaves a segment behind."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from rlcore.batch import Batch
from rlcore.cluster import WorkerError
from rlcore.weight_ipc import leftover_segments
from rlcore.weight_sync import IpcSync, sync_weights
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


def test_collective_and_ipc_syncs_equal_object_store_sync(ray_cluster, tiny_model_path, tmp_path, monkeypatch):
    from actors.runtime import Runtime
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
                ipc = check_ipc_sync(runtime, prompts, outputs[0][1], monkeypatch)
                os.kill(pid_of(rollout.actors[0]), signal.SIGKILL)  # Ray restarts it with its start-up weights
        builds = runtime.collective.builds if runtime.collective else 0
        restarts = runtime.take_restarts()
    finally:
        runtime.shutdown()

    assert builds == 2 and restarts == 1  # the replaced engine joined a rebuilt group
    assert ipc["sync/buckets"] > 3 and ipc["sync/megabytes"] > 1
    for sync, (collective, object_store) in zip(syncs, outputs, strict=True):
        assert sync["sync/buckets"] > 3 and sync["sync/megabytes"] > 1
        assert collective["response_ids"] == object_store["response_ids"]
        np.testing.assert_array_equal(collective["rollout_logprobs"], object_store["rollout_logprobs"])  # bitwise
    assert outputs[0][0]["rollout_logprobs"].tolist() != outputs[1][0]["rollout_logprobs"].tolist()  # it moved
    assert_greedy_matches_transformers(outputs[1][0], tmp_path / "ckpt", max_new_tokens=24)


def check_ipc_sync(runtime, prompts: Batch, object_store: Batch, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The learner's weights through /dev/shm load what the object store loaded (bitwise); a sync whose segment
    vanished before the engine opened it fails without touching the engine; neither leaves a segment."""
    segments_before = leftover_segments()
    learner, rollout, config = runtime.group("learner"), runtime.group("rollout"), runtime.config
    args = (config.weight_sync.bucket_mb, config.model.dtype, runtime.policy_version)
    stats = IpcSync().sync(learner, rollout, *args)
    ipc = runtime.generate(prompts, n=1, sampling=GREEDY)
    assert ipc["response_ids"] == object_store["response_ids"]
    np.testing.assert_array_equal(ipc["rollout_logprobs"], object_store["rollout_logprobs"])
    assert leftover_segments() == segments_before

    share = learner.call_each

    def share_then_lose_a_segment(method, per_rank_kwargs, **options):
        shared = share(method, per_rank_kwargs, **options)
        os.unlink(shared[0][-1]["handle"]["path"])  # e.g. a /dev/shm cleaner ran
        return shared

    with monkeypatch.context() as patch:
        patch.setattr(learner, "call_each", share_then_lose_a_segment)
        with pytest.raises(WorkerError, match=r"rollout\[0\]\.load_shared_weights raised"):
            IpcSync().sync(learner, rollout, *args)
    assert leftover_segments() == segments_before
    intact = runtime.generate(prompts, n=1, sampling=GREEDY)
    np.testing.assert_array_equal(intact["rollout_logprobs"], object_store["rollout_logprobs"])
    return stats.metrics()
