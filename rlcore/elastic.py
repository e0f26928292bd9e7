"""Elastic rollout: how many rollout workers the next step should have (a pure policy), and growing or shrinking a
WorkerGroup between steps to that count.

Workers added to a group get a placement group of their own (the same bundle shape and placement as the group's
first ones) and new ranks appended after the others; before they generate, `bring_up(rank)` gives them the current
policy, as a worker Ray restarted gets it. Removal takes the newest workers first and frees their placement group.
On a cluster with Ray's autoscaler, growing first asks it for the bundles (`ray.autoscaler.sdk.request_resources`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import ray
from ray.util.placement_group import PlacementGroup, remove_placement_group

from rlcore.cluster import WorkerError, WorkerGroup, reserve_placement
from rlcore.config import RolloutSection
from rlcore.placement import GroupPlan

log = logging.getLogger(__name__)
# Phases that say nothing about the balance of generation and the rest: left out of the step's time.
OUTSIDE_PHASES = ("eval", "checkpoint", "scale")


@dataclass(frozen=True)
class ScalePolicy:
    min_workers: int
    max_workers: int
    scale_up_share: float
    scale_down_share: float
    cooldown_steps: int

    @classmethod
    def from_config(cls, rollout: RolloutSection) -> ScalePolicy:
        settings = rollout.autoscale
        low, high = settings.bounds(rollout.num_workers)
        return cls(low, high, settings.scale_up_share, settings.scale_down_share, settings.cooldown_steps)


def generation_share(step_metrics: Mapping[str, float]) -> float | None:
    """Generation's share of the step's time (`time/generate_s` over `time/step_s` less evaluation, checkpoint and
    scaling time); None when the step's metrics carry no such timings."""
    generate, step = step_metrics.get("time/generate_s"), step_metrics.get("time/step_s")
    if generate is None or step is None:
        return None
    busy = step - sum(step_metrics.get(f"time/{phase}_s", 0.0) for phase in OUTSIDE_PHASES)
    return min(1.0, generate / busy) if busy > 0 else None


def target_workers(
    current: int, step_metrics: Mapping[str, float], policy: ScalePolicy, steps_since_change: int
) -> int:
    """The worker count for the next step: one more when generation took more than scale_up_share of the last step,
    one fewer below scale_down_share, else (or within cooldown_steps of the last change) the same; within bounds."""
    share = generation_share(step_metrics)
    if share is None or steps_since_change <= policy.cooldown_steps:
        target = current
    elif share > policy.scale_up_share:
        target = current + 1
    elif share < policy.scale_down_share:
        target = current - 1
    else:
        target = current
    return max(policy.min_workers, min(policy.max_workers, target))


def plan_more(plan: GroupPlan, count: int) -> GroupPlan:
    """The plan of `count` more workers shaped as the group's (`plan`): its first worker's bundles, repeated."""
    per_worker = len(plan.bundles) // len(plan.actor_bundles)
    bundles = [dict(bundle) for _ in range(count) for bundle in plan.bundles[:per_worker]]
    selector = plan.label_selector[0] if plan.label_selector else None
    return dataclasses.replace(
        plan,
        bundles=bundles,
        label_selector=[dict(selector) for _ in bundles] if selector is not None else None,
        actor_bundles=[slot * per_worker for slot in range(count)],
        engine_bundles=[list(range(slot * per_worker + 1, (slot + 1) * per_worker)) for slot in range(count)],
    )


def request_bundles(group: WorkerGroup, count: int) -> None:
    """Ask Ray's autoscaler to keep room for `count` workers of the group (a standing request, replaced by the next
    call). Where no autoscaler runs the request is only stored in the GCS, so it does no harm."""
    from ray.autoscaler.sdk import request_resources

    plan = plan_more(group.plan, count)
    try:
        request_resources(bundles=plan.bundles, bundle_label_selectors=plan.label_selector)
    except Exception as error:  # a hint to the autoscaler: never worth failing the run for
        log.warning("%s: could not ask Ray's autoscaler for %d worker(s)' bundles: %s", group.name, count, error)


def grow(group: WorkerGroup, count: int, bring_up: Callable[[int], str | None] | None = None) -> int:
    """Add `count` workers on a new placement group, each brought up to date by `bring_up(rank)` (default: the group's
    `on_restart`) before it is used; returns how many were added: 0 when the cluster could not place or start them
    within the group's start_timeout_s (logged, the group unchanged)."""
    before = len(group)
    request_bundles(group, before + count)
    plan = plan_more(group.plan, count)
    try:
        placement = reserve_placement(group.name, plan, group.start_timeout_s)
    except WorkerError as error:
        log.warning("%s: not scaled up to %d workers, stays at %d: %s", group.name, before + count, before, error)
        request_bundles(group, before)  # withdraw the request, so that no node is kept for it
        return 0
    ranks = range(before, before + count)
    added = [group.start_actor(rank, before + count, placement, plan, rank - before) for rank in ranks]
    try:
        group.wait(["ready"] * count, [actor.ready.remote() for actor in added], list(ranks), group.start_timeout_s)
    except WorkerError as error:
        _discard(added, placement)
        log.warning("%s: not scaled up to %d workers, stays at %d: %s", group.name, before + count, before, error)
        request_bundles(group, before)
        return 0
    group.actors += added
    group.restarts += [0] * count
    group.rank_groups += [placement] * count
    bring_up = bring_up or group.on_restart
    try:
        done = [bring_up(rank) for rank in ranks] if bring_up else []
    except BaseException:
        shrink(group, count, min_workers=before)  # no worker with out-of-date weights is left in the group
        raise
    log.info("%s: scaled up from %d to %d workers%s", group.name, before, len(group), f" ({done[-1]})" if done else "")
    return count


def shrink(group: WorkerGroup, count: int, min_workers: int) -> int:
    """Remove up to `count` of the newest workers, never going below `min_workers`; a placement group none of the
    remaining workers uses is removed (the group's first one stays until shutdown). Returns how many were removed."""
    count = max(0, min(count, len(group) - min_workers))
    before = len(group)
    for _ in range(count):
        actor, placement = group.actors.pop(), group.rank_groups.pop()
        group.restarts.pop()
        in_use = placement.id == group.placement_group.id or any(g.id == placement.id for g in group.rank_groups)
        _discard([actor], None if in_use else placement)
    if count:
        request_bundles(group, len(group))  # the autoscaler may now let the nodes go
        log.info("%s: scaled down from %d to %d workers", group.name, before, len(group))
    return count


def _discard(actors: list, placement: PlacementGroup | None) -> None:
    for actor in actors:
        with contextlib.suppress(Exception):
            ray.kill(actor)
    if placement is not None:
        with contextlib.suppress(Exception):
            remove_placement_group(placement)
