"""The process reward model as a step judge (`prm`): every candidate next step of a search round is scored by the
run's reward workers in ONE call, each as one step after its question's accepted prefix. With `reward: {name:
rprm, ...}` that is the R-PRM's mean P(Yes) over K critiques (rewards/rprm.py): PRM-guided step search."""

from __future__ import annotations

from collections.abc import Sequence

from rewards.rprm import PREVIOUS_STEPS
from rewards.step_judge import StepJudgeBase, StepJudgeConfig
from rlcore.batch import Batch
from rlcore.registry import STEP_JUDGES
from rlcore.steps import JudgeContext, StepQuery


@STEP_JUDGES.register("prm")
class PRMJudge(StepJudgeBase):
    """Scores candidates with the run's reward (a process reward model); needs JudgeContext.scorer."""

    Config = StepJudgeConfig

    def __init__(self, config: StepJudgeConfig, context: JudgeContext | None = None):
        super().__init__(config, context)
        if self.context.scorer is None:
            raise ValueError(
                "the prm judge scores with the run's reward workers: set `reward: {name: rprm, ...}` and build it "
                "with JudgeContext(scorer=runtime)"
            )
        self.counts = {"candidates": 0, "score_calls": 0}

    def stats(self) -> dict[str, float]:
        return {f"judge/{key}": float(value) for key, value in self.counts.items()}

    def score_steps(self, queries: Sequence[StepQuery]) -> list[list[float]]:
        rows = [
            {**query.row, "prompt": query.question, PREVIOUS_STEPS: list(query.prefix), "response_text": candidate}
            for query in queries
            for candidate in query.candidates
        ]
        if not rows:
            return [[] for _ in queries]
        rewards = iter(float(value) for value in self.context.scorer.score(Batch.from_rows(rows))["rewards"])
        self.counts["candidates"] += len(rows)
        self.counts["score_calls"] += 1
        return [[next(rewards) for _ in query.candidates] for query in queries]
