"""Held-out evaluation, the one path every caller uses (training runs, `rlcore eval`, iterative DPO): greedy answers
per language, graded for final-answer correctness, with the multilingual report (Acc@k, majority vote)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from rlcore.batch import Batch
from rlcore.grading import final_answer, grade_answer
from rlcore.multilingual import ParallelResults, parallel_report, report_metrics


class Generator(Protocol):
    """Anything with the rollout verb: the training Runtime, or the rollout-only workers of `rlcore eval`."""

    def generate(self, prompts: Batch, n: int, sampling: dict[str, Any] | None = None) -> Batch: ...


def evaluate(
    generator: Generator,
    rows: Sequence[dict[str, Any]],
    max_tokens: int,
    language_order: Sequence[str] | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Greedy answers to the held-out rows: (flat metrics for metrics.jsonl, the full multilingual report).

    Per-language accuracy uses every row; Acc@k and majority vote use the questions present in all languages."""
    samples = generator.generate(Batch.from_rows(rows), n=1, sampling={"temperature": 0.0, "max_tokens": max_tokens})
    answers = [final_answer(text) for text in samples["response_text"]]
    correct = _graded(answers, samples)
    results = ParallelResults.from_graded(samples["id"], samples["language"], correct, answers, language_order)
    report = parallel_report(results)
    metrics = accuracy_metrics(samples, correct)
    if report["questions"] and len(report["languages"]) > 1:  # cross-language measures need parallel questions
        metrics |= report_metrics(report)
    return metrics, report


def score_correctness(samples: Batch) -> np.ndarray:
    """1.0 where a response's final answer (read in the sample's language) equals the gold answer."""
    return _graded([final_answer(text) for text in samples["response_text"]], samples)


def _graded(answers: Sequence[str | None], samples: Batch) -> np.ndarray:
    graded = zip(answers, samples["answer"], samples["language"], strict=True)
    return np.array([grade_answer(answer, gold, language) for answer, gold, language in graded], dtype=np.float32)


def accuracy_by_language(samples: Batch, correct: np.ndarray) -> dict[str, float]:
    buckets: dict[str, list[float]] = defaultdict(list)
    for language, value in zip(samples["language"], correct, strict=True):
        buckets[language].append(float(value))
    return {language: float(np.mean(values)) for language, values in sorted(buckets.items())}


def accuracy_metrics(samples: Batch, correct: np.ndarray) -> dict[str, float]:
    """`eval/accuracy/<language>`, their mean and `eval/n/<language>` (the count), from graded samples."""
    per_language = accuracy_by_language(samples, correct)
    metrics = {f"eval/accuracy/{language}": value for language, value in per_language.items()}
    metrics["eval/accuracy/mean"] = float(np.mean(list(per_language.values())))
    counts = Counter(samples["language"])  # the n of each accuracy, for its standard error
    metrics.update({f"eval/n/{language}": counts[language] for language in per_language})
    return metrics
