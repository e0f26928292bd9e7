"""Translation quality estimation (ADSQE, METHODS.md §5): sentence scores from word-level QE tags.

A QE model tags each word of a translation `OK` or with an error severity (`minor`, `major`, `critical`); the
sentence score is MQM = 1 − Σ_span weight(severity) / #words, optionally mixed with the model's regression head:
(1 − i)·MQM + i·regression.

Span rule: a span is a maximal run of consecutive words with the same non-OK severity. An OK word or a change of
severity ends a span, so `minor minor major OK minor` holds three spans (minor, major, minor): a long error counts
once, which is why MQM divides span weights, not word weights, by the number of words.

Choices where the method is silent: MQM is not clipped (many critical spans in a short sentence go below 0, as in
MQM); a translation of zero words scores 0 (nothing was translated).

Not yet here: the QE reward itself (a reward worker that loads a transformers/COMET QE model, tags (source,
translation) pairs in batches and returns these scores) and the synthetic QE data pipeline of §5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

OK = "OK"
SEVERITIES = ("minor", "major", "critical")
WeightScheme = Literal["0.1/1/5", "1/5/10"]
# Penalty per error span by severity: ADSQE's main setting and its alternative.
SEVERITY_WEIGHTS: dict[str, dict[str, float]] = {
    "0.1/1/5": {"minor": 0.1, "major": 1.0, "critical": 5.0},
    "1/5/10": {"minor": 1.0, "major": 5.0, "critical": 10.0},
}


def error_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, severity) of each maximal run of equal non-OK tags, `end` exclusive, in word order."""
    spans: list[tuple[int, int, str]] = []
    for index, tag in enumerate(tags):
        if tag != OK and tag not in SEVERITIES:
            raise ValueError(f"unknown QE tag {tag!r} at word {index}: expected OK, minor, major or critical")
        if tag == OK:
            continue
        if spans and spans[-1][1] == index and spans[-1][2] == tag:
            spans[-1] = (spans[-1][0], index + 1, tag)  # the run goes on
        else:
            spans.append((index, index + 1, tag))
    return spans


def mqm_score(tags: Sequence[str], weights: WeightScheme = "0.1/1/5") -> float:
    """MQM = 1 − Σ_span weight(severity) / #words for one translation's word tags."""
    if not tags:
        return 0.0
    table = SEVERITY_WEIGHTS[weights]
    penalty = sum(table[severity] for _, _, severity in error_spans(tags))
    return 1.0 - penalty / len(tags)


def mqm_scores(tag_lists: Sequence[Sequence[str]], weights: WeightScheme = "0.1/1/5") -> list[float]:
    """mqm_score of each translation, in order."""
    return [mqm_score(tags, weights) for tags in tag_lists]


def mixed_scores(mqm: Sequence[float], regression: Sequence[float], regression_weight: float) -> list[float]:
    """(1 − i)·MQM + i·regression per translation, i = regression_weight in [0, 1]."""
    if not 0.0 <= regression_weight <= 1.0:
        raise ValueError(f"regression_weight must be in [0, 1], got {regression_weight}")
    if len(mqm) != len(regression):
        raise ValueError(f"{len(mqm)} MQM scores but {len(regression)} regression scores")
    return [(1.0 - regression_weight) * m + regression_weight * r for m, r in zip(mqm, regression, strict=True)]
