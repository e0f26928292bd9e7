"""RewardWorker: hosts one Reward; errors and timeouts cost one sample its score, never the run."""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np

from rlcore.batch import Batch
from rlcore.bounded import BoundedPool, CallFailed, call_built, in_groups
from rlcore.cluster import Worker

log = logging.getLogger(__name__)

Samples = list[dict[str, Any]]


class RewardWorker(Worker):
    """Scores samples with one reward (or each part of a combined one).

    Parts that declare `runs_in_subprocess` (rule and function rewards) are scored in a pool of worker processes
    (rlcore.bounded): a call past the reward's timeout_s has its process killed and replaced, so a pathological
    answer costs its samples their score but never a slot of the pool. The others (remote and model rewards) run
    in a thread of this process, bounded by the call timeout (they wait on I/O or a GPU, not on unbounded CPU work).
    """

    remote_methods = ("score",)

    def __init__(self, rank: int, world_size: int, reward: dict[str, Any]):
        super().__init__(rank, world_size)
        from rlcore.registry import REWARDS  # built-ins and plug-ins load through entry points

        cls = REWARDS.get(reward["name"])
        self.config = cls.Config.model_validate(reward)
        self.reward = cls(self.config)
        self.threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="reward")
        modules = {type(part).__module__ for _, _, part in self.reward.components() if part.runs_in_subprocess}
        # Two processes at least, so that one sample running into its deadline does not stall the rest.
        processes = max(2, math.ceil(self.config.num_cpus))
        self.processes = BoundedPool(processes, ("rlcore.grading", *sorted(modules))) if modules else None

    def score(self, batch: Batch) -> Batch:
        """Tensor `rewards` [B], the weighted sum of the reward's parts, plus `reward_failed` [B] (1 where a part
        raised, timed out or gave NaN) and, for a reward made of parts, `reward/<label>` [B] per part."""
        samples = batch.rows()
        parts = self.reward.components()
        total, failed = np.zeros(len(samples)), np.zeros(len(samples))
        tensors = {}
        for label, weight, reward in parts:
            scores, part_failed = self._score_isolated(reward, samples)
            total += weight * scores
            failed = np.maximum(failed, part_failed)
            if reward is not self.reward:  # a part of a combined reward: its own metric
                tensors[f"reward/{label}"] = scores.astype(np.float32)
        tensors |= {"rewards": total.astype(np.float32), "reward_failed": failed.astype(np.float32)}
        return Batch(tensors=tensors)

    def _calls(self, reward: Any, groups: list[Samples]) -> list[list[float] | BaseException]:
        """Each group's scores (checked: one finite-or-NaN float per sample), or the error in its place."""
        timeout = reward.config.timeout_s
        if reward.runs_in_subprocess and self.processes is not None:
            calls = [(call_built, (type(reward), reward.config, "score", group)) for group in groups]
            outcomes = self.processes.run(calls, timeout)
        else:
            outcomes = []
            for group in groups:
                try:
                    outcomes.append(self.threads.submit(reward.score, group).result(timeout=timeout))
                except Exception as error:
                    outcomes.append(error)
        return [_checked(outcome, len(group)) for outcome, group in zip(outcomes, groups, strict=True)]

    def _score_isolated(self, reward: Any, samples: Samples) -> tuple[np.ndarray, np.ndarray]:
        """Scores and failure flags of one reward; the samples of a call that fails are scored again one by one."""
        config = reward.config
        outcomes = in_groups(
            lambda groups: self._calls(reward, groups), samples, reward.samples_per_call or len(samples)
        )
        scores, failed = [], []
        for sample, outcome in zip(samples, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.warning(
                    "reward %s: sample %s scored %s: %s",
                    config.name,
                    sample.get("id", "?"),
                    config.failure_score,
                    _describe(outcome),
                )
            ok = not isinstance(outcome, BaseException) and math.isfinite(outcome)
            scores.append(outcome if ok else config.failure_score)
            failed.append(0.0 if ok else 1.0)
        return np.asarray(scores, np.float64), np.asarray(failed, np.float64)


def _checked(outcome: Any, expected: int) -> list[float] | BaseException:
    if isinstance(outcome, BaseException):
        return outcome
    try:
        if len(outcome) != expected:
            raise ValueError(f"returned {len(outcome)} scores for {expected} samples")
        return [float(score) for score in outcome]
    except Exception as error:
        return error


def _describe(error: BaseException) -> str:
    if isinstance(error, FutureTimeout) or (isinstance(error, CallFailed) and error.timed_out):
        return "timed out"
    return f"{type(error).__name__}: {error}"
