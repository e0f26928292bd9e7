"""Colocated placement on a real Ray cluster: a short GRPO run with two ranks each of learner, reference and rollout
on one shared placement group trains, and rank i of every colocated role ran in bundle i of that group."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pytest
import ray

from actors.runtime import Runtime
from algorithms import build_algorithm
from rlcore.cluster import WorkerGroup, reserve_placement
from rlcore.colocation import RoleShape, plan_colocated
from rlcore.metrics import read_metrics
from rlcore.placement import PlacementSection
from tests.conftest import tiny_run_config

pytestmark = pytest.mark.integration

COLOCATED = ("learner", "reference", "rollout")


def where_ray_placed(actor: Any) -> set[tuple[str, int]]:
    """(placement group id, bundle index) of the bundles Ray assigned the actor's resources from: its core worker's
    resource ids are named `CPU_group_<bundle>_<group id>` (no public API says which bundle an actor runs in)."""

    def resource_ids(worker: Any) -> list[str]:
        return list(ray._private.worker.global_worker.core_worker.resource_ids())

    names = ray.get(actor.__ray_call__.remote(resource_ids), timeout=60)
    matches = [re.fullmatch(r"CPU_group_(\d+)_(\w+)", name) for name in names]
    return {(match[2], int(match[1])) for match in matches if match}


def test_a_colocated_grpo_run_puts_rank_i_of_each_role_on_bundle_i(ray_cluster, tiny_model_path, tmp_path, monkeypatch):
    placed: dict[str, list[set[tuple[str, int]]]] = {}
    shared: list[str] = []
    shutdown = Runtime.shutdown

    def record_then_shutdown(runtime: Runtime) -> None:  # the run's real shutdown, after looking where actors ran
        if runtime.shared_placement and not placed:
            shared.append(runtime.shared_placement.id.hex())
            placed.update({name: [where_ray_placed(a) for a in group.actors] for name, group in runtime.groups.items()})
        shutdown(runtime)

    monkeypatch.setattr(Runtime, "shutdown", record_then_shutdown)
    config = tiny_run_config(
        tmp_path,
        tiny_model_path,
        "cluster.placement.mode=colocated",
        *(f"{role}.num_workers=2" for role in COLOCATED),
        "reference.enabled=true",
        "algorithm.kl_coef=0.01",
        "learner.lr=1e-3",
    )
    build_algorithm(config).run()

    (group,) = shared
    for role in COLOCATED:
        assert placed[role] == [{(group, 0)}, {(group, 1)}], role
    assert all(other != group for where in placed["reward"] for other, _ in where)  # not colocated: a group of its own
    row = read_metrics(tmp_path / "run" / "metrics.jsonl")[-1]
    assert row["step"] == 1 and row["train/grad_norm"] > 0 and row["train/kl_ref"] >= 0  # trained, with the reference
    assert ray.util.placement_group_table().get(group, {}).get("state") in (None, "REMOVED")  # released at the end


class Idle:
    remote_methods: ClassVar[tuple[str, ...]] = ("ready",)

    def __init__(self, rank: int, world_size: int):
        pass

    def ready(self) -> bool:
        return True


def test_groups_on_a_shared_placement_group_leave_it_to_its_owner(ray_cluster):
    """A group restarted on the shared group (as the learner after a rank died) finds it still there; the other
    colocated group keeps running; only its owner removes it."""
    plan = plan_colocated({role: RoleShape(2, 0.1, 0.0) for role in ("learner", "rollout")}, PlacementSection(), "PACK")
    shared = reserve_placement(plan.name, plan.shared, 60)
    try:
        rollout = WorkerGroup(
            "rollout", Idle, 2, shared=(shared, plan.roles["rollout"]), call_timeout_s=30, start_timeout_s=30
        )
        learner = WorkerGroup(
            "learner", Idle, 2, shared=(shared, plan.roles["learner"]), call_timeout_s=30, start_timeout_s=30
        )
        assert not learner.owns_placement and learner.placement_group.id == shared.id
        learner.shutdown()
        again = WorkerGroup(
            "learner", Idle, 2, shared=(shared, plan.roles["learner"]), call_timeout_s=30, start_timeout_s=30
        )
        assert again.broadcast("ready") == [True, True] and rollout.broadcast("ready") == [True, True]
        again.shutdown()
        rollout.shutdown()
        assert ray.util.placement_group_table(shared)["state"] == "CREATED"
    finally:
        ray.util.remove_placement_group(shared)
    assert ray.util.placement_group_table(shared)["state"] == "REMOVED"
