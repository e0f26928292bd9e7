"""Elastic rollout without a cluster: the scaling policy, the plan of added workers and rollout.autoscale's checks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rlcore.config import RolloutSection, RunConfig
from rlcore.elastic import ScalePolicy, generation_share, plan_more, target_workers
from rlcore.placement import RolePlacement, plan_group

POLICY = ScalePolicy(min_workers=1, max_workers=3, scale_up_share=0.6, scale_down_share=0.3, cooldown_steps=0)


def timings(generate: float, step: float = 10.0, **other: float) -> dict[str, float]:
    return {"time/generate_s": generate, "time/step_s": step, **{f"time/{k}_s": v for k, v in other.items()}}


@pytest.mark.parametrize(
    ("current", "generate", "expected"),
    [
        (1, 8.0, 2),  # generation dominates: one more
        (2, 8.0, 3),
        (3, 8.0, 3),  # at max_workers
        (2, 1.0, 1),  # idle: one fewer
        (1, 1.0, 1),  # at min_workers
        (2, 4.5, 2),  # between the thresholds (hysteresis): unchanged
        (2, 6.0, 2),  # exactly at a threshold: unchanged
        (2, 3.0, 2),
    ],
)
def test_policy_adds_above_removes_below_and_holds_between(current, generate, expected):
    assert target_workers(current, timings(generate), POLICY, steps_since_change=5) == expected


def test_cooldown_holds_the_count_for_that_many_steps_after_a_change():
    policy = ScalePolicy(1, 3, 0.6, 0.3, cooldown_steps=2)
    assert [target_workers(1, timings(9.0), policy, since) for since in (1, 2, 3)] == [1, 1, 2]


def test_share_leaves_out_evaluation_checkpoint_and_scaling_time():
    step = timings(3.0, step=10.0, eval=2.0, checkpoint=1.0, scale=2.0)
    assert generation_share(step) == pytest.approx(0.6)
    assert target_workers(1, step, ScalePolicy(1, 2, 0.55, 0.3, 0), 9) == 2
    assert generation_share({"time/step_s": 1.0}) is None  # no generation timing: no change
    assert target_workers(2, {}, POLICY, 9) == 2


def test_bounds_are_kept_even_when_the_count_is_outside_them():
    assert target_workers(5, timings(5.0), POLICY, 9) == 3


def test_added_workers_have_the_groups_bundle_shape_and_placement():
    placement = RolePlacement(resources={"rollout_node": 1}, labels={"pool": "rollout"}, strategy="SPREAD")
    group = plan_group(2, 1.0, 2.0, placement=placement, tensor_parallel_size=2)
    more = plan_more(group, 1)
    assert more.bundles == group.bundles[:3] and more.strategy == "SPREAD"
    assert more.label_selector == [{"pool": "rollout"}] * 3
    assert more.actor_bundles == [0] and more.engine_bundles == [[1, 2]]
    assert plan_more(plan_group(1, 2.0, 0.0), 2).bundles == [{"CPU": 2.0}, {"CPU": 2.0}]


def test_autoscale_is_off_by_default_and_bounds_default_to_num_workers():
    rollout = RunConfig().rollout
    assert rollout.autoscale.enabled is False
    policy = ScalePolicy.from_config(RolloutSection(num_workers=2, autoscale={"enabled": True, "max_workers": 4}))
    assert (policy.min_workers, policy.max_workers) == (2, 4)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"num_workers": 2, "autoscale": {"max_workers": 1}}, "min_workers <= rollout.num_workers <= max_workers"),
        ({"autoscale": {"min_workers": 2, "max_workers": 3}}, "got 2 <= 1 <= 3"),
        ({"autoscale": {"scale_up_share": 0.3, "scale_down_share": 0.3}}, "must be below scale_up_share"),
        ({"autoscale": {"scale_up_share": 1.5}}, "less than or equal to 1"),
        ({"autoscale": {"max_worker": 3}}, "Extra inputs are not permitted"),
    ],
)
def test_autoscale_settings_are_checked(settings, message):
    with pytest.raises(ValidationError, match=message):
        RolloutSection(**settings)
