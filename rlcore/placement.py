"""Placement by config: which nodes each role's workers go on (Ray custom resources, node labels), and the bundles
of a worker group's placement group, including a tensor-parallel vLLM engine's one-GPU bundles.

Pure: no Ray import, so the config can use the schema and tests can check the bundles without a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Strategy = Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"]
Colocatable = Literal["learner", "reference", "rollout", "reward"]
COLOCATED_BY_DEFAULT: tuple[Colocatable, ...] = ("learner", "reference", "rollout")  # verl's actor/rollout/ref pool
# vLLM's Ray executors (RayExecutorV2 and RayDistributedExecutor) put the engine's GPU workers on these bundles of
# the placement group the engine's actor runs in; without it they take the first GPU bundles, the same for every
# engine of a shared group.
ENGINE_BUNDLES_ENV = "VLLM_RAY_BUNDLE_INDICES"


class _Strict(BaseModel):
    # rlcore.config.Section's settings (that module imports this one): unknown keys are errors.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RolePlacement(_Strict):
    resources: dict[str, float] = Field(
        default_factory=dict,
        description="Ray custom resources every bundle of the role asks for, e.g. `{rollout_node: 1}`: the role goes "
        "only on nodes started with them (`ray start --resources '{\"rollout_node\": 100}'`). A tensor-parallel "
        "rollout engine has 1 + tensor_parallel_size bundles, each asking this.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Node label selector of every bundle of the role, e.g. `{rlcore/pool: rollout}`: the role goes "
        "only on nodes started with matching labels (`ray start --labels rlcore/pool=rollout`). Values: `v`, `!v`, "
        "`in(a,b)`, `!in(a,b)`.",
    )
    strategy: Strategy | None = Field(
        None, description="Placement-group strategy of this role's group; null = cluster.placement_strategy."
    )

    @field_validator("resources")
    @classmethod
    def _custom_resources(cls, value: dict[str, float]) -> dict[str, float]:
        reserved = sorted(set(value) & {"CPU", "GPU", "memory", "object_store_memory"})
        if reserved:
            raise ValueError(f"{reserved} are set by the role's num_cpus/num_gpus, not here")
        if any(amount <= 0 for amount in value.values()):
            raise ValueError(f"custom resource amounts must be > 0, got {value}")
        return value

    @field_validator("labels")
    @classmethod
    def _label_selector(cls, value: dict[str, str]) -> dict[str, str]:
        if value:
            from ray._private.label_utils import validate_label_selector  # Ray's own check, as placement_group's

            if problem := validate_label_selector(value):
                raise ValueError(problem)
        return value


class PlacementSection(_Strict):
    rollout: RolePlacement = Field(default_factory=RolePlacement, description="Where the vLLM rollout engines go.")
    learner: RolePlacement = Field(default_factory=RolePlacement, description="Where the learner ranks go.")
    reference: RolePlacement = Field(default_factory=RolePlacement, description="Where the reference workers go.")
    reward: RolePlacement = Field(default_factory=RolePlacement, description="Where the reward workers go.")
    reference_rollout: RolePlacement | None = Field(
        None, description="Where an algorithm's reference vLLM engines go; null = as rollout."
    )
    mode: Literal["separate", "colocated"] = Field(
        "separate",
        description="`separate`: each role's workers on a placement group of their own. `colocated`: rank i of every "
        "role in `colocate` runs on bundle i of one shared placement group whose bundles hold what those ranks ask "
        "for together (CPUs summed; on GPUs one GPU per bundle, each role asking a fraction of it by its num_gpus, "
        "as in verl's shared resource pool or OpenRLHF's --colocate_all_models).",
    )
    colocate: list[Colocatable] = Field(
        default_factory=lambda: list(COLOCATED_BY_DEFAULT),
        description="The roles that share bundles when mode is `colocated`; their num_workers must be equal (a role "
        "the run does not start, e.g. a reference without KL, is left out).",
    )

    @field_validator("colocate")
    @classmethod
    def _two_distinct_roles(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or len(value) < 2:
            raise ValueError(f"needs two or more distinct roles, got {value}")
        return value

    def of(self, role: str) -> RolePlacement:
        """The placement of `role`; a role without its own entry goes anywhere."""
        if role == "reference_rollout" and self.reference_rollout is None:
            return self.rollout
        return getattr(self, role) if role in type(self).model_fields else RolePlacement()


@dataclass(frozen=True)
class GroupPlan:
    """A worker group's placement group and where each rank's actor (and its engine's GPU workers) go in it."""

    bundles: list[dict[str, float]]
    label_selector: list[dict[str, str]] | None  # one per bundle; None without labels
    strategy: Strategy
    actor_bundles: list[int]  # per rank: the bundle its actor runs in
    engine_bundles: list[list[int]]  # per rank: its engine's one-GPU bundles (tensor-parallel on GPUs), else []
    actor_cpus: float
    actor_gpus: float  # 0 when the engine's bundles hold the GPUs
    actor_resources: dict[str, float]

    def describe(self) -> str:
        """`2 worker(s) with {'CPU': 1.0} each (PACK)`, for error messages."""
        engine = (
            f" and {len(self.engine_bundles[0])} x {self.bundles[1]} for its engine" if self.tensor_parallel else ""
        )
        where = f", on nodes labelled {self.label_selector[0]}" if self.label_selector else ""
        head = self.bundles[self.actor_bundles[0]]
        return f"{len(self.actor_bundles)} worker(s) with {head} each{engine}{where} ({self.strategy})"

    @property
    def tensor_parallel(self) -> bool:
        return bool(self.engine_bundles and self.engine_bundles[0])

    def rank_env(self, rank: int) -> dict[str, str]:
        """Environment of rank `rank`'s actor: which bundles its engine's workers take."""
        indices = self.engine_bundles[rank]
        return {ENGINE_BUNDLES_ENV: ",".join(map(str, indices))} if indices else {}


def plan_group(
    num_workers: int,
    num_cpus: float,
    num_gpus: float,
    *,
    strategy: Strategy = "PACK",
    placement: RolePlacement | None = None,
    tensor_parallel_size: int = 1,
) -> GroupPlan:
    """One bundle per worker; a tensor-parallel engine on GPUs gets a CPU bundle for its actor plus one `{"GPU": 1}`
    bundle per shard, as vLLM's Ray executor accepts no bundle of more than one GPU."""
    placement = placement or RolePlacement()
    extra = dict(placement.resources)
    engine = tensor_parallel_size > 1 and num_gpus > 0
    if engine and num_gpus != tensor_parallel_size:
        raise ValueError(f"an engine of tensor_parallel_size {tensor_parallel_size} needs as many GPUs, not {num_gpus}")
    head = {"CPU": num_cpus, **({"GPU": num_gpus} if num_gpus and not engine else {}), **extra}
    shards = tensor_parallel_size if engine else 0
    per_rank = 1 + shards
    bundles = [
        dict(head) if shard == 0 else {"GPU": 1.0, **extra} for _ in range(num_workers) for shard in range(per_rank)
    ]
    return GroupPlan(
        bundles=bundles,
        label_selector=[dict(placement.labels) for _ in bundles] if placement.labels else None,
        strategy=placement.strategy or strategy,
        actor_bundles=[rank * per_rank for rank in range(num_workers)],
        engine_bundles=[list(range(rank * per_rank + 1, (rank + 1) * per_rank)) for rank in range(num_workers)],
        actor_cpus=num_cpus,
        actor_gpus=0.0 if engine else num_gpus,
        actor_resources=extra,
    )


def could_ever_place(plan: GroupPlan, nodes: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the cluster's nodes (ray.nodes() entries) could hold each bundle (STRICT_PACK: all on one node),
    free or not: a local cluster, which no node will ever join, fails at once instead of waiting."""
    alive = [(node["Resources"], node.get("Labels") or {}) for node in nodes if node.get("Alive")]
    selector = plan.label_selector[0] if plan.label_selector else {}
    needed = plan.bundles
    if plan.strategy == "STRICT_PACK":
        needed = [{key: sum(b.get(key, 0.0) for b in plan.bundles) for key in set().union(*plan.bundles)}]
    return all(
        any(_holds(resources, bundle) and labels_match(labels, selector) for resources, labels in alive)
        for bundle in needed
    )


def cpus_and_gpus(nodes: Iterable[Mapping[str, Any]]) -> str:
    """The CPUs and GPUs of each alive node, for messages."""
    shown = [{k: v for k, v in sorted(n["Resources"].items()) if k in ("CPU", "GPU")} for n in nodes if n.get("Alive")]
    return ", ".join(map(str, shown))


def _holds(resources: Mapping[str, float], bundle: Mapping[str, float]) -> bool:
    return all(resources.get(key, 0.0) >= amount for key, amount in bundle.items() if amount)


def labels_match(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """Whether a node's labels satisfy a Ray label selector (`v`, `!v`, `in(a,b)`, `!in(a,b)` per key)."""
    for key, condition in selector.items():
        negated = condition.startswith("!")
        condition = condition.removeprefix("!")
        listed = condition.removeprefix("in")
        if listed.startswith("(") and listed.endswith(")"):
            allowed = {value.strip() for value in listed[1:-1].split(",")}
        else:
            allowed = {condition}
        if (labels.get(key) in allowed) == negated:
            return False
    return True
