"""Colocated placement (`cluster.placement.mode: colocated`): rank i of learner, reference and rollout (the roles in
`cluster.placement.colocate`) share bundle i of one placement group, sized for what those ranks ask for together.

Pure: no Ray import. The runtime reserves the shared group from `ColocatedPlan.shared` and starts each role's group
on it with that role's plan (its actors' own CPUs, GPU fraction and custom resources in the shared bundles)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rlcore.config import ConfigError, RunConfig
from rlcore.placement import GroupPlan, PlacementSection, RolePlacement, Strategy

# Float sums of GPU fractions (0.4 + 0.4 + 0.2) may exceed 1 by rounding.
_GPU_SLACK = 1e-6


@dataclass(frozen=True)
class RoleShape:
    """What each worker of one role asks for (its config section's sizes)."""

    num_workers: int
    num_cpus: float
    num_gpus: float
    tensor_parallel_size: int = 1


@dataclass(frozen=True)
class ColocatedPlan:
    roles: dict[str, GroupPlan]  # per colocated role: the shared bundles, its actor of rank i on bundle i

    @property
    def name(self) -> str:
        """`learner+reference+rollout`, the shared group's name in messages."""
        return "+".join(self.roles)

    @property
    def shared(self) -> GroupPlan:
        """The plan the shared placement group is reserved from (every role's plan has the same bundles)."""
        return next(iter(self.roles.values()))


def colocated_plan(config: RunConfig, roles: Iterable[str]) -> ColocatedPlan | None:
    """The shared placement of the colocated roles among `roles` (those the run starts); None in mode separate or
    when fewer than two of them run. What cannot colocate is a ConfigError, raised before any worker starts."""
    placement = config.cluster.placement
    _check_gpu_sharing(config)
    _check_ipc_placement(config)
    started = [role for role in placement.colocate if role in set(roles)]
    if placement.mode != "colocated" or len(started) < 2:
        return None
    if "rollout" in started and config.rollout.autoscale.enabled:
        raise ConfigError(
            "rollout.autoscale resizes the rollout group between steps, which colocated placement's fixed shared "
            "bundles cannot follow: turn off rollout.autoscale.enabled or use cluster.placement.mode separate"
        )
    shapes: dict[str, RoleShape] = {role: role_shape(config, role) for role in started}
    on_gpus = {role for role, shape in shapes.items() if shape.num_gpus}
    if {"learner", "rollout"} <= on_gpus and config.weight_sync.transport == "collective":
        raise ConfigError(
            "weight_sync.transport collective: learner rank 0 and the engine colocated with it share one GPU, and "
            "NCCL joins no two ranks on one GPU; use weight_sync.transport ipc (CUDA IPC between each learner rank "
            "and the engine on its GPU) or object_store, or cluster.placement.mode separate"
        )
    try:
        return plan_colocated(shapes, placement, config.cluster.placement_strategy)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _check_ipc_placement(config: RunConfig) -> None:
    """On GPUs, weight_sync.transport ipc shares each learner rank's memory with the engine on its GPU by CUDA IPC
    handles: learner rank i and rollout engine i must share bundle i (on CPU any placement on one node works)."""
    if config.weight_sync.transport != "ipc":
        return
    learner_gpus, rollout_gpus = config.learner.num_gpus > 0, config.rollout.num_gpus > 0
    if learner_gpus != rollout_gpus:
        raise ConfigError(
            "weight_sync.transport ipc shares the learner's weight buffers with the engines in place, so both must be "
            f"on the same kind of device (learner.num_gpus {config.learner.num_gpus}, rollout.num_gpus "
            f"{config.rollout.num_gpus}); use weight_sync.transport collective or object_store"
        )
    placement = config.cluster.placement
    if learner_gpus and not (placement.mode == "colocated" and {"learner", "rollout"} <= set(placement.colocate)):
        raise ConfigError(
            "weight_sync.transport ipc on GPUs passes CUDA IPC handles from learner rank i to the engine on the same "
            "GPU, which needs cluster.placement.mode: colocated with learner and rollout in cluster.placement.colocate "
            "(rank i of each on bundle i); with separate placement use weight_sync.transport collective"
        )


def _check_gpu_sharing(config: RunConfig) -> None:
    """Sleeping engines and offloaded optimizer state free GPU memory for the roles colocated with them, so they need
    colocation (a run that starts only some roles, e.g. an evaluation, then just skips them)."""
    placement = config.cluster.placement
    shared = set(placement.colocate) if placement.mode == "colocated" else set()
    if config.rollout.sleep_level and "rollout" not in shared:
        raise ConfigError(
            "rollout.sleep_level frees the engines' GPU memory for the roles colocated with them: it needs "
            "cluster.placement.mode colocated with rollout in cluster.placement.colocate"
        )
    if config.learner.offload_during_generation and not {"learner", "rollout"} <= shared:
        raise ConfigError(
            "learner.offload_during_generation frees the learner's GPU memory for the engines colocated with it: it "
            "needs cluster.placement.mode colocated with learner and rollout in cluster.placement.colocate"
        )


def role_shape(config: RunConfig, role: str) -> RoleShape:
    """The sizes of `role`'s workers from its config section."""
    section = getattr(config, role)
    tensor_parallel = section.tensor_parallel_size if role == "rollout" else 1
    return RoleShape(section.num_workers, section.num_cpus, section.num_gpus, tensor_parallel)


def plan_colocated(shapes: Mapping[str, RoleShape], placement: PlacementSection, strategy: Strategy) -> ColocatedPlan:
    """One bundle per rank holding every colocated role's rank: CPUs and custom resources summed, one whole GPU when
    any role asks for GPUs (their fractions must fit in it). A ValueError names the settings that cannot colocate."""
    roles = sorted(shapes)
    if len(roles) < 2:
        raise ValueError(f"cluster.placement.mode colocated needs two or more of its roles running, got {roles}")
    counts = {role: shapes[role].num_workers for role in roles}
    if len(set(counts.values())) > 1:
        raise ValueError(
            f"cluster.placement.mode colocated puts rank i of {', '.join(roles)} on bundle i of one placement group: "
            f"their num_workers must be equal, got {_listed(counts)}"
        )
    for role in roles:
        if shapes[role].tensor_parallel_size > 1 and shapes[role].num_gpus > 0:
            raise ValueError(
                f"cluster.placement.mode colocated: {role}.tensor_parallel_size {shapes[role].tensor_parallel_size} "
                f"on GPUs needs one-GPU bundles of its own for the engine's shards, which colocation does not build; "
                f"use tensor_parallel_size 1 or mode separate"
            )
    gpus = {role: shapes[role].num_gpus for role in roles}
    if sum(gpus.values()) > 1 + _GPU_SLACK:
        raise ValueError(
            f"cluster.placement.mode colocated shares one GPU per bundle: the colocated roles' num_gpus must add up "
            f"to at most 1 (e.g. learner 0.4, rollout 0.4, reference 0.2), got {_listed(gpus)}"
        )
    where = {role: placement.of(role) for role in roles}
    bundle: dict[str, float] = {"CPU": sum(shapes[role].num_cpus for role in roles)}
    if any(gpus.values()):
        bundle["GPU"] = float(math.ceil(sum(gpus.values()) - _GPU_SLACK))  # the whole GPU: no other group takes it
    for role in roles:
        for key, amount in where[role].resources.items():
            bundle[key] = bundle.get(key, 0.0) + amount
    labels = _one_setting(where, "labels", {})
    count = counts[roles[0]]
    return ColocatedPlan(
        roles={
            role: GroupPlan(
                bundles=[dict(bundle) for _ in range(count)],
                label_selector=[dict(labels) for _ in range(count)] if labels else None,
                strategy=_one_setting(where, "strategy", None) or strategy,
                actor_bundles=list(range(count)),
                engine_bundles=[[] for _ in range(count)],
                actor_cpus=shapes[role].num_cpus,
                actor_gpus=shapes[role].num_gpus,
                actor_resources=dict(where[role].resources),
            )
            for role in roles
        }
    )


def _one_setting(where: Mapping[str, RolePlacement], key: str, unset: Any) -> Any:
    """The `key` of cluster.placement.<role> that the colocated roles agree on (roles leaving it unset agree)."""
    values = {role: getattr(place, key) for role, place in where.items() if getattr(place, key) != unset}
    if len({repr(value) for value in values.values()}) > 1:
        raise ValueError(
            f"cluster.placement.mode colocated: the colocated roles share one placement group, so their "
            f"cluster.placement.<role>.{key} must agree, got {_listed(values)}"
        )
    return next(iter(values.values()), unset)


def _listed(values: Mapping[str, object]) -> str:
    return ", ".join(f"{role} {value}" for role, value in values.items())
