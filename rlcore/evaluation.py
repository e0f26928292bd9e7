"""Held-out evaluation, the one path every caller uses (training runs, `rlcore eval`, iterative DPO): greedy answers
per language, graded for final-answer correctness, with the multilingual report (Acc@k, majority vote)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from rlcore.batch import Batch
from rlcore.grading import final_answer, grade_answers, normalize_answers
from rlcore.multilingual import ParallelResults, parallel_report, report_metrics
from rlcore.stats import Interval, paired_bootstrap_interval, paired_change_interval, wilson_interval


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

    Per-language accuracy uses every row; Acc@k and majority vote use the questions present in all languages. The
    report keeps every row's grade (`graded`: language -> question id -> 0/1) for paired before/after intervals."""
    samples = generator.generate(Batch.from_rows(rows), n=1, sampling={"temperature": 0.0, "max_tokens": max_tokens})
    answers = [final_answer(text) for text in samples["response_text"]]
    correct = _graded(answers, samples)
    keys = normalize_answers(answers, [str(language) for language in samples["language"]])  # bounded, as grading
    results = ParallelResults.from_graded(samples["id"], samples["language"], correct, answers, language_order, keys)
    report = parallel_report(results)
    report["graded"] = graded_by_language(samples, correct)
    metrics = accuracy_metrics(samples, correct)
    if report["questions"] and len(report["languages"]) > 1:  # cross-language measures need parallel questions
        metrics |= report_metrics(report)
    return metrics, report


def score_correctness(samples: Batch) -> np.ndarray:
    """1.0 where a response's final answer (read in the sample's language) equals the gold answer."""
    return _graded([final_answer(text) for text in samples["response_text"]], samples)


def _graded(answers: Sequence[str | None], samples: Batch) -> np.ndarray:
    # In worker processes under a deadline: a pathological answer is graded wrong instead of hanging the driver.
    return np.array(grade_answers(answers, samples["answer"], samples["language"]), dtype=np.float32)


def graded_by_language(samples: Batch, correct: np.ndarray) -> dict[str, dict[str, int]]:
    """language -> question id -> 1 (correct) or 0, languages sorted."""
    graded: dict[str, dict[str, int]] = defaultdict(dict)
    for qid, language, value in zip(samples["id"], samples["language"], correct, strict=True):
        graded[str(language)][str(qid)] = int(value > 0)
    return {language: graded[language] for language in sorted(graded)}


def accuracy_by_language(samples: Batch, correct: np.ndarray) -> dict[str, float]:
    buckets: dict[str, list[float]] = defaultdict(list)
    for language, value in zip(samples["language"], correct, strict=True):
        buckets[language].append(float(value))
    return {language: float(np.mean(values)) for language, values in sorted(buckets.items())}


def accuracy_metrics(samples: Batch, correct: np.ndarray) -> dict[str, float]:
    """`eval/accuracy/<language>` and their mean, from graded samples; per language also the number of questions
    `eval/n/<language>` and the 95% Wilson interval `eval/accuracy_low/<language>`, `eval/accuracy_high/<language>`."""
    per_language = accuracy_by_language(samples, correct)
    metrics = {f"eval/accuracy/{language}": value for language, value in per_language.items()}
    metrics["eval/accuracy/mean"] = float(np.mean(list(per_language.values())))
    for language, grades in graded_by_language(samples, correct).items():
        interval = wilson_interval(sum(grades.values()), len(grades))
        metrics |= {f"eval/n/{language}": len(grades), f"eval/accuracy_low/{language}": interval.low}
        metrics[f"eval/accuracy_high/{language}"] = interval.high
    return metrics


def accuracy_changes(
    before: Mapping[str, Mapping[str, int]], after: Mapping[str, Mapping[str, int]], pivot: str = "en"
) -> dict[str, dict[str, Any]]:
    """The change of accuracy from one evaluation to another (their reports' `graded`), on the questions graded in
    both: per language by Newcombe's paired interval; for `mean` (over languages) and `mean_non_<pivot>` (over the
    other languages, when there are two or more) by a paired bootstrap over the questions graded in every language
    of the per-question mean change. Each entry: `Interval.to_dict()` plus the `before` and `after` accuracies."""
    languages = [lang for lang in after if lang in before and any(q in before[lang] for q in after[lang])]
    changes: dict[str, dict[str, Any]] = {}
    for lang in languages:
        ids = [q for q in after[lang] if q in before[lang]]
        x, y = np.array([before[lang][q] for q in ids]), np.array([after[lang][q] for q in ids])
        changes[lang] = _with_accuracies(paired_change_interval(x, y), x, y)
    for name, group in language_groups(languages, pivot).items():
        shared = [q for q in after[group[0]] if all(q in before[lang] and q in after[lang] for lang in group)]
        if shared and len(group) > 1:
            x = np.mean([[before[lang][q] for q in shared] for lang in group], axis=0)
            y = np.mean([[after[lang][q] for q in shared] for lang in group], axis=0)
            changes[name] = _with_accuracies(paired_bootstrap_interval(y - x), x, y)
    return changes


def language_groups(languages: Sequence[str], pivot: str = "en") -> dict[str, list[str]]:
    """The means a report gives beside each language: `mean` (all of them) and `mean_non_<pivot>` (the others, when
    the pivot language is evaluated with two or more others)."""
    others = [lang for lang in languages if lang != pivot]
    groups = {"mean": list(languages)} if len(languages) > 1 else {}
    return groups | ({f"mean_non_{pivot}": others} if pivot in languages and len(others) > 1 else {})


def _with_accuracies(interval: Interval, before: np.ndarray, after: np.ndarray) -> dict[str, Any]:
    return interval.to_dict() | {"before": float(before.mean()), "after": float(after.mean())}
