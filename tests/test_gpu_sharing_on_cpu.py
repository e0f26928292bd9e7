"""Colocated GPU sharing's schedule, on real Ray worker groups of actors that record what they are asked (sleeping a
vLLM engine or offloading DeepSpeed state needs a GPU, which this machine has not): the engines sleep once before
training, wake only their weights for a sync and everything to generate, and the learner offloads before each
generation."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from actors.gpu_sharing import GpuSharing
from rlcore.cluster import WorkerGroup
from rlcore.colocation import colocated_plan
from rlcore.config import load_config

pytestmark = pytest.mark.integration

GPU_COLOCATED = [
    "cluster.placement.mode=colocated",
    "rollout.num_gpus=0.5",
    "learner.num_gpus=0.5",
    "learner.zero_stage=3",
]


class Journal:
    """Records each call with its arguments."""

    remote_methods: ClassVar[tuple[str, ...]] = ("ready", "sleep", "wake_up", "offload_states", "calls")

    def __init__(self, rank: int, world_size: int):
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def ready(self) -> bool:
        return True

    def sleep(self) -> None:
        self.seen.append(("sleep", {}))

    def wake_up(self, tags: list[str] | None = None) -> None:
        self.seen.append(("wake_up", {"tags": tags}))

    def offload_states(self) -> None:
        self.seen.append(("offload_states", {}))

    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        return self.seen


@pytest.fixture
def groups(ray_cluster):
    started = {role: WorkerGroup(role, Journal, 2, num_cpus=0.1, call_timeout_s=30) for role in ("rollout", "learner")}
    yield started
    for group in started.values():
        group.shutdown()


def sharing(groups: dict[str, WorkerGroup], *overrides: str) -> GpuSharing:
    config = load_config(None, [*GPU_COLOCATED, *overrides])
    return GpuSharing(config, colocated_plan(config, ["rollout", "learner"]), groups)


def calls(group: WorkerGroup) -> list[tuple[str, dict[str, Any]]]:
    first, second = group.broadcast("calls")
    assert first == second  # every rank is told the same
    return first


def test_engines_sleep_for_training_and_wake_weights_for_a_sync(groups):
    gpu = sharing(groups, "rollout.sleep_level=1", "learner.offload_during_generation=true")
    refills: list[int] = []
    for _ in range(2):  # two steps: generate, reference and learner, sync
        gpu.for_generation(refill=lambda: refills.append(1))
        gpu.for_training()
        gpu.for_training()  # the learner after the reference: asleep already
        gpu.for_sync()
        gpu.synced()
    gpu.for_generation(refill=lambda: refills.append(1))
    step = [("sleep", {}), ("wake_up", {"tags": ["weights"]}), ("wake_up", {"tags": None})]
    assert calls(groups["rollout"]) == step * 2 and refills == []
    assert calls(groups["learner"]) == [("offload_states", {})] * 3


def test_a_level_2_sleep_without_a_sync_is_refilled_before_generating(groups):
    gpu = sharing(groups, "rollout.sleep_level=2")
    refilled: list[int] = []

    def refill() -> None:  # as the runtime's: a weight sync, which wakes the weights first
        gpu.for_sync()
        gpu.synced()
        refilled.append(1)

    gpu.for_training()
    gpu.for_generation(refill=refill)
    gpu.for_training()
    gpu.for_sync()
    gpu.synced()
    gpu.for_generation(refill=refill)
    assert refilled == [1]  # only the first wake had no sync before it
    assert (
        calls(groups["rollout"]) == [("sleep", {}), ("wake_up", {"tags": ["weights"]}), ("wake_up", {"tags": None})] * 2
    )
    assert calls(groups["learner"]) == []  # learner.offload_during_generation is off


def test_without_the_settings_or_colocation_nothing_is_asked(groups):
    gpu = sharing(groups)
    gpu.for_training()
    gpu.for_generation(refill=lambda: None)
    assert not gpu.active and calls(groups["rollout"]) == [] and calls(groups["learner"]) == []
