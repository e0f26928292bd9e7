"""Sentence MQM from word-level QE tags (ADSQE, METHODS.md §5): MQM = 1 − Σ_span weight(severity) / #words, and its
mix with a regression score, (1 − i)·MQM + i·regression.

A word is tagged `OK` or with an error severity (`minor`, `major`, `critical`). Span rule: a span is a maximal run of
consecutive words with the same non-OK severity. An OK word or a change of severity ends a span, so
`minor minor major OK minor` holds three spans (minor, major, minor): a long error counts once, which is why MQM
divides span weights, not word weights, by the number of words.

Choices where the method is silent: MQM is not clipped (many critical spans in a short sentence go below 0, as in
MQM); a translation of zero words scores 0 (nothing was translated).

Here in rlcore (not rewards/qe.py, which re-exports it) because the embedded world's synthetic QE data
(rlcore/world/qe_data.py) scores its rows with it too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

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


# QE model inference, shared by the `qe` reward (rewards/qe.py) and the tiny world QE model's evaluation
# (rlcore/world/qe_data.py): a transformers model reads (source, translation) as a text pair, the way XLM-R-style
# QE models (and the tiny world model) are trained.


def translation_word_starts(encoding: Any, row: int) -> dict[int, int]:
    """Translation word index -> position of its first token in row `row` of a fast tokenizer's pair encoding made
    with `is_split_into_words=True` (the second sequence is the translation). Words cut off by truncation are absent."""
    starts: dict[int, int] = {}
    for position, (sequence, word) in enumerate(zip(encoding.sequence_ids(row), encoding.word_ids(row), strict=True)):
        if sequence == 1 and word is not None:
            starts.setdefault(word, position)
    return starts


def encode_pairs(tokenizer: Any, sources: Sequence[str], translations: Sequence[str], max_length: int = 512) -> Any:
    """Padded, truncated pair encoding (torch tensors) of word-split (source, translation) pairs."""
    if len(sources) != len(translations):
        raise ValueError(f"{len(sources)} sources but {len(translations)} translations")
    return tokenizer(
        [s.split() for s in sources],
        [t.split() for t in translations],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )


def _pair_batches(
    tokenizer: Any, sources: Sequence[str], translations: Sequence[str], micro_batch_size: int, max_length: int
) -> Iterator[tuple[Any, int]]:
    """(encoding of one micro-batch of pairs, its first row's index) in order."""
    if len(sources) != len(translations):
        raise ValueError(f"{len(sources)} sources but {len(translations)} translations")
    for start in range(0, len(sources), micro_batch_size):
        stop = start + micro_batch_size
        yield encode_pairs(tokenizer, sources[start:stop], translations[start:stop], max_length), start


def regression_predictions(
    model: Any,
    tokenizer: Any,
    sources: Sequence[str],
    translations: Sequence[str],
    micro_batch_size: int = 32,
    max_length: int = 512,
) -> list[float]:
    """A num_labels=1 sequence-classification (regression) model's score of each (source, translation) pair."""
    import torch

    device = next(model.parameters()).device
    scores: list[float] = []
    with torch.no_grad():
        for encoding, _ in _pair_batches(tokenizer, sources, translations, micro_batch_size, max_length):
            logits = model(**encoding.to(device)).logits
            scores += logits[:, 0].float().cpu().tolist()
    return scores


def word_tag_predictions(
    model: Any,
    tokenizer: Any,
    sources: Sequence[str],
    translations: Sequence[str],
    micro_batch_size: int = 32,
    max_length: int = 512,
) -> list[list[str]]:
    """A token-classification model's tag (its `config.id2label`: OK/minor/major/critical) of each whitespace word
    of each translation, read at the word's first token; a word cut off by truncation is tagged OK (not judged)."""
    import torch

    device = next(model.parameters()).device
    labels = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]
    tags: list[list[str]] = []
    with torch.no_grad():
        for encoding, start in _pair_batches(tokenizer, sources, translations, micro_batch_size, max_length):
            predicted = model(**encoding.to(device)).logits.argmax(dim=-1).cpu().tolist()
            for row, ids in enumerate(predicted):
                starts = translation_word_starts(encoding, row)
                words = len(translations[start + row].split())
                tags.append([labels[ids[starts[w]]] if w in starts else OK for w in range(words)])
    return tags
