"""Translation metrics (rlcore/translation_metrics.py), MQM from QE tags (rewards/qe.py) and the chrF/BLEU rewards."""

from __future__ import annotations

import pytest

import rewards.translation_metric  # noqa: F401  registers chrf and bleu without relying on installed entry points
from rewards import REWARDS
from rewards.qe import error_spans, mixed_scores, mqm_score, mqm_scores
from rlcore.translation_metrics import (
    corpus_score,
    sentence_scores,
    symmetric_scores,
    symmetric_similarity,
    thresholded,
)

SHORT, LONG = "the cat", "the cat sat on the mat"


@pytest.mark.parametrize("metric", ["chrf", "bleu"])
def test_identical_sentences_score_one_and_disjoint_zero(metric):
    assert sentence_scores(metric, ["the cat sat", "cat"], ["the cat sat", "cat"]) == [1.0, 1.0]
    assert sentence_scores(metric, ["xyz", ""], ["abc", "abc"]) == [0.0, 0.0]


@pytest.mark.parametrize("metric", ["chrf", "bleu"])
def test_symmetric_metric_is_the_mean_of_both_directions(metric):
    forward, backward = sentence_scores(metric, [SHORT], [LONG])[0], sentence_scores(metric, [LONG], [SHORT])[0]
    assert forward != pytest.approx(backward)  # the one-way metric is not symmetric...
    sym = symmetric_scores(metric, [SHORT, LONG], [LONG, SHORT])
    assert sym[0] == pytest.approx((forward + backward) / 2)
    assert sym[0] == pytest.approx(sym[1])  # ...its symmetric form is
    assert symmetric_similarity(metric)([SHORT], [LONG]) == pytest.approx([sym[0]])
    assert 0 < sym[0] < 1


def test_corpus_scores_pool_statistics():
    assert corpus_score("chrf", ["the cat sat", "a dog ran"], ["the cat sat", "a dog ran"]) == 1.0
    assert 0 < corpus_score("chrf", ["the cat sat", "a dog"], ["the cat sat", "a dog ran"]) < 1
    # corpus BLEU needs 4-gram matches somewhere in the corpus: three-word sentences have none
    assert corpus_score("bleu", ["the cat sat"], ["the cat sat"]) == 0.0
    assert corpus_score("bleu", [LONG], [LONG]) == 1.0


def test_lists_of_unequal_length_are_an_error():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        sentence_scores("chrf", ["a", "b"], ["a"])
    with pytest.raises(ValueError):
        corpus_score("bleu", ["a"], [])


def test_threshold_zeroes_scores_below_it():
    assert thresholded([0.1, 0.25, 0.3, 0.0], 0.25) == [0.0, 0.25, 0.3, 0.0]
    assert thresholded([0.1], 0.0) == [0.1]


def test_error_spans_are_maximal_runs_of_one_severity():
    tags = ["OK", "minor", "minor", "major", "OK", "critical", "minor", "OK", "minor"]
    assert error_spans(tags) == [(1, 3, "minor"), (3, 4, "major"), (5, 6, "critical"), (6, 7, "minor"), (8, 9, "minor")]
    assert error_spans(["OK", "OK"]) == []
    with pytest.raises(ValueError, match="unknown QE tag 'BAD' at word 1"):
        error_spans(["OK", "BAD"])


def test_mqm_with_both_weight_settings():
    tags = ["OK", "minor", "minor", "major", "OK", "critical", "OK", "OK", "OK", "OK"]  # spans: minor, major, critical
    assert mqm_score(tags) == pytest.approx(1 - (0.1 + 1 + 5) / 10)
    assert mqm_score(tags, "1/5/10") == pytest.approx(1 - (1 + 5 + 10) / 10)  # -0.6: MQM is not clipped
    # a run counts once: two minor spans over three minor words
    assert mqm_score(["minor", "minor", "OK", "minor"]) == pytest.approx(1 - 0.2 / 4)
    assert mqm_scores([["OK"] * 3, []]) == [1.0, 0.0]  # no words, nothing translated


def test_mqm_mixed_with_regression():
    assert mixed_scores([0.39, 1.0], [0.8, 0.0], 0.25) == pytest.approx([0.75 * 0.39 + 0.25 * 0.8, 0.75])
    assert mixed_scores([0.39], [0.8], 0.0) == [0.39]
    with pytest.raises(ValueError):
        mixed_scores([0.3], [0.5], 1.5)
    with pytest.raises(ValueError):
        mixed_scores([0.3], [], 0.5)


@pytest.mark.parametrize("name", ["chrf", "bleu"])
def test_metric_rewards_score_the_response_against_the_reference(name):
    cls = REWARDS.get(name)
    samples = [
        {"response_text": "the cat sat on the mat\n", "reference": "the cat sat on the mat", "target": "x"},
        {"response_text": "a dog", "reference": "the cat sat on the mat", "target": "a dog"},
    ]
    scores = cls(cls.Config(name=name)).score(samples)
    assert scores[0] == 1.0  # the trailing newline of a generation is not part of the translation
    assert scores[1] == sentence_scores(name, ["a dog"], ["the cat sat on the mat"])[0]
    assert cls(cls.Config(name=name, reference_key="target")).score(samples)[1] == 1.0
    assert cls(cls.Config(name=name, threshold=0.99)).score(samples) == [1.0, 0.0]
    assert cls.runs_in_subprocess


def test_metric_reward_config_is_strict():
    with pytest.raises(ValueError):
        REWARDS.get("chrf").Config(name="chrf", referense_key="target")
