"""Placement by config on a simulated three-node cluster (a loopback head and two worker nodes started with
`ray start`, with distinct custom resources, labels and declared GPUs): each role's workers land where
cluster.placement says, and a TP = 2 rollout engine's shards take the one-GPU bundles vLLM's Ray executor would.

The driver runs in its own process (`python -m tests.test_placement_on_cpu ADDRESS`), as this test session's
process may already be connected to another cluster; it places the groups through the real WorkerGroup with
plain, torch-free actors and prints where each landed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, ClassVar

import pytest

from tests.conftest import ROOT
from tests.local_cluster import LocalCluster, join

ROLES = ("rollout", "learner", "reference", "reward")
PLACEMENT = [
    "cluster.placement.rollout.resources={rollout_node: 1}",
    "cluster.placement.learner.resources={train_node: 1}",
    "cluster.placement.reference.labels={rlcore/pool: train}",
    "cluster.placement.reward.labels={rlcore/pool: '!in(rollout,train)'}",  # so: the head
    "rollout.num_workers=2",
    "rollout.tensor_parallel_size=2",
    "rollout.num_gpus=2",
    "learner.num_workers=2",
    *(f"{role}.num_cpus=0.25" for role in ROLES),
]


class Probe:
    """A worker that says where it runs, and starts its engine's shards as vLLM's Ray executor does."""

    remote_methods: ClassVar[tuple[str, ...]] = ("ready", "where", "shards")

    def __init__(self, rank: int, world_size: int):
        self.rank = rank

    def ready(self) -> bool:
        return True

    def where(self) -> dict[str, Any]:
        import ray

        group = ray.util.get_current_placement_group()  # what vLLM's engine finds in its actor
        return {
            "node": ray.get_runtime_context().get_node_id(),
            "placement_group": group.id.hex() if group else None,
            "engine_bundles": os.environ.get("VLLM_RAY_BUNDLE_INDICES"),
        }

    def shards(self) -> list[dict[str, Any]]:
        """One actor per bundle of VLLM_RAY_BUNDLE_INDICES, with vLLM's options (num_cpus=0, num_gpus=1)."""
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        @ray.remote(num_cpus=0, num_gpus=1)
        class Shard:
            def where(self) -> dict[str, Any]:
                return {"node": ray.get_runtime_context().get_node_id(), "gpus": ray.get_gpu_ids()}

        group = ray.util.get_current_placement_group()
        indices = [int(index) for index in os.environ["VLLM_RAY_BUNDLE_INDICES"].split(",")]
        shards = [
            Shard.options(
                scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=i)
            ).remote()
            for i in indices
        ]
        return ray.get([shard.where.remote() for shard in shards], timeout=60)


def drive(address: str, nodes: int) -> dict[str, Any]:
    """Join the cluster, place every role by the config, and report where each actor (and shard) landed."""
    import ray

    from actors.runtime import placement_options
    from rlcore.cluster import WorkerGroup
    from rlcore.config import load_config

    join(address, nodes)
    config = load_config(None, PLACEMENT)
    report: dict[str, Any] = {"nodes": {n["NodeID"]: n for n in ray.nodes() if n["Alive"]}}
    for role in ROLES:
        section = getattr(config, role)
        options = placement_options(config, role, section)
        group = WorkerGroup(role, Probe, section.num_workers, start_timeout_s=60, call_timeout_s=60, **options)
        report[role] = {
            "actors": group.broadcast("where"),
            "placement_group": group.placement_group.id.hex(),
            "bundles_to_node": ray.util.placement_group_table(group.placement_group)["bundles_to_node_id"],
        }
        if options["tensor_parallel_size"] > 1:
            report[role]["shards"] = group.broadcast("shards")
    ray.shutdown()
    return report


# A simulated node's raylet can die at start-up when its runtime-env agent fails to come up (a port taken between
# free_port() and `ray start` on a loaded machine): an accident of the simulation, so the cluster is built again once.
AGENT_FAILED = "The raylet exited immediately because one Ray agent failed"


def placed_on_a_fresh_cluster() -> dict[str, Any]:
    """Start the three nodes and run the driver; its report, or the failure with every node's log."""
    cluster = LocalCluster()
    try:
        cluster.head(num_cpus=1, labels={"rlcore/pool": "head"})
        cluster.node("rollout", 2, num_gpus=4, resources={"rollout_node": 100}, labels={"rlcore/pool": "rollout"})
        cluster.node("train", 2, resources={"train_node": 100}, labels={"rlcore/pool": "train"})
        env = {**cluster.env, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "tests.test_placement_on_cpu", cluster.address, "3"]
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=150)
        assert done.returncode == 0, f"{done.stderr[-3000:]}\n{cluster.logs()}"
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        cluster.stop()


@pytest.mark.integration
def test_each_role_lands_on_the_nodes_its_placement_names():
    try:
        report = placed_on_a_fresh_cluster()
    except AssertionError as error:
        if AGENT_FAILED not in str(error):
            raise
        report = placed_on_a_fresh_cluster()
    pool = {node_id: node["Labels"]["rlcore/pool"] for node_id, node in report["nodes"].items()}
    assert sorted(pool.values()) == ["head", "rollout", "train"]
    assert {node["NodeManagerAddress"] for node in report["nodes"].values()} == {"127.0.0.1"}  # loopback only
    expected = {"rollout": "rollout", "learner": "train", "reference": "train", "reward": "head"}
    for role, node in expected.items():
        placed = report[role]
        assert [pool[actor["node"]] for actor in placed["actors"]] == [node] * len(placed["actors"]), role
        assert {pool[n] for n in placed["bundles_to_node"].values()} == {node}, role
        assert {actor["placement_group"] for actor in placed["actors"]} == {placed["placement_group"]}, role
    # The TP = 2 engines: each actor names its own two one-GPU bundles, and its shards run there on distinct GPUs.
    rollout = report["rollout"]
    assert [actor["engine_bundles"] for actor in rollout["actors"]] == ["1,2", "4,5"]
    shards = [shard for engine in rollout["shards"] for shard in engine]
    assert {pool[shard["node"]] for shard in shards} == {"rollout"}
    assert sorted(gpu for shard in shards for gpu in shard["gpus"]) == [0, 1, 2, 3]
    assert [actor["engine_bundles"] for actor in report["learner"]["actors"]] == [None, None]


if __name__ == "__main__":  # the driver, in its own process
    print(json.dumps(drive(sys.argv[1], int(sys.argv[2])), default=str), flush=True)
