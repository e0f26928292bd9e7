"""ProcessBench-style first-error evaluation of process scores: read solutions in ProcessBench's field layout
(`id`, `problem`, `steps`, `label` = index of the first wrong step or -1, `final_answer_correct`), predict the first
error as the first step scored below a threshold, and report accuracy on erroneous and on correct solutions and
their harmonic mean (F1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcore.data import DataError, read_records

NO_ERROR = -1
THRESHOLD = 0.5


@dataclass(frozen=True)
class LabeledSolution:
    id: str
    problem: str
    steps: tuple[str, ...]
    label: int  # index of the first wrong step, NO_ERROR when every step is right
    final_answer_correct: bool | None = None


def predicted_first_error(scores: Sequence[float], threshold: float = THRESHOLD) -> int:
    """The first step whose score is below `threshold`, or NO_ERROR."""
    return next((i for i, score in enumerate(scores) if score < threshold), NO_ERROR)


def first_error_f1(predicted: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    """`error_accuracy` (erroneous solutions whose first error is found at the labelled step), `correct_accuracy`
    (correct solutions predicted without error), `f1` (their harmonic mean; 0 when either is 0) and the counts."""
    if len(predicted) != len(labels):
        raise ValueError(f"{len(predicted)} predictions for {len(labels)} labels")
    erroneous = [p == y for p, y in zip(predicted, labels, strict=True) if y != NO_ERROR]
    correct = [p == NO_ERROR for p, y in zip(predicted, labels, strict=True) if y == NO_ERROR]
    error_accuracy = sum(erroneous) / len(erroneous) if erroneous else 0.0
    correct_accuracy = sum(correct) / len(correct) if correct else 0.0
    total = error_accuracy + correct_accuracy
    return {
        "error_accuracy": error_accuracy,
        "correct_accuracy": correct_accuracy,
        "f1": 2 * error_accuracy * correct_accuracy / total if total else 0.0,
        "n_erroneous": float(len(erroneous)),
        "n_correct": float(len(correct)),
    }


def read_processbench(path: str | Path) -> list[LabeledSolution]:
    """Rows of a ProcessBench-layout JSONL/JSON/Parquet file; a malformed row is a DataError naming file and line."""
    source = Path(path)
    solutions = [_solution(row, f"{source}:{number}") for number, row in read_records(source)]
    if not solutions:
        raise DataError(f"{source}: no solutions")
    return solutions


def _solution(row: dict[str, Any], where: str) -> LabeledSolution:
    missing = [key for key in ("id", "problem", "steps", "label") if key not in row]
    if missing:
        raise DataError(f"{where}: row lacks {missing} (has {sorted(row)})")
    steps, label = row["steps"], row["label"]
    if not isinstance(steps, list) or not steps or not all(isinstance(step, str) for step in steps):
        raise DataError(f"{where}: 'steps' must be a non-empty list of strings")
    if isinstance(label, bool) or not isinstance(label, int) or not NO_ERROR <= label < len(steps):
        raise DataError(f"{where}: 'label' must be -1 or a step index below {len(steps)}, got {label!r}")
    if not isinstance(row["problem"], str) or not row["problem"]:
        raise DataError(f"{where}: 'problem' must be a non-empty string")
    final_correct = row.get("final_answer_correct")
    if final_correct is not None and not isinstance(final_correct, bool):
        raise DataError(f"{where}: 'final_answer_correct' must be true or false, got {final_correct!r}")
    return LabeledSolution(str(row["id"]), row["problem"], tuple(steps), label, final_correct)
