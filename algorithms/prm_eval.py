"""ProcessBench-style evaluation of a step judge (METHODS.md §4a): every step of every solution scored after the
steps before it, in ONE judge call; the predicted first error is the first step scored below 0.5; F1 is the harmonic
mean of the accuracy on erroneous solutions (first error found at the labelled step) and on correct ones. Also the
length-only baseline the acceptance compares against: a step is called wrong when it is longer than a threshold
fitted on training solutions (the threshold with the best training F1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rlcore.processbench import NO_ERROR, LabeledSolution, first_error_f1, predicted_first_error
from rlcore.steps import StepJudge, StepQuery


def judge_step_scores(judge: StepJudge, solutions: Sequence[LabeledSolution]) -> list[list[float]]:
    """Every step's score, each judged after its solution's previous steps (one judge call for all)."""
    queries = [
        StepQuery(s.problem, tuple(s.steps[:i]), (s.steps[i],), {"id": s.id})
        for s in solutions
        for i in range(len(s.steps))
    ]
    flat = iter(scores[0] for scores in judge.score_steps(queries))
    return [[next(flat) for _ in s.steps] for s in solutions]


def processbench_f1(judge: StepJudge, solutions: Sequence[LabeledSolution]) -> dict[str, Any]:
    """The judge's first-error F1 (and both accuracies) on labelled solutions, with its predictions."""
    scores = judge_step_scores(judge, solutions)
    predicted = [predicted_first_error(row) for row in scores]
    return first_error_f1(predicted, [s.label for s in solutions]) | {"predicted": predicted, "scores": scores}


def length_first_error(steps: Sequence[str], threshold: int) -> int:
    """The length-only prediction: the first step longer than `threshold` characters (or none)."""
    return next((i for i, step in enumerate(steps) if len(step) > threshold), NO_ERROR)


def fit_length_baseline(solutions: Sequence[LabeledSolution]) -> int:
    """The character threshold with the best first-error F1 on these (training) solutions."""
    candidates = sorted({len(step) for s in solutions for step in s.steps} | {0})
    labels = [s.label for s in solutions]

    def f1(threshold: int) -> float:
        return first_error_f1([length_first_error(s.steps, threshold) for s in solutions], labels)["f1"]

    return max(candidates, key=f1)


def length_baseline_f1(train: Sequence[LabeledSolution], heldout: Sequence[LabeledSolution]) -> dict[str, Any]:
    """The length-only baseline fitted on `train`, measured on `heldout`."""
    threshold = fit_length_baseline(train)
    predicted = [length_first_error(s.steps, threshold) for s in heldout]
    return first_error_f1(predicted, [s.label for s in heldout]) | {"threshold_chars": threshold}
