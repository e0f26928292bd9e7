"""Acc@k over languages, majority vote and the parallel results table on hand-made tables (`make mutation`).

Scope: the pure functions. `normalize_answer` (the voting key) is only used here through answers that are
already plain integers; `evaluate_parallel` needs generating workers and `report_tables` is display.
"""

from __future__ import annotations

import numpy as np
import pytest

from rlcore.multilingual import (
    ParallelResults,
    acc_at_k,
    accuracy_per_language,
    majority_vote,
    parallel_report,
    report_metrics,
)


def table(correct: list[list[bool]], answers: list[list[str | None]] | None = None, languages=None) -> ParallelResults:
    languages = languages or ["en", "fr", "de", "ja"][: len(correct[0])]
    answers = answers or [[None] * len(languages) for _ in correct]
    return ParallelResults([f"q{i}" for i in range(len(correct))], languages, np.array(correct, bool), answers)


def test_from_graded_builds_the_question_by_language_table():
    results = ParallelResults.from_graded(
        ids=["b", "b", "a", "a", 7, 7, "c"],
        languages=["fr", "en", "en", "fr", "fr", "en", "en"],
        correct=[1, 0, True, False, 0, 1, True],
        answers=["3", None, "1", "2", "4", "4", "5"],
    )
    # first-seen language order; question "c" lacks French and is left out; ids become strings
    assert results.ids == ["b", "a", "7"] and results.languages == ["fr", "en"]
    assert results.correct.dtype == bool
    assert results.correct.tolist() == [[True, False], [False, True], [False, True]]
    assert results.answers == [["3", None], ["2", "1"], ["4", "4"]]


def test_from_graded_follows_the_given_language_order_and_skips_absent_languages():
    results = ParallelResults.from_graded(["q", "q"], ["en", "fr"], [True, False], ["1", "2"], ["de", "fr", "en"])
    assert results.languages == ["fr", "en"] and results.correct.tolist() == [[False, True]]
    assert results.answers == [["2", "1"]]
    with pytest.raises(ValueError):
        ParallelResults.from_graded(["q"], ["en", "fr"], [True], ["1"])  # lengths must match


def test_from_graded_with_no_complete_question_is_an_empty_table_of_the_right_shape():
    results = ParallelResults.from_graded(["a", "b"], ["en", "fr"], [True, True], ["1", "1"])
    assert results.ids == [] and results.correct.shape == (0, 2) and results.correct.dtype == bool
    assert accuracy_per_language(results) == {"en": 0.0, "fr": 0.0}
    assert acc_at_k(results)[1]["best"] == 0.0 and acc_at_k(results)[2]["mean"] == 0.0
    assert majority_vote(results) == {"accuracy": 0.0, "questions": 0}


def test_accuracy_per_language_is_the_column_mean():
    results = table([[True, False, True], [True, False, False], [False, False, True], [True, True, True]])
    assert accuracy_per_language(results) == {"en": 0.75, "fr": 0.25, "de": 0.75}


CORRECT = [  # en fr de ja
    [True, False, False, False],
    [True, False, False, False],
    [False, True, False, False],
    [False, False, True, True],
    [False, False, False, True],
]


def test_acc_at_k_best_subset_mean_and_counts_by_hand():
    out = acc_at_k(table(CORRECT))
    assert list(out) == [1, 2, 3, 4]
    # k=1: en 0.4, fr 0.2, de 0.2, ja 0.4 -> best en (first of the tied), mean 0.3
    assert out[1] == {"best": 0.4, "best_subset": ["en"], "mean": pytest.approx(0.3), "subsets": 4, "greedy": False}
    # k=2: en+fr .6, en+de .6, en+ja .8, fr+de .4, fr+ja .6, de+ja .4
    assert out[2]["best"] == pytest.approx(0.8) and out[2]["best_subset"] == ["en", "ja"]
    assert out[2]["mean"] == pytest.approx(3.4 / 6) and out[2]["subsets"] == 6
    # k=3: en+fr+de .8, en+fr+ja 1.0, en+de+ja .8, fr+de+ja .6
    assert out[3]["best"] == 1.0 and out[3]["best_subset"] == ["en", "fr", "ja"]
    assert out[3]["mean"] == pytest.approx(0.8) and out[3]["subsets"] == 4
    assert out[4] == {"best": 1.0, "best_subset": ["en", "fr", "de", "ja"], "mean": 1.0, "subsets": 1, "greedy": False}


def test_acc_at_k_searches_greedily_beyond_5000_subsets():
    languages = [f"l{j:02d}" for j in range(15)]
    correct = np.zeros((15, 15), bool)
    for j in range(15):
        correct[: j + 1, j] = True  # language j solves questions 0..j: l14 alone solves everything
    correct[:, 0] = False
    results = ParallelResults([f"q{i}" for i in range(15)], languages, correct, [[None] * 15] * 15)
    out = acc_at_k(results)
    assert [k for k in out if out[k]["greedy"]] == [6, 7, 8, 9]  # C(15, k) > 5000 only there
    assert out[5]["subsets"] == 3003 and out[6]["subsets"] == 5000
    # greedy: l14 first (solves all), then the lowest index among the ties, l00..; returned sorted
    assert out[6]["best"] == 1.0 and out[6]["best_subset"] == ["l00", "l01", "l02", "l03", "l04", "l14"]
    assert 0.0 < out[6]["mean"] < 1.0
    assert out[6] == acc_at_k(results)[6]  # the sampled mean is seeded


def test_sampled_subsets_have_k_distinct_languages():
    languages = [f"l{j:02d}" for j in range(15)]
    correct = np.eye(15, dtype=bool)  # language j solves question j only: a subset solves (its size) / 15
    out = acc_at_k(ParallelResults([f"q{i}" for i in range(15)], languages, correct, [[None] * 15] * 15))
    assert [out[k]["mean"] for k in range(6, 10)] == pytest.approx([k / 15 for k in range(6, 10)])


def test_greedy_selection_adds_the_language_that_helps_most():
    languages = [f"l{j:02d}" for j in range(15)]
    correct = np.zeros((8, 15), bool)
    correct[0:4, 3] = True  # l03 solves 4
    correct[4:7, 5] = True  # l05 solves the next 3
    correct[0:5, 9] = True  # l09 solves 5, overlapping l03
    correct[7, 11] = True  # l11 solves the last one
    results = ParallelResults([f"q{i}" for i in range(8)], languages, correct, [[None] * 15] * 8)
    best = acc_at_k(results)[6]
    # l09 (5), then l05 (+2 -> 7), then l11 (+1 -> 8), then nothing helps: the earliest indices fill up
    assert best["best"] == 1.0 and best["best_subset"] == ["l00", "l01", "l02", "l05", "l09", "l11"]


def test_majority_vote_counts_answers_and_breaks_ties_by_language_order():
    results = table(
        [[False, False, False], [True, False, False], [False, True, True], [True, False, False], [False, False, True]],
        [[None, None, None], ["5", "6", "6"], ["8", "7", "7"], ["1", "2", "3"], [None, None, "9"]],
    )
    # q0: nobody answered -> unsolved; q1: 6 wins 2:1 (wrong); q2: 7 wins (right); q3: three-way tie -> en's "1"
    # (right); q4: the only vote (right)
    assert majority_vote(results) == {"accuracy": 0.6, "questions": 5}
    with pytest.raises(ValueError):  # a malformed table (answers missing for a question) is an error
        majority_vote(ParallelResults(["a", "b"], ["en"], np.array([[True], [False]]), [["1"]]))


def test_answerless_responses_do_not_vote_and_a_tie_goes_to_the_first_language_that_gave_an_answer():
    results = table([[False, True, False, False]], [[None, "4", "5", None]])
    assert majority_vote(results)["accuracy"] == 1.0  # fr's 4 ties de's 5; fr comes first among those who answered
    results = table([[False, False, True, False]], [[None, "4", "5", "5"]])
    assert majority_vote(results)["accuracy"] == 1.0  # two votes for 5 beat one for 4
    results = table([[True, False, False, False]], [[None, None, None, "2"]])
    assert majority_vote(results)["accuracy"] == 0.0  # the lone answer wins even though en was right


def test_parallel_report_and_its_flat_metrics():
    results = table(
        [[True, False], [True, True], [False, False], [False, True]],
        [["1", "2"], ["3", "3"], [None, "4"], ["5", "6"]],
    )
    report = parallel_report(results)
    assert report["questions"] == 4 and report["languages"] == ["en", "fr"]
    assert report["accuracy"] == {"en": 0.5, "fr": 0.5} and report["mean_accuracy"] == 0.5
    assert list(report["acc_at_k"]) == ["1", "2"] and report["acc_at_k"]["2"]["best"] == 0.75
    assert report["majority_vote"] == {"accuracy": 0.5, "questions": 4}  # q0 tie -> en right; q1 right
    metrics = report_metrics(report)
    assert metrics == {
        "eval/acc_at_k/1": 0.5,
        "eval/acc_at_k/2": 0.75,
        "eval/majority_vote": 0.5,
        "eval/parallel_questions": 4,
    }
    assert set(report_metrics(report, prefix="final")) == {
        "final/acc_at_k/1",
        "final/acc_at_k/2",
        "final/majority_vote",
        "final/parallel_questions",
    }
    empty = parallel_report(ParallelResults([], [], np.zeros((0, 0), bool), []))
    assert empty["mean_accuracy"] == 0.0 and empty["acc_at_k"] == {} and empty["questions"] == 0
