"""Solutions as steps: splitting and joining by a delimiter, final-answer detection, aggregation of per-step process
scores into one sample score or per-step advantages, and the step-judge interface (registry: STEP_JUDGES)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from rlcore.grading import final_answer
from rlcore.registry import STEP_JUDGES

DEFAULT_DELIMITER = "\n\n"  # a blank line; the embedded world writes one step per line ("\n")
Aggregation = Literal["min", "last", "mean"]
AGGREGATIONS: tuple[str, ...] = ("min", "last", "mean")


def split_steps(solution: str, delimiter: str = DEFAULT_DELIMITER) -> list[str]:
    """The solution's steps: the pieces between delimiters, stripped, empty pieces dropped."""
    if not delimiter:
        raise ValueError("the step delimiter must be a non-empty string")
    return [piece.strip() for piece in solution.split(delimiter) if piece.strip()]


def join_prefix(steps: Sequence[str], delimiter: str = DEFAULT_DELIMITER) -> str:
    """The text of accepted steps as a prefix to continue from: each step followed by the delimiter ('' for none)."""
    return "".join(step + delimiter for step in steps)


def join_steps(steps: Sequence[str], delimiter: str = DEFAULT_DELIMITER) -> str:
    """A whole solution from its steps (no delimiter after the last one)."""
    return delimiter.join(steps)


def is_final(step: str) -> bool:
    """Whether a step states the final answer (a \\boxed{} or an answer phrase in any world language)."""
    return final_answer(step) is not None


def aggregate(scores: Sequence[float], how: Aggregation) -> float:
    """One sample score from its per-step process scores: the weakest step (min), the last step, or the mean."""
    if not scores:
        raise ValueError("cannot aggregate the process scores of a solution without steps")
    if how == "min":
        return float(min(scores))
    if how == "last":
        return float(scores[-1])
    if how == "mean":
        return float(sum(scores) / len(scores))
    raise ValueError(f"unknown aggregation {how!r}; choose from {list(AGGREGATIONS)}")


def process_advantages(group: Sequence[Sequence[float]], eps: float = 1e-6) -> list[list[float]]:
    """Per-step advantages of one group of samples (GRPO with process supervision, DeepSeekMath §4.1.3): every step
    score is normalised by the mean and standard deviation of all step scores in the group, and a step's advantage
    is the sum of the normalised scores from that step to the end (its tokens all get it)."""
    flat = [float(s) for scores in group for s in scores]
    if not flat:
        raise ValueError("a group without any scored step has no process advantages")
    mean = sum(flat) / len(flat)
    std = math.sqrt(sum((s - mean) ** 2 for s in flat) / len(flat))
    advantages = []
    for scores in group:
        normalised = [(s - mean) / (std + eps) for s in scores]
        to_go, total = [], 0.0
        for value in reversed(normalised):
            total += value
            to_go.append(total)
        advantages.append(to_go[::-1])
    return advantages


# ---- the step-judge interface ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepQuery:
    """Candidate next steps of one question after an accepted prefix; `row` is the question's data row (answer,
    language, gold steps where the data has them)."""

    question: str
    prefix: tuple[str, ...]
    candidates: tuple[str, ...]
    row: Mapping[str, Any] = field(default_factory=dict)


class StepJudge(Protocol):
    """Scores candidate next steps, for many questions in one call (so that a model judge batches them)."""

    def score_steps(self, queries: Sequence[StepQuery]) -> list[list[float]]:
        """Per query, one score in [0, 1] per candidate (1 = a correct, useful next step)."""
        ...


@dataclass(frozen=True)
class JudgeContext:
    """What a model judge needs from the run: the policy's engine (anything with the rollout verb), the prompt
    formatter of the run (chat template), the engine's context length, and the run's reward workers (anything with
    the `score(Batch) -> Batch` verb: the Runtime). Rule-based judges ignore it."""

    generator: Any = None  # rlcore.evaluation.Generator
    prompts: Any = None  # rlcore.chat.PromptFormatter
    max_model_len: int | None = None
    scorer: Any = None  # the Runtime's reward workers (the `prm` judge)


def build_step_judge(section: Mapping[str, Any], context: JudgeContext | None = None) -> StepJudge:
    """The step judge a config section names (`{name: world_steps, ...}`), found through STEP_JUDGES; `context`
    gives model judges (`policy_judge`) the policy's engine."""
    if "name" not in section:
        raise ValueError(f"a step-judge section needs a `name`; known: {', '.join(STEP_JUDGES.names())}")
    cls = STEP_JUDGES.get(str(section["name"]))
    return cls(cls.Config.model_validate(dict(section)), context or JudgeContext())


def solution_scores(judge: StepJudge, question: str, steps: Sequence[str], row: Mapping[str, Any]) -> list[float]:
    """The process score of every step of one whole solution, each judged after the steps before it (one call)."""
    queries = [StepQuery(question, tuple(steps[:i]), (steps[i],), row) for i in range(len(steps))]
    return [scores[0] for scores in judge.score_steps(queries)]
