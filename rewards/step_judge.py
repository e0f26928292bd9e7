"""The StepJudge base class: scores candidate next steps of many questions at once (rlcore.steps.StepJudge),
registered in rlcore.registry.STEP_JUDGES and found through the `rlcore.step_judges` entry points."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from rlcore.config import NamedSection
from rlcore.steps import StepQuery


class StepJudgeConfig(NamedSection):
    """The `name` selects the judge; a judge's own keys come from its Config subclass."""


class StepJudgeBase(ABC):
    """Subclass, set `Config`, implement `score_steps`, register with `@STEP_JUDGES.register("name")`."""

    Config: ClassVar[type[StepJudgeConfig]] = StepJudgeConfig

    def __init__(self, config: StepJudgeConfig):
        self.config = config

    @abstractmethod
    def score_steps(self, queries: Sequence[StepQuery]) -> list[list[float]]:
        """Per query, one score in [0, 1] per candidate."""
