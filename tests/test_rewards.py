"""Rule rewards and the RewardWorker's per-sample error handling (pure logic, no Ray)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from actors.reward import RewardWorker
from rewards import REWARDS, Reward, RewardConfig
from rewards.math_rule import format_score
from rlcore.batch import Batch
from rlcore.grading import answers_match, final_answer, is_correct


@pytest.mark.parametrize(
    "text, expected",
    [
        ("7 plus 5 is 12.\nThe answer is 12.", "12"),
        ("9 moins 4 font 5.\nLa réponse est 5.", "5"),
        ("Die Antwort ist 17.", "17"),
        ("so the result is \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("3 plus 4 is 7.", None),
    ],
)
def test_final_answer(text, expected):
    assert final_answer(text) == expected


@pytest.mark.parametrize(
    "predicted, gold, same",
    [
        ("12", "12", True),
        ("12.0", "12", True),
        ("13", "12", False),
        ("\\frac{1}{2}", "0.5", True),
        ("2/4", "1/2", True),
        ("x+1", "1+x", True),
        ("\\sqrt{4}", "2", True),
    ],
)
def test_answers_match_uses_math_equivalence(predicted, gold, same):
    assert answers_match(predicted, gold) is same


def test_math_reward_and_format():
    reward = REWARDS.get("math")(REWARDS.get("math").Config(name="math", format_weight=0.5))
    samples = [
        {"response_text": "The answer is 12.", "answer": "12", "finish_reason": "stop"},
        {"response_text": "The answer is 11.", "answer": "12", "finish_reason": "stop"},
        {"response_text": "7 plus 5 is", "answer": "12", "finish_reason": "length"},
    ]
    assert reward.score(samples) == [1.5, 0.5, 0.0]
    assert [format_score(s) for s in samples] == [1.0, 1.0, 0.0]


@REWARDS.register("test_flaky")
class FlakyReward(Reward):
    """Raises on 'boom', hangs on 'hang', NaN on 'nan'."""

    def score(self, samples):
        out = []
        for sample in samples:
            if sample["response_text"] == "boom":
                raise RuntimeError("scorer crashed")
            if sample["response_text"] == "hang":
                time.sleep(5)
            out.append(float("nan") if sample["response_text"] == "nan" else 1.0)
        return out


def test_reward_worker_isolates_failing_samples():
    worker = RewardWorker(0, 1, {"name": "test_flaky", "timeout_s": 0.5, "failure_score": -1.0})
    batch = Batch(columns={"response_text": ["ok", "boom", "hang", "nan", "ok"], "id": list("abcde")})
    result = worker.score(batch)
    np.testing.assert_array_equal(result["rewards"], [1.0, -1.0, -1.0, -1.0, 1.0])
    np.testing.assert_array_equal(result["reward_failed"], [0, 1, 1, 1, 0])


def test_reward_config_forbids_unknown_keys():
    with pytest.raises(Exception, match="timeout"):
        RewardConfig(name="x", timeout=3)


@pytest.mark.parametrize(
    "text, gold",
    [
        ("First guess \\boxed{1}. Then \\boxed{\\frac{\\sqrt{3}}{2}}", "1"),  # the earlier box must not be graded
        ("The answer is 12345678901234567.", "12345678901234568"),  # beyond float precision
        ("The answer is 0.10000000000000000001.", "0.1"),
    ],
)
def test_math_reward_never_grades_these_wrong_answers_correct(text, gold):
    assert is_correct(text, gold) is False


def test_nested_boxed_is_the_final_answer():
    assert final_answer("\\boxed{1} then \\boxed{\\frac{\\sqrt{3}}{2}}") == "\\frac{\\sqrt{3}}{2}"
