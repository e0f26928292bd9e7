"""One-step-off asynchronous GRPO (rollout.async_steps: 1) on the session's Ray cluster with vLLM and DeepSpeed."""

from __future__ import annotations

import shutil

import pytest

from algorithms import build_algorithm
from rlcore.checkpoint import CheckpointManager
from rlcore.metrics import read_metrics
from tests.conftest import tiny_run_config

pytestmark = pytest.mark.integration


def test_one_step_off_grpo_trains_on_the_previous_policy_and_resumes_by_restarting_the_pipeline(
    ray_cluster, tiny_model_path, tmp_path
):
    """Step 1 samples policy 0 and starts step 2's generation before training, so step 2 trains policy-0 samples
    with the learner at version 1; step 3's generation starts after sync 1. Every step trains all of its samples,
    weighted by min(π_old/π_behaviour, C); a checkpoint does not count the prompts still in flight, and a resume
    draws them again and generates them with the checkpoint's policy."""
    overrides = ("algorithm.steps=3", "rollout.async_steps=1", "checkpoint.every_steps=2", "learner.lr=1e-3")
    config = tiny_run_config(tmp_path, tiny_model_path, *overrides)
    build_algorithm(config).run()
    rows = read_metrics(config.run_dir / "metrics.jsonl")
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert [row["rollout/policy_version"] for row in rows] == [0, 0, 1]  # version max(t - 2, 0) at step t
    assert [row["rollout/staleness_max"] for row in rows] == [0, 1, 1]
    assert [row["rollout/staleness_mean"] for row in rows] == [0, 1, 1]
    assert all(row["rollout/samples"] == 8 * 4 for row in rows)  # prompts × group, none lost
    first, second, _ = rows
    assert first["train/rollout_logprob_gap"] < 1e-4  # on-policy: vLLM's log-probs are the learner's
    assert second["train/rollout_logprob_gap"] > 10 * first["train/rollout_logprob_gap"]  # a policy behind
    assert first["train/is_weight"] == pytest.approx(1, abs=1e-4) and second["train/is_weight"] != 1
    assert 0 <= second["train/is_truncated"] < 1 and "sync/rollout_wait_s" in second
    checkpoints = config.run_dir / "checkpoints"
    at_2 = CheckpointManager.trainer_state(checkpoints / "step_2")
    assert at_2["sampler"]["index"] == 2 * 8 and at_2["policy_version"] == 2  # step 3's prompts were in flight
    assert CheckpointManager.trainer_state(checkpoints / "step_3")["sampler"]["index"] == 3 * 8

    shutil.rmtree(checkpoints / "step_3")  # resume from step 2 with step 3's generation lost with the driver
    resumed = tiny_run_config(tmp_path, tiny_model_path, *overrides, "run.resume=true")
    build_algorithm(resumed).run()
    again = read_metrics(config.run_dir / "metrics.jsonl")
    assert [row["step"] for row in again] == [1, 2, 3]
    assert again[2]["rollout/policy_version"] == 2 and again[2]["rollout/staleness_max"] == 0  # generated anew
    assert again[2]["rollout/samples"] == 8 * 4
    assert CheckpointManager.trainer_state(checkpoints / "step_3")["sampler"]["index"] == 3 * 8  # none skipped
