"""The StepJudge base class: scores candidate next steps of many questions at once (rlcore.steps.StepJudge),
registered in rlcore.registry.STEP_JUDGES and found through the `rlcore.step_judges` entry points."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from rlcore.config import NamedSection
from rlcore.steps import JudgeContext, StepQuery


class StepJudgeConfig(NamedSection):
    """The `name` selects the judge; a judge's own keys come from its Config subclass."""


class StepJudgeBase(ABC):
    """Subclass, set `Config`, implement `score_steps`, register with `@STEP_JUDGES.register("name")`."""

    Config: ClassVar[type[StepJudgeConfig]] = StepJudgeConfig

    def __init__(self, config: StepJudgeConfig, context: JudgeContext | None = None):
        self.config = config
        self.context = context or JudgeContext()

    def stats(self) -> dict[str, float]:
        """Counts of what the judge did since it was built (replies, unparseable ones...); none for rule judges."""
        return {}

    @abstractmethod
    def score_steps(self, queries: Sequence[StepQuery]) -> list[list[float]]:
        """Per query, one score in [0, 1] per candidate."""
