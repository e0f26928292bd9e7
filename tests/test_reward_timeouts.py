"""Timeouts that hold: a call past its deadline is killed with its process, the pool keeps its capacity, and both
the reward worker and held-out evaluation grade pathological answers under that limit."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import numpy as np
import pytest

from actors.reward import RewardWorker
from rlcore import grading
from rlcore.batch import Batch
from rlcore.bounded import BoundedPool, CallFailed, in_groups
from rlcore.evaluation import evaluate, score_correctness
from rlcore.grading import MATH_VERIFY_TIMEOUT_S, grade_answers, math_verify_timeout, normalize_answers

# math-verify spends its whole 5 s timeout on this power tower; in a thread (no timeout) it did not return in a
# minute and held the GIL meanwhile.
TOWER = "\\boxed{9^{9^{9^{9}}}}"


@pytest.fixture
def pool():
    pool = BoundedPool(2)
    yield pool
    pool.close()


def _children() -> set[int]:
    return {process.pid for process in multiprocessing.active_children() if process.pid is not None}


def test_a_call_past_its_deadline_is_killed_and_its_process_replaced(pool):
    threads, before = threading.active_count(), pool.processes
    started = time.monotonic()
    outcomes = pool.run([(time.sleep, (60,))] * 3 + [(abs, (-4,))] * 3, timeout_s=0.5)
    assert time.monotonic() - started < 10  # three hung calls on two processes: two deadlines, not a minute
    assert [isinstance(o, CallFailed) and o.timed_out for o in outcomes] == [True] * 3 + [False] * 3
    assert outcomes[3:] == [4, 4, 4]
    assert not any(process.is_alive() for process in before)  # killed and reaped, not left running
    assert len(pool.processes) == 2 and all(process.is_alive() for process in pool.processes)
    assert {process.pid for process in pool.processes} <= _children()
    assert threading.active_count() <= threads  # no thread was left behind waiting on the hung calls
    assert pool.run([(abs, (-1,)), (abs, (-2,))], timeout_s=5) == [1, 2]  # full capacity afterwards


def test_errors_and_dead_processes_cost_only_their_call(pool):
    outcomes = pool.run([(int, ("x",)), (os._exit, (3,)), (abs, (-5,))], timeout_s=5)
    assert isinstance(outcomes[0], CallFailed) and "ValueError" in str(outcomes[0]) and not outcomes[0].timed_out
    assert isinstance(outcomes[1], CallFailed) and "died" in str(outcomes[1])
    assert outcomes[2] == 5 and all(process.is_alive() for process in pool.processes)


@pytest.mark.parametrize("ready", [False, True])
def test_a_process_killed_from_outside_is_replaced(pool, ready):
    if ready:
        assert pool.run([(abs, (0,))] * 2, timeout_s=60) == [0, 0]
    pool.processes[0].kill()
    pool.processes[0].join(5)
    assert pool.run([(abs, (-1,)), (abs, (-2,)), (abs, (-3,))], timeout_s=60) == [1, 2, 3]
    assert all(process.is_alive() for process in pool.processes)


def test_math_verify_keeps_its_own_timeouts_in_the_pool(pool):
    # In the processes' main thread math-verify's signal timeouts are on (no "Timeout is disabled" warnings).
    assert pool.run([(math_verify_timeout, ())], timeout_s=5) == [MATH_VERIFY_TIMEOUT_S]


def test_in_groups_scores_the_items_of_a_failed_group_one_by_one():
    calls = []

    def run(groups):
        calls.append(groups)
        return [ValueError("bad") if 3 in group else [item * 10 for item in group] for group in groups]

    outcomes = in_groups(run, [1, 2, 3, 4, 5], per_call=2)
    assert outcomes[:2] == [10, 20] and isinstance(outcomes[2], ValueError) and outcomes[3:] == [40, 50]
    assert calls == [[[1, 2], [3, 4], [5]], [[3], [4]]]


def test_pathological_answers_then_normal_ones_in_the_reward_worker():
    worker = RewardWorker(0, 1, {"name": "math", "timeout_s": 1.0, "failure_score": -1.0})
    try:
        texts = [TOWER] * 3 + ["The answer is 12."] * 4 + ["The answer is 13."]
        batch = Batch(columns={"response_text": texts, "answer": ["12"] * len(texts), "id": list("abcdefgh")})
        result = worker.score(batch)
        np.testing.assert_array_equal(result["rewards"], [-1, -1, -1, 1, 1, 1, 1, 0])
        np.testing.assert_array_equal(result["reward_failed"], [1, 1, 1, 0, 0, 0, 0, 0])
        assert worker.processes is not None and all(process.is_alive() for process in worker.processes.processes)
        again = worker.score(Batch(columns={"response_text": ["\\boxed{12}"], "answer": ["12"], "id": ["i"]}))
        assert again["rewards"].tolist() == [1.0] and again["reward_failed"].tolist() == [0.0]
    finally:
        assert worker.processes is not None
        worker.processes.close()


def test_a_function_reward_that_never_returns_is_ended(tmp_path):
    path = tmp_path / "loops.py"
    path.write_text("def fn(completions, **_):\n    while 'loop' in completions[0]:\n        pass\n    return [2.0]\n")
    worker = RewardWorker(0, 1, {"name": "function", "function": f"{path}:fn", "timeout_s": 1.0})
    try:
        result = worker.score(Batch(columns={"prompt": ["p"] * 3, "response_text": ["ok", "loop", "ok"]}))
        assert result["rewards"].tolist() == [2.0, 0.0, 2.0] and result["reward_failed"].tolist() == [0, 1, 0]
    finally:
        assert worker.processes is not None
        worker.processes.close()


def test_evaluation_grading_is_bounded(monkeypatch):
    monkeypatch.setattr(grading, "GRADING_TIMEOUT_S", 1.0)
    samples = Batch(
        columns={"response_text": [TOWER, "The answer is 7."], "answer": ["7", "7"], "language": ["en"] * 2}
    )
    grading.shared_pool().run([(abs, (1,))], timeout_s=60)  # started, so that the timing below is grading only
    started = time.monotonic()
    assert score_correctness(samples).tolist() == [0.0, 1.0]
    assert time.monotonic() - started < MATH_VERIFY_TIMEOUT_S  # ended by the limit, not by math-verify's own timeout


def test_grade_answers_agrees_with_grade_answer(pool):
    answers = ["12", "\\frac{1}{2}", "3,5", None, "x+1", "1.234,5"]
    golds = ["12", "0.5", "3.5", "1", "1+x", "1234.5"]
    languages = ["en", "en", "fr", "en", "en", "de"]
    expected = [grading.grade_answer(*row) for row in zip(answers, golds, languages, strict=True)]
    assert grade_answers(answers, golds, languages, pool=pool) == expected == [True, True, True, False, True, True]


def test_voting_keys_are_bounded_too(pool):
    # normalize_answer evaluates the tower (.doit()): unbounded, it did not return in 40 s even in the main thread.
    keys = normalize_answers(["9^{9^{9^{9}}}", "12.0", None], ["en", "en", "en"], timeout_s=1.0, pool=pool)
    assert keys == ["9^{9^{9^{9}}}", "12", None]


class Answers:
    """A generator with fixed responses: evaluation's grading and voting are under test, not generation."""

    def __init__(self, texts: list[str]):
        self.texts = texts

    def generate(self, prompts: Batch, n: int, sampling: dict | None = None) -> Batch:
        return Batch(columns={**prompts.columns, "response_text": self.texts})


def test_held_out_evaluation_survives_a_pathological_answer(monkeypatch):
    monkeypatch.setattr(grading, "GRADING_TIMEOUT_S", 1.0)
    rows = [{"id": q, "prompt": "?", "answer": "7", "language": lang} for q in ("a", "b") for lang in ("en", "fr")]
    texts = [TOWER, "The answer is 7.", "La réponse est 7.", "La réponse est 7."]
    started = time.monotonic()
    metrics, report = evaluate(Answers(texts), rows, max_tokens=8)
    assert time.monotonic() - started < 30
    assert report["graded"] == {"en": {"a": 0, "b": 1}, "fr": {"a": 1, "b": 1}}
    assert metrics["eval/accuracy/en"] == 0.5 and metrics["eval/accuracy/fr"] == 1.0
