"""Placement by config, without a cluster: the schema, the bundles of each role's group (a tensor-parallel engine's
one-GPU bundles included) and the local cluster's can-it-ever-fit check."""

from __future__ import annotations

import pytest

from actors.runtime import placement_options
from rlcore.config import ConfigError, load_config
from rlcore.placement import (
    ENGINE_BUNDLES_ENV,
    RolePlacement,
    could_ever_place,
    labels_match,
    plan_group,
)
from tests.conftest import ROOT


def test_default_plans_are_one_bundle_per_worker_as_before():
    plan = plan_group(3, 0.5, 0.0)
    assert plan.bundles == [{"CPU": 0.5}] * 3
    assert plan.label_selector is None and plan.strategy == "PACK"
    assert plan.actor_bundles == [0, 1, 2] and [plan.rank_env(rank) for rank in range(3)] == [{}, {}, {}]
    gpu = plan_group(2, 4.0, 1.0, strategy="SPREAD")
    assert gpu.bundles == [{"CPU": 4.0, "GPU": 1.0}] * 2 and gpu.actor_gpus == 1.0 and gpu.strategy == "SPREAD"


def vllm_accepts(bundles: list[dict[str, float]], indices: list[int], world_size: int) -> bool:
    """vLLM 0.32's checks of the placement group it finds in its actor (v1/executor/ray_utils.py,
    initialize_ray_cluster and get_bundles_for_indices): no bundle of more than one GPU, enough GPU bundles, and the
    VLLM_RAY_BUNDLE_INDICES of the engine: `world_size` distinct bundles, each with a GPU."""
    if any(bundle.get("GPU", 0) > 1 for bundle in bundles):
        return False
    if sum(1 for bundle in bundles if bundle.get("GPU")) < world_size:
        return False
    return len(indices) == len(set(indices)) == world_size and all(bundles[i].get("GPU") for i in indices)


def test_a_tensor_parallel_engine_gets_a_cpu_bundle_and_one_gpu_bundle_per_shard():
    plan = plan_group(3, 4.0, 2.0, tensor_parallel_size=2)
    assert plan.bundles == [{"CPU": 4.0}, {"GPU": 1.0}, {"GPU": 1.0}] * 3
    assert plan.actor_bundles == [0, 3, 6] and plan.actor_gpus == 0.0 and plan.actor_cpus == 4.0
    assert plan.engine_bundles == [[1, 2], [4, 5], [7, 8]]
    assert plan.rank_env(1) == {ENGINE_BUNDLES_ENV: "4,5"}
    for rank in range(3):
        indices = [int(i) for i in plan.rank_env(rank)[ENGINE_BUNDLES_ENV].split(",")]
        assert vllm_accepts(plan.bundles, indices, world_size=2)
    # What each TP = 2 actor asked for before: one bundle of 2 GPUs, which vLLM refuses.
    assert not vllm_accepts([{"CPU": 4.0, "GPU": 2.0}], [0], world_size=2)
    assert plan.describe() == "3 worker(s) with {'CPU': 4.0} each and 2 x {'GPU': 1.0} for its engine (PACK)"


def test_tensor_parallel_on_cpu_keeps_one_bundle_per_engine():
    plan = plan_group(2, 1.0, 0.0, tensor_parallel_size=2)
    assert plan.bundles == [{"CPU": 1.0}] * 2 and plan.rank_env(0) == {}
    with pytest.raises(ValueError, match="needs as many GPUs"):
        plan_group(1, 1.0, 1.0, tensor_parallel_size=2)


def test_custom_resources_and_labels_go_on_every_bundle_of_the_role():
    where = RolePlacement(resources={"rollout_node": 1}, labels={"rlcore/pool": "rollout"}, strategy="STRICT_PACK")
    plan = plan_group(2, 1.0, 2.0, placement=where, tensor_parallel_size=2, strategy="SPREAD")
    head, shard = {"CPU": 1.0, "rollout_node": 1.0}, {"GPU": 1.0, "rollout_node": 1.0}
    assert plan.bundles == [head, shard, shard] * 2
    assert plan.label_selector == [{"rlcore/pool": "rollout"}] * 6
    assert plan.strategy == "STRICT_PACK" and plan.actor_resources == {"rollout_node": 1.0}


def test_the_gpu_recipes_with_tp_2_validate_and_plan_one_gpu_bundles():
    for recipe in ("qwen2.5_7b_grpo_2x8gpu.yaml", "qwen2.5_math_7b_parallel_rpt.yaml"):
        config = load_config(ROOT / "configs" / recipe)
        options = placement_options(config, "rollout", config.rollout)
        assert options["tensor_parallel_size"] == 2
        plan = plan_group(config.rollout.num_workers, **options)
        assert max(bundle.get("GPU", 0) for bundle in plan.bundles) == 1
        assert sum(bundle.get("GPU", 0) for bundle in plan.bundles) == 2 * config.rollout.num_workers


def test_placement_keys_in_the_config():
    config = load_config(
        None,
        [
            "cluster.placement.rollout.resources={rollout_node: 1}",
            "cluster.placement.learner.labels={rlcore/pool: train}",
            "cluster.placement.reward.strategy=SPREAD",
        ],
    )
    placement = config.cluster.placement
    assert placement.of("rollout").resources == {"rollout_node": 1.0}
    assert placement.of("reference_rollout") == placement.of("rollout")  # null: as rollout
    assert placement.of("learner").labels == {"rlcore/pool": "train"}
    assert placement_options(config, "reward", config.reward)["placement"].strategy == "SPREAD"
    assert placement_options(config, "reference", config.reference)["placement"] == RolePlacement()
    assert load_config(None).cluster.placement.of("learner") == RolePlacement()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "cluster.placement.rollout.resource={a: 1}",
            r"cluster.placement.rollout.resource: unknown key \(did you mean ",
        ),
        ("cluster.placement.rolout={}", r"cluster.placement.rolout: unknown key \(did you mean 'rollout'\?\)"),
        ("cluster.placement.learner.resources={GPU: 1}", r"set by the role's num_cpus/num_gpus"),
        ("cluster.placement.learner.resources={train_node: 0}", r"must be > 0"),
        ("cluster.placement.learner.labels={pool: 'a b'}", r"Invalid label selector value"),
        ("rollout.tensor_parallel_size=2", None),  # on CPU (num_gpus 0): allowed as before
    ],
)
def test_placement_mistakes_are_config_errors(override, message):
    if message is None:
        load_config(None, [override])
        return
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_a_tp_engine_needs_one_gpu_per_shard():
    with pytest.raises(ConfigError, match=r"rollout.num_gpus must be 0 \(CPU\) or tensor_parallel_size \(2\)"):
        load_config(None, ["rollout.tensor_parallel_size=2", "rollout.num_gpus=1"])


def node(resources: dict[str, float], labels: dict[str, str] | None = None, alive: bool = True) -> dict:
    return {"Resources": resources, "Labels": labels or {}, "Alive": alive}


def test_could_ever_place_checks_resources_labels_and_strict_pack():
    nodes = [node({"CPU": 2.0}), node({"CPU": 2.0, "GPU": 2.0, "rollout_node": 10.0}, {"pool": "gpu"})]
    rollout = RolePlacement(resources={"rollout_node": 1})
    assert could_ever_place(plan_group(2, 1.0, 2.0, placement=rollout, tensor_parallel_size=2), nodes)
    assert not could_ever_place(plan_group(1, 1.0, 0.0, placement=RolePlacement(resources={"train": 1})), nodes)
    assert could_ever_place(plan_group(1, 1.0, 0.0, placement=RolePlacement(labels={"pool": "gpu"})), nodes)
    assert not could_ever_place(plan_group(1, 1.0, 0.0, placement=RolePlacement(labels={"pool": "cpu"})), nodes)
    assert could_ever_place(plan_group(2, 2.0, 0.0), nodes)
    assert not could_ever_place(plan_group(2, 2.0, 0.0, strategy="STRICT_PACK"), nodes)
    assert not could_ever_place(plan_group(1, 1.0, 0.0), [node({"CPU": 4.0}, alive=False)])


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ({"pool": "gpu"}, True),
        ({"pool": "!gpu"}, False),
        ({"pool": "in(cpu, gpu)"}, True),
        ({"pool": "!in(cpu,gpu)"}, False),
        ({"zone": "!a"}, True),  # a node without the label is not in zone a
        ({"zone": "a"}, False),
    ],
)
def test_label_selectors_match_as_ray_documents(selector, matches):
    assert labels_match({"pool": "gpu"}, selector) is matches
