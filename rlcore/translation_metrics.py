"""Reference-based translation metrics on a [0, 1] scale: sacrebleu's chrF and BLEU, per sentence and per corpus.

Used by the `chrf`/`bleu` rewards, by G-MCTS simulation (the symmetric metric of METHODS.md §6) and for validation on
held-out parallel sets. Every function is batched: lists in, lists out, in order; lists of unequal length are an
error. A score is sacrebleu's 0–100 score divided by 100 and clipped to [0, 1] (BLEU of identical sentences is
100.00000000000004 in floating point).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Literal

from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.metrics.base import Metric

MetricName = Literal["chrf", "bleu"]
# (hypotheses, references) -> one score per pair; symmetric_similarity returns one whose order does not matter.
Similarity = Callable[[Sequence[str], Sequence[str]], list[float]]


@cache
def _sentence_metric(metric: MetricName) -> Metric:
    # effective_order: a short sentence without 4-gram matches would otherwise score 0 BLEU
    return {"chrf": CHRF(), "bleu": BLEU(effective_order=True)}[metric]


@cache
def _corpus_metric(metric: MetricName) -> Metric:
    return {"chrf": CHRF(), "bleu": BLEU()}[metric]


def _unit(score: float) -> float:
    return min(1.0, max(0.0, score / 100.0))


def _check_lengths(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")


def sentence_scores(metric: MetricName, hypotheses: Sequence[str], references: Sequence[str]) -> list[float]:
    """m(hypothesis → reference) for each pair: sentence chrF or BLEU in [0, 1]."""
    _check_lengths(hypotheses, references)
    scorer = _sentence_metric(metric)
    return [_unit(scorer.sentence_score(hyp, [ref]).score) for hyp, ref in zip(hypotheses, references, strict=True)]


def symmetric_scores(metric: MetricName, a: Sequence[str], b: Sequence[str]) -> list[float]:
    """sym(a, b) = (m(a → b) + m(b → a)) / 2 per pair: chrF and BLEU are not symmetric on their own."""
    forward, backward = sentence_scores(metric, a, b), sentence_scores(metric, b, a)
    return [(f + r) / 2 for f, r in zip(forward, backward, strict=True)]


def symmetric_similarity(metric: MetricName) -> Similarity:
    """The symmetric metric of `metric` as a batched similarity function (G-MCTS's scorer)."""

    def similarity(a: Sequence[str], b: Sequence[str]) -> list[float]:
        return symmetric_scores(metric, a, b)

    return similarity


def corpus_score(metric: MetricName, hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF or BLEU of a validation set in [0, 1] (statistics pooled over sentences, not averaged)."""
    _check_lengths(hypotheses, references)
    return _unit(_corpus_metric(metric).corpus_score(list(hypotheses), [list(references)]).score)


def thresholded(scores: Sequence[float], threshold: float) -> list[float]:
    """Scores below `threshold` become 0 (a reconstruction that shares that little with x is noise, not signal)."""
    return [score if score >= threshold else 0.0 for score in scores]
