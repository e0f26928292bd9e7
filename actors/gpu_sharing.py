"""Who holds a colocated GPU's memory when (GPUs only; the config refuses both settings on CPU): the vLLM engines
sleep while the learner and reference work (rollout.sleep_level) and wake to generate; the learner's optimizer state
goes to CPU memory while the engines generate (learner.offload_during_generation) and comes back at its next update.

The runtime calls `for_generation` before the engines generate, `for_training` before the learner or reference
run, and `for_sync`/`synced` around a weight sync."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from rlcore.cluster import WorkerGroup
from rlcore.colocation import ColocatedPlan
from rlcore.config import RunConfig

log = logging.getLogger(__name__)
ENGINE_MEMORY = ("weights", "kv_cache")  # vLLM's sleep-mode tags


class GpuSharing:
    def __init__(self, config: RunConfig, plan: ColocatedPlan | None, groups: Mapping[str, WorkerGroup]):
        shared = set(plan.roles) if plan else set()
        # Settings of roles this run does not colocate (e.g. an evaluation starting the engines alone) do nothing.
        self.sleep_level = config.rollout.sleep_level if "rollout" in shared else 0
        self.offload = config.learner.offload_during_generation and {"learner", "rollout"} <= shared
        self.groups = groups
        self.freed: set[str] = set()  # the engines' memory now freed: "weights", "kv_cache"
        self.weights_lost = False  # a level-2 sleep freed the weights and no sync has refilled them yet
        if self.active:
            log.info(
                "colocated GPUs: engines sleep (level %d) while the learner and reference work; learner optimizer "
                "state in CPU memory during generation: %s",
                self.sleep_level,
                "yes" if self.offload else "no",
            )

    @property
    def active(self) -> bool:
        return bool(self.sleep_level or self.offload)

    def for_generation(self, refill: Callable[[], object]) -> None:
        """Make room for the engines and wake them; `refill` (a weight sync of the learner's current policy) first
        when a level-2 sleep lost their weights without a sync since."""
        if self.offload and "learner" in self.groups:
            self.groups["learner"].broadcast("offload_states")
        if not self.freed:
            return
        if self.weights_lost:
            log.info("rollout.sleep_level 2: the engines' weights were freed; the learner's are synced back first")
            refill()
        self.groups["rollout"].broadcast("wake_up")
        self.freed = set()

    def for_training(self) -> None:
        """Free the engines' GPU memory for the learner and reference (they reload nothing until they generate)."""
        if self.sleep_level and self.freed != set(ENGINE_MEMORY) and "rollout" in self.groups:
            self.groups["rollout"].broadcast("sleep")
            self.freed, self.weights_lost = set(ENGINE_MEMORY), self.sleep_level == 2

    def for_sync(self) -> None:
        """Wake only the engines' weights, which the sync overwrites; the KV cache stays free until generation."""
        if "weights" in self.freed:
            self.groups["rollout"].broadcast("wake_up", tags=["weights"])
            self.freed.discard("weights")

    def synced(self) -> None:
        self.weights_lost = False
