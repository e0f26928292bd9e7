"""The Reward base class: a reward maps samples to scores, one per sample (registered in rlcore.registry.REWARDS)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import Field

from rlcore.config import NamedSection


class RewardConfig(NamedSection):
    timeout_s: float = Field(
        30.0, gt=0, description="Seconds one scoring call may take; a sample that exceeds it scores failure_score."
    )
    failure_score: float = Field(0.0, description="Score of a sample whose scoring raised or timed out.")
    num_workers: int = Field(1, ge=1, description="Reward worker actors; samples are split over them.")
    num_cpus: float = Field(0.5, ge=0, description="Ray CPUs reserved per reward worker.")
    num_gpus: float = Field(0.0, ge=0, description="Model rewards on GPUs ask for a share here.")


class Reward(ABC):
    """Subclass, set `Config`, implement `score`, and register with `@REWARDS.register("name")`.

    `score` receives plain sample dicts (the Batch's columns: prompt, response_text, answer, language, ...) and
    returns one float per sample. Rule rewards run in the reward worker's process; model rewards load their
    engine in `__init__`. Errors and timeouts are handled per sample by the RewardWorker.
    """

    Config: ClassVar[type[RewardConfig]] = RewardConfig

    def __init__(self, config: RewardConfig):
        self.config = config

    def components(self) -> list[tuple[str, float, Reward]]:
        """(label, weight, reward) of the parts the reward worker scores, isolates and logs one by one; a plain
        reward is its own single part (rewards/combined.py has several)."""
        return [(self.config.name, 1.0, self)]

    @abstractmethod
    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        """One score per sample, in order."""
