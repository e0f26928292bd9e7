"""Step splitting, aggregation of process scores, process advantages and the step-judge registry."""

from __future__ import annotations

import tomllib
from importlib import import_module

import pytest

from rlcore.registry import STEP_JUDGES
from rlcore.steps import (
    StepQuery,
    aggregate,
    build_step_judge,
    is_final,
    join_prefix,
    join_steps,
    process_advantages,
    solution_scores,
    split_steps,
)
from tests.conftest import ROOT


def test_split_by_blank_line_and_by_line():
    text = "First, 2 + 3 = 5.\n\n  Then 5 * 2 = 10.\n\n\n\nThe answer is 10.\n"
    assert split_steps(text) == ["First, 2 + 3 = 5.", "Then 5 * 2 = 10.", "The answer is 10."]
    assert split_steps("7 plus 5 is 12.\n12 minus 3 is 9.\nThe answer is 9.", "\n") == [
        "7 plus 5 is 12.",
        "12 minus 3 is 9.",
        "The answer is 9.",
    ]
    with pytest.raises(ValueError, match="delimiter"):
        split_steps("a", "")


def test_join_prefix_ends_with_the_delimiter_and_round_trips():
    steps = ["a = 1.", "b = 2.", "The answer is 3."]
    assert join_prefix(steps[:2], "\n\n") == "a = 1.\n\nb = 2.\n\n"
    assert join_prefix([], "\n") == ""
    assert split_steps(join_steps(steps, "\n"), "\n") == steps


def test_final_answer_detection_in_world_languages():
    assert is_final("The answer is 9.") and is_final("Die Antwort ist 12.") and is_final("so \\boxed{4}")
    assert not is_final("7 plus 5 is 12.")


def test_aggregation_rules():
    scores = [0.9, 0.2, 0.6]
    assert aggregate(scores, "min") == 0.2
    assert aggregate(scores, "last") == 0.6
    assert aggregate(scores, "mean") == pytest.approx(1.7 / 3)
    with pytest.raises(ValueError, match="without steps"):
        aggregate([], "min")
    with pytest.raises(ValueError, match="unknown aggregation 'max'"):
        aggregate(scores, "max")  # type: ignore[arg-type]


def test_process_advantages_are_normalised_returns_to_go():
    # step scores 1, 0 | 1 : mean 2/3, std sqrt(2)/3 -> normalised 1/sqrt(2), -sqrt(2) | 1/sqrt(2)
    advantages = process_advantages([[1.0, 0.0], [1.0]], eps=0.0)
    r = 2**-0.5
    assert advantages[0] == pytest.approx([r - 2**0.5, -(2**0.5)])
    assert advantages[1] == pytest.approx([r])
    assert process_advantages([[0.5, 0.5]]) == [[0.0, 0.0]]
    with pytest.raises(ValueError, match="without any scored step"):
        process_advantages([[], []])


def test_step_judge_entry_points_name_modules_that_register_them():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["rlcore.step_judges"]
    assert declared
    for name, module in declared.items():
        import_module(module)
        assert name in STEP_JUDGES


def test_build_step_judge_and_solution_scores():
    import_module("rewards.world_steps")
    judge = build_step_judge({"name": "world_steps"})
    row = {"steps": [{"text": "", "left": 7, "op": "+", "right": 5, "result": 12, "correct": True}]}
    # Each step is judged on its own after its prefix: the slip is wrong, stating its result is consistent.
    assert solution_scores(judge, "q", ["7 plus 5 is 13.", "The answer is 13."], row) == [0.0, 1.0]
    assert solution_scores(judge, "q", ["7 plus 5 is 12.", "The answer is 12."], row) == [1.0, 1.0]
    assert judge.score_steps([StepQuery("q", (), ("7 plus 5 is 12.", "7 plus 5 is 11."), row)]) == [[1.0, 0.0]]
    with pytest.raises(ValueError, match="needs a `name`"):
        build_step_judge({})
    with pytest.raises(KeyError, match=r"unknown step judge 'world_step'.*did you mean 'world_steps'"):
        build_step_judge({"name": "world_step"})
