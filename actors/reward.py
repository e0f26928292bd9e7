"""RewardWorker: hosts one Reward; errors and timeouts cost one sample its score, never the run."""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np

from rlcore.batch import Batch
from rlcore.cluster import Worker

log = logging.getLogger(__name__)


class RewardWorker(Worker):
    remote_methods = ("score",)

    def __init__(self, rank: int, world_size: int, reward: dict[str, Any]):
        super().__init__(rank, world_size)
        from rlcore.registry import REWARDS  # built-ins and plug-ins load through entry points

        cls = REWARDS.get(reward["name"])
        self.config = cls.Config.model_validate(reward)
        self.reward = cls(self.config)
        # Daemon-like pool: a hung scorer occupies one thread, the next call gets a fresh one.
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="reward")

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

    def _run(self, reward: Any, samples: list[dict[str, Any]]) -> list[float]:
        future = self.pool.submit(reward.score, samples)
        scores = future.result(timeout=reward.config.timeout_s)
        if len(scores) != len(samples):
            raise ValueError(f"returned {len(scores)} scores for {len(samples)} samples")
        return [float(score) for score in scores]

    def _score_isolated(self, reward: Any, samples: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Scores and failure flags of one reward; when the batch call fails, each sample is scored alone."""
        config = reward.config
        try:
            scores = self._run(reward, samples)
            failed = [0.0] * len(samples)
        except Exception as error:
            log.warning(
                "reward %s failed on a batch of %d (%s); scoring samples one by one",
                config.name,
                len(samples),
                _describe(error),
            )
            scores, failed = [], []
            for sample in samples:
                try:
                    scores.append(self._run(reward, [sample])[0])
                    failed.append(0.0)
                except Exception as sample_error:
                    log.warning(
                        "reward %s: sample %s scored %s: %s",
                        config.name,
                        sample.get("id", "?"),
                        config.failure_score,
                        _describe(sample_error),
                    )
                    scores.append(config.failure_score)
                    failed.append(1.0)
        for i, score in enumerate(scores):
            if not math.isfinite(score):
                scores[i], failed[i] = config.failure_score, 1.0
        return np.asarray(scores, np.float64), np.asarray(failed, np.float64)


def _describe(error: BaseException) -> str:
    if isinstance(error, FutureTimeout):
        return "timed out"
    return f"{type(error).__name__}: {error}"
