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

    def worker_env(self) -> dict[str, str]:
        """Environment variables the reward worker's process needs (a model reward's engine); none by default."""
        return {}


class Reward(ABC):
    """Subclass, set `Config`, implement `score`, and register with `@REWARDS.register("name")`.

    `score` receives plain sample dicts (the Batch's columns: prompt, response_text, answer, language, ...) and
    returns one float per sample. Errors and timeouts are handled per sample by the RewardWorker. A reward with
    `runs_in_subprocess` (rule and function rewards, whose CPU-bound work a thread could not stop) is rebuilt from
    its config in the worker's scoring processes and scored there, so that a call past timeout_s is killed; model
    rewards (their engine loads in `__init__`) and remote rewards (network-bound, with their own timeouts) keep the
    default and run in the reward worker's process.
    """

    Config: ClassVar[type[RewardConfig]] = RewardConfig
    runs_in_subprocess: ClassVar[bool] = False
    # Samples per scoring call; None: the whole batch in one call (a function may look at the batch as a whole).
    samples_per_call: ClassVar[int | None] = None

    def __init__(self, config: RewardConfig):
        self.config = config

    def components(self) -> list[tuple[str, float, Reward]]:
        """(label, weight, reward) of the parts the reward worker scores, isolates and logs one by one; a plain
        reward is its own single part (rewards/combined.py has several)."""
        return [(self.config.name, 1.0, self)]

    @abstractmethod
    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        """One score per sample, in order."""
