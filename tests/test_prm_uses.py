"""The PRM's uses as pure logic: ProcessBench F1 of a judge (every step judged after its prefix, one call), the
length-only baseline, majority vote and best-of-N selection, and the prm judge's rows for the reward workers."""

from __future__ import annotations

import numpy as np
import pytest

from algorithms.prm_eval import (
    fit_length_baseline,
    judge_step_scores,
    length_baseline_f1,
    length_first_error,
    processbench_f1,
)
from algorithms.search_eval import best_of_n, majority_vote
from rewards.prm_judge import PRMJudge
from rewards.rprm import PREVIOUS_STEPS
from rlcore.batch import Batch
from rlcore.processbench import LabeledSolution
from rlcore.steps import JudgeContext, StepQuery, build_step_judge

SOLUTIONS = [
    LabeledSolution("a", "Q1", ("2 plus 3 is 5.", "5 plus 1 is 7.", "The answer is 7."), 1),
    LabeledSolution("b", "Q2", ("4 plus 4 is 8.", "The answer is 8."), -1),
    LabeledSolution("c", "Q3", ("9 minus 2 is 6.", "The answer is 6."), 0),
]


class Arithmetic:
    """A judge that checks `a plus/minus b is c` and calls answer lines right; counts its calls."""

    def __init__(self):
        self.calls = 0

    def score_steps(self, queries):
        self.calls += 1
        return [[self.check(c) for c in q.candidates] for q in queries]

    @staticmethod
    def check(step: str) -> float:
        words = step.rstrip(".").split()
        if words[0] == "The":
            return 1.0
        a, op, b, _, c = words
        return float((int(a) + int(b) if op == "plus" else int(a) - int(b)) == int(c))


def test_every_step_is_judged_after_its_prefix_in_one_call():
    judge = Arithmetic()
    assert judge_step_scores(judge, SOLUTIONS) == [[1.0, 0.0, 1.0], [1.0, 1.0], [0.0, 1.0]]
    assert judge.calls == 1


def test_processbench_f1_of_a_perfect_and_of_a_blind_judge():
    perfect = processbench_f1(Arithmetic(), SOLUTIONS)
    assert (perfect["error_accuracy"], perfect["correct_accuracy"], perfect["f1"]) == (1.0, 1.0, 1.0)
    assert perfect["predicted"] == [1, -1, 0]

    class Approves:
        def score_steps(self, queries):
            return [[0.9] * len(q.candidates) for q in queries]

    blind = processbench_f1(Approves(), SOLUTIONS)
    assert (blind["error_accuracy"], blind["correct_accuracy"], blind["f1"]) == (0.0, 1.0, 0.0)


def test_length_baseline_calls_the_first_long_step_wrong_and_fits_its_threshold():
    assert length_first_error(["ab", "abcd", "abcdef"], 3) == 1
    assert length_first_error(["ab", "abc"], 3) == -1
    # Wrong steps are the long ones here: the fitted threshold separates them.
    train = [
        LabeledSolution("x", "Q", ("short.", "a much longer step."), 1),
        LabeledSolution("y", "Q", ("short.", "tiny."), -1),
    ]
    threshold = fit_length_baseline(train)
    assert len("tiny.") <= threshold < len("a much longer step.")
    assert length_baseline_f1(train, train)["f1"] == 1.0


def test_majority_vote_and_best_of_n_choose_per_question():
    rows = [{"answer": "7", "language": "en"}, {"answer": "3", "language": "en"}]
    texts = ["The answer is 7.", "The answer is 8.", "The answer is 7.", "The answer is 4.", "no", "The answer is 3."]
    votes, per_sample = majority_vote(texts, rows, 3)
    assert per_sample == [True, False, True, False, False, True]
    assert votes == [True, False]  # question 2: "4" and "3" tie, the first counted wins
    assert best_of_n([0.1, 0.9, 0.5, 0.2, 0.3, 0.8], per_sample, 3) == [False, True]
    assert best_of_n(np.zeros(6).tolist(), per_sample, 3) == [True, False]  # equals: the first


def test_prm_judge_sends_each_candidate_as_one_step_after_its_prefix():
    class Scorer:
        def __init__(self):
            self.batches = []

        def score(self, batch: Batch) -> Batch:
            self.batches.append(batch.rows())
            return Batch(tensors={"rewards": np.arange(len(batch), dtype=np.float32) / 10})

    scorer = Scorer()
    judge = build_step_judge({"name": "prm"}, JudgeContext(scorer=scorer))
    assert isinstance(judge, PRMJudge)
    queries = [
        StepQuery("Q1", ("s1",), ("c1", "c2"), {"answer": "1", "language": "en"}),
        StepQuery("Q2", (), ("d1",), {"answer": "2", "language": "fr"}),
    ]
    assert judge.score_steps(queries) == [[0.0, pytest.approx(0.1)], [pytest.approx(0.2)]]
    (rows,) = scorer.batches
    assert [(r["prompt"], r[PREVIOUS_STEPS], r["response_text"], r["language"]) for r in rows] == [
        ("Q1", ["s1"], "c1", "en"),
        ("Q1", ["s1"], "c2", "en"),
        ("Q2", [], "d1", "fr"),
    ]
    assert judge.stats() == {"judge/candidates": 3.0, "judge/score_calls": 1.0}


def test_prm_judge_without_reward_workers_is_a_clear_error():
    with pytest.raises(ValueError, match="reward workers"):
        build_step_judge({"name": "prm"})
