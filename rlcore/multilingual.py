"""Multilingual evaluation on parallel questions: accuracy per language, Acc@k over languages (a question counts as
solved if any of its k language versions is), and majority vote across languages as an answer-selection baseline.

The pure functions take a `ParallelResults` table (questions x languages); rlcore.evaluation builds it from greedy
generations.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlcore.grading import normalize_answer
from rlcore.stats import wilson_interval

_MAX_SUBSETS = 5000  # above this many k-subsets, Acc@k's best subset is searched greedily (documented)


@dataclass
class ParallelResults:
    """Per (question, language): correct or not and the extracted final answer (None when there is none).

    Only questions present in every language are kept, so that columns are comparable."""

    ids: list[str]
    languages: list[str]
    correct: np.ndarray  # [questions, languages] bool
    answers: list[list[str | None]]  # [questions][languages]

    @classmethod
    def from_graded(
        cls,
        ids: Sequence[str],
        languages: Sequence[str],
        correct: Sequence[bool] | np.ndarray,
        answers: Sequence[str | None],
        language_order: Sequence[str] | None = None,
        keys: Sequence[str | None] | None = None,
    ) -> ParallelResults:
        """One entry per graded response (its final answer, raw: kept as the grader's normalisation in its
        language, the voting key, unless `keys` gives them, e.g. from the bounded grading.normalize_answers);
        columns follow `language_order` (default: first-seen order)."""
        if keys is None:
            keys = [
                normalize_answer(answer, str(language)) for answer, language in zip(answers, languages, strict=True)
            ]
        order = list(language_order or dict.fromkeys(languages))
        cells: dict[tuple[str, str], tuple[bool, str | None]] = {}
        for qid, language, ok, key in zip(ids, languages, correct, keys, strict=True):
            cells[(str(qid), str(language))] = (bool(ok), key)
        present = [lang for lang in order if any(key[1] == lang for key in cells)]
        question_ids = [q for q in dict.fromkeys(str(q) for q in ids) if all((q, lang) in cells for lang in present)]
        table = np.array([[cells[(q, lang)][0] for lang in present] for q in question_ids], dtype=bool)
        voted = [[cells[(q, lang)][1] for lang in present] for q in question_ids]
        return cls(question_ids, present, table.reshape(len(question_ids), len(present)), voted)


def accuracy_per_language(results: ParallelResults) -> dict[str, float]:
    return {
        lang: float(results.correct[:, j].mean()) if len(results.ids) else 0.0
        for j, lang in enumerate(results.languages)
    }


def acc_at_k(results: ParallelResults) -> dict[int, dict[str, Any]]:
    """For k = 1..L: the best k-language subset (max over subsets of the share of questions solved by any language
    in it), and the mean over all k-subsets. Exhaustive up to _MAX_SUBSETS subsets per k, else greedy forward
    selection for `best` and a seeded sample of subsets for `mean`."""
    correct, languages = results.correct, results.languages
    out: dict[int, dict[str, Any]] = {}
    for k in range(1, len(languages) + 1):
        if math.comb(len(languages), k) <= _MAX_SUBSETS:
            subsets = list(itertools.combinations(range(len(languages)), k))
            best, greedy = None, False
        else:
            rng = np.random.default_rng(k)
            subsets = [tuple(sorted(rng.choice(len(languages), k, replace=False))) for _ in range(_MAX_SUBSETS)]
            best, greedy = _greedy_subset(correct, k), True
        scores = [_solved_by_any(correct, subset) for subset in subsets]
        if best is None:
            best = subsets[int(np.argmax(scores))]
        out[k] = {
            "best": _solved_by_any(correct, best),
            "best_subset": [languages[j] for j in best],
            "mean": float(np.mean(scores)),
            "subsets": len(subsets),
            "greedy": greedy,
        }
    return out


def _solved_by_any(correct: np.ndarray, subset: Sequence[int]) -> float:
    return float(correct[:, list(subset)].any(axis=1).mean()) if len(correct) else 0.0


def _greedy_subset(correct: np.ndarray, k: int) -> tuple[int, ...]:
    chosen: list[int] = []
    for _ in range(k):
        rest = [j for j in range(correct.shape[1]) if j not in chosen]
        chosen.append(max(rest, key=lambda j: _solved_by_any(correct, [*chosen, j])))
    return tuple(sorted(chosen))


def majority_vote(results: ParallelResults) -> dict[str, Any]:
    """Per question, the most common extracted answer across its language versions wins (responses without an
    answer do not vote). Ties go to the tied answer given by the earliest language in `results.languages`
    (English first by convention). The question is solved if that answer is correct; no votes = unsolved."""
    solved = []
    for row_answers, row_correct in zip(results.answers, results.correct, strict=True):
        votes = Counter(a for a in row_answers if a is not None)
        if not votes:
            solved.append(False)
            continue
        top = max(votes.values())
        winner_column = next(j for j, a in enumerate(row_answers) if a is not None and votes[a] == top)
        solved.append(bool(row_correct[winner_column]))
    return {"accuracy": float(np.mean(solved)) if solved else 0.0, "questions": len(solved)}


def parallel_report(results: ParallelResults) -> dict[str, Any]:
    """Everything the multilingual evaluation reports, JSON-able."""
    per_language = accuracy_per_language(results)
    return {
        "questions": len(results.ids),
        "languages": results.languages,
        "accuracy": per_language,
        "mean_accuracy": float(np.mean(list(per_language.values()))) if per_language else 0.0,
        "acc_at_k": {str(k): v for k, v in acc_at_k(results).items()},
        "majority_vote": majority_vote(results),
    }


def report_metrics(report: dict[str, Any], prefix: str = "eval") -> dict[str, float]:
    """Flat scalar metrics of a report (for metrics.jsonl): acc_at_k/<k> (best subset), majority_vote."""
    metrics = {f"{prefix}/acc_at_k/{k}": v["best"] for k, v in report["acc_at_k"].items()}
    metrics[f"{prefix}/majority_vote"] = report["majority_vote"]["accuracy"]
    metrics[f"{prefix}/parallel_questions"] = report["questions"]
    return metrics


def report_tables(report: dict[str, Any], title: str) -> str:
    """The report as two rich tables on the terminal (also returned as text)."""
    from rlcore.metrics import summary_table

    n = report["questions"]
    rows = [[lang, f"{100 * acc:.1f}%", _wilson_text(acc, n)] for lang, acc in report["accuracy"].items()]
    rows.append(["mean", f"{100 * report['mean_accuracy']:.1f}%", "-"])
    vote = report["majority_vote"]["accuracy"]
    rows.append(["majority vote", f"{100 * vote:.1f}%", _wilson_text(vote, n)])
    text = summary_table(f"{title}: accuracy on {n} parallel questions", ["language", "accuracy", "95% (Wilson)"], rows)
    rows = [
        [k, f"{100 * v['best']:.1f}%", " ".join(v["best_subset"]), f"{100 * v['mean']:.1f}%"]
        for k, v in report["acc_at_k"].items()
    ]
    return text + summary_table(
        f"{title}: Acc@k over languages", ["k", "best", "best subset", "mean over subsets"], rows
    )


def _wilson_text(accuracy: float, questions: int) -> str:
    interval = wilson_interval(round(accuracy * questions), questions)
    return f"[{100 * interval.low:.1f}, {100 * interval.high:.1f}]"
