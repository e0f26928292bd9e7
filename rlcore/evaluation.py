"""Held-out evaluation: greedy answers per language, scored for final-answer correctness."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from rlcore.batch import Batch
from rlcore.grading import is_correct


def score_correctness(samples: Batch) -> np.ndarray:
    """1.0 where a response's final answer (read in the sample's language) equals the gold answer."""
    graded = zip(samples["response_text"], samples["answer"], samples["language"], strict=True)
    return np.array([is_correct(text, gold, language) for text, gold, language in graded], dtype=np.float32)


def accuracy_by_language(samples: Batch, correct: np.ndarray) -> dict[str, float]:
    buckets: dict[str, list[float]] = defaultdict(list)
    for language, value in zip(samples["language"], correct, strict=True):
        buckets[language].append(float(value))
    return {language: float(np.mean(values)) for language, values in sorted(buckets.items())}


def greedy_graded(generator, rows: Sequence[dict[str, Any]], max_tokens: int) -> tuple[Batch, np.ndarray]:
    """One greedy answer per held-out row, and whether each is correct."""
    samples = generator.generate(Batch.from_rows(rows), n=1, sampling={"temperature": 0.0, "max_tokens": max_tokens})
    return samples, score_correctness(samples)


def evaluate(runtime, rows: Sequence[dict[str, Any]], max_tokens: int) -> dict[str, float]:
    """`eval/accuracy/<language>` and `eval/accuracy/mean` of greedy decoding on the held-out rows."""
    return accuracy_metrics(*greedy_graded(runtime, rows, max_tokens))


def accuracy_metrics(samples: Batch, correct: np.ndarray) -> dict[str, float]:
    """`eval/accuracy/<language>` and their mean, from graded samples."""
    per_language = accuracy_by_language(samples, correct)
    metrics = {f"eval/accuracy/{language}": value for language, value in per_language.items()}
    metrics["eval/accuracy/mean"] = float(np.mean(list(per_language.values())))
    return metrics
