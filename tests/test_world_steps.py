"""The embedded world's rule-based step checker, in every language, on reference and corrupted solutions."""

from __future__ import annotations

import random

import pytest

from rewards.world_steps import WorldStepChecker, WorldStepsConfig, check_step, parse_answer, parse_step
from rlcore.pair_files import write_jsonl
from rlcore.processbench import first_error_f1, predicted_first_error, read_processbench
from rlcore.steps import StepQuery, solution_scores, split_steps
from rlcore.world.labelled import labelled_rows
from rlcore.world.tasks import LANGUAGES, corrupt_solution, generate_problems, render_solution, to_records

PROBLEMS = generate_problems("eval", 40, seed=3)


def test_parses_steps_and_answers_in_every_language():
    for problem in PROBLEMS[: len(LANGUAGES)]:
        *steps, answer = split_steps(problem.solution, "\n")
        assert [parse_step(text) for text in steps] == [(s.left, s.op, s.right, s.result) for s in problem.steps]
        assert parse_answer(answer) == problem.answer
        assert parse_step(answer) is None and parse_answer(steps[0]) is None
    assert parse_step("7 plus five is 12.") is None


def test_reference_solutions_pass_every_step():
    judge = WorldStepChecker(WorldStepsConfig(name="world_steps"))
    for problem, row in zip(PROBLEMS, to_records(PROBLEMS), strict=True):
        scores = solution_scores(judge, problem.question, split_steps(problem.solution, "\n"), row)
        assert scores == [1.0] * (len(problem.steps) + 1), problem.solution


def test_corrupted_solutions_fail_at_their_first_error():
    judge = WorldStepChecker(WorldStepsConfig(name="world_steps"))
    rng = random.Random(0)
    predicted, labels = [], []
    for problem, row in zip(PROBLEMS, to_records(PROBLEMS), strict=True):
        steps, first = corrupt_solution(problem, rng)
        scores = solution_scores(
            judge, problem.question, split_steps(render_solution(steps, problem.language), "\n"), row
        )
        assert scores[first] == 0.0 and all(scores[:first])
        predicted.append(predicted_first_error(scores))
        labels.append(first)
        predicted.append(predicted_first_error(solution_scores(judge, "", split_steps(problem.solution, "\n"), row)))
        labels.append(-1)
    assert first_error_f1(predicted, labels)["f1"] == 1.0


@pytest.mark.parametrize(
    "prefix, candidate, right",
    [
        ([], "4 plus 9 is 13.", True),
        ([], "4 plus 9 ist 13.", True),  # any world language
        ([], "4 plus 9 is 12.", False),  # a slip
        ([], "4 minus 9 is -5.", False),  # the wrong operation
        ([], "9 plus 4 is 13.", False),  # operands swapped: not the question's first value
        ([], "The answer is 13.", False),  # an answer before any step
        (["4 plus 9 is 13."], "13 minus 6 is 7.", True),
        (["4 plus 9 is 13."], "12 minus 6 is 6.", False),  # does not continue from 13
        (["4 plus 9 is 13.", "13 minus 6 is 7."], "The answer is 7.", True),
        (["4 plus 9 is 13.", "13 minus 6 is 7."], "La réponse est 7.", True),
        (["4 plus 9 is 13.", "13 minus 6 is 7."], "The answer is 8.", False),
        (["4 plus 9 is 13.", "13 minus 6 is 7."], "7 plus 1 is 8.", False),  # an extra step
        (["4 plus 9 is 13."], "The answer is 13.", False),  # early
        (["four plus nine"], "13 minus 6 is 7.", False),  # an unreadable prefix
        ([], "", False),
    ],
)
def test_checker_rules(prefix, candidate, right):
    row = {"id": "q", "steps": [{"left": 4, "op": "+", "right": 9, "result": 13, "correct": True, "text": ""}]}
    row["steps"].append({"left": 13, "op": "-", "right": 6, "result": 7, "correct": True, "text": ""})
    assert check_step(row, prefix, candidate) is right


def test_a_row_without_gold_steps_is_named():
    judge = WorldStepChecker(WorldStepsConfig(name="world_steps"))
    with pytest.raises(ValueError, match="row 'q7' has no gold steps under 'steps'"):
        judge.score_steps([StepQuery("q", (), ("1 plus 1 is 2.",), {"id": "q7"})])
    with pytest.raises(ValueError, match="row 'q8' has no gold steps under 'steps'"):  # ProcessBench's text steps
        judge.score_steps([StepQuery("q", (), ("1 plus 1 is 2.",), {"id": "q8", "steps": ["1 plus 1 is 2."]})])


def test_labelled_world_rows_read_as_processbench_and_the_checker_finds_every_first_error(tmp_path):
    rows = labelled_rows(PROBLEMS, seed=2)
    assert 0.3 < sum(row["label"] >= 0 for row in rows) / len(rows) < 0.7
    assert all(row["final_answer_correct"] == (row["label"] == -1) for row in rows)
    assert labelled_rows(PROBLEMS, seed=2) == rows and labelled_rows(PROBLEMS, seed=3) != rows
    assert all(row["label"] == -1 for row in labelled_rows(PROBLEMS[:12], error_share=0.0))
    write_jsonl(tmp_path / "world.jsonl", rows)
    solutions = read_processbench(tmp_path / "world.jsonl")
    judge = WorldStepChecker(WorldStepsConfig(name="world_steps", gold_key="gold_steps"))
    predicted = [
        predicted_first_error(solution_scores(judge, s.problem, s.steps, row))
        for s, row in zip(solutions, rows, strict=True)
    ]
    assert first_error_f1(predicted, [s.label for s in solutions])["f1"] == 1.0
    with pytest.raises(ValueError, match="error_share must be in"):
        labelled_rows(PROBLEMS, error_share=1.5)
