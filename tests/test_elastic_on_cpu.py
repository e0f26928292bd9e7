"""Elastic rollout on a real Ray cluster: a short GRPO run whose rollout group grows and shrinks between steps."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import ray
from ray.util import placement_group_table

import rlcore.elastic
from algorithms import build_algorithm
from rlcore.batch import Batch
from rlcore.cluster import Worker, WorkerGroup
from rlcore.elastic import grow, shrink
from rlcore.metrics import read_metrics
from tests.conftest import tiny_run_config

pytestmark = pytest.mark.integration
PROMPTS, GROUP = 4, 4
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Ranked(Worker):
    remote_methods = ("rank_of",)

    def rank_of(self, batch: Batch) -> Batch:
        return Batch(tensors={"x": batch["x"]}, columns={"rank": [self.rank] * len(batch)})


def test_group_grows_on_a_new_placement_group_and_shrinks_back(ray_cluster, caplog):
    """Added ranks come after the others, are brought up before use and take a share of the next call; removing them
    removes their placement group; a scale-up that cannot be placed in time is skipped, with a warning."""
    brought_up: list[int] = []

    def bring_up(rank: int) -> str:
        brought_up.append(rank)
        return "caught up"

    group = WorkerGroup("ranked", Ranked, 1, num_cpus=6, call_timeout_s=30, start_timeout_s=60)
    try:
        assert grow(group, 1, bring_up=bring_up) == 1
        assert brought_up == [1] and len(group) == 2
        added = group.rank_groups[1]
        assert added.id != group.placement_group.id and added.bundle_specs == [{"CPU": 6.0}]
        assert requested() == [{"CPU": 6.0}] * 2  # no autoscaler here: the request is only stored
        result = group.call("rank_of", Batch(tensors={"x": np.arange(6)}))
        assert result["x"].tolist() == list(range(6)) and result["rank"] == [0, 0, 0, 1, 1, 1]
        group.start_timeout_s = 2
        with caplog.at_level("WARNING", logger="rlcore.elastic"):
            assert grow(group, 1) == 0  # 3 x 6 CPUs on this 16-CPU cluster: never placed within 2 s
        assert "not scaled up to 3 workers, stays at 2" in caplog.text and len(group) == 2
        assert shrink(group, 5, min_workers=1) == 1 and len(group) == 1
        assert placement_group_table(added)["state"] == "REMOVED" and requested() == [{"CPU": 6.0}]
        assert group.call("rank_of", Batch(tensors={"x": np.arange(3)}))["rank"] == [0, 0, 0]
    finally:
        group.shutdown()


def test_rollout_workers_scale_up_then_down_without_losing_a_sample(
    ray_cluster, tiny_model_path, tmp_path, monkeypatch, caplog
):
    """Three steps with autoscaling between 1 and 2 workers. Generation's share of the step is scripted (90% after
    step 1, 10% after step 2; tests/test_elastic.py checks how it is read from real timings) so that the policy must
    add a worker after step 1 and remove it after step 2: step 2 generates on two workers, the added one brought to
    policy version 1 first, and every step trains on all its samples."""
    shares = iter([0.9, 0.1])
    monkeypatch.setattr(rlcore.elastic, "generation_share", lambda metrics: next(shares))
    config = tiny_run_config(
        tmp_path,
        tiny_model_path,
        "algorithm.steps=3",
        f"algorithm.prompts_per_step={PROMPTS}",
        f"algorithm.group_size={GROUP}",
        "rollout.max_tokens=24",
        "rollout.autoscale.enabled=true",
        "rollout.autoscale.max_workers=2",
        "rollout.autoscale.cooldown_steps=0",
    )
    with caplog.at_level("INFO"):
        build_algorithm(config).run()

    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [row["rollout/workers"] for row in rows] == [1, 2, 1]
    assert [row["rollout/samples"] for row in rows] == [PROMPTS * GROUP] * 3  # none lost or duplicated
    # A batch's policy version is its last shard's: at step 2 the added worker's (rank 1), synced after step 1.
    assert [row["rollout/policy_version"] for row in rows] == [0, 1, 2]
    assert rows[1]["time/scale_s"] > 0 and rows[2]["time/scale_s"] > 0  # the resizes, between steps
    assert "rollout: scaled up from 1 to 2 workers (weights of policy version 1 re-sent)" in caplog.text
    assert "rollout: scaled down from 2 to 1 workers" in caplog.text
    assert "could not ask Ray's autoscaler" not in caplog.text  # the request is harmless without an autoscaler


def requested() -> list[dict[str, float]]:
    """The bundles last asked of Ray's autoscaler: without an autoscaler (v1 mode, Ray's default) `request_resources`
    only stores them in the GCS's key-value store."""
    from ray._private.ray_constants import AUTOSCALER_RESOURCE_REQUEST_CHANNEL
    from ray.experimental.internal_kv import _internal_kv_get

    return json.loads(_internal_kv_get(AUTOSCALER_RESOURCE_REQUEST_CHANNEL))
