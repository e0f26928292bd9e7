"""The step-wise LLM-as-a-judge's prompts and parsers (pointwise scores, pairwise verdicts ranked by wins)."""

from __future__ import annotations

import pytest

from rewards.step_judge_prompts import (
    comparisons,
    pairwise_prompt,
    parse_pairwise,
    parse_pointwise,
    pointwise_prompt,
    rank_by_wins,
)


def test_pointwise_prompt_and_score():
    prompt = pointwise_prompt("Tom has 3 pens and buys 4.", ["3 plus 4 is 7."], "The answer is 7.")
    assert "Step 1: 3 plus 4 is 7." in prompt and "Candidate next step: The answer is 7." in prompt
    assert '"Score: N"' in prompt and "(none)" in pointwise_prompt("q", [], "s")
    assert parse_pointwise("Right.\nScore: 10") == 1.0
    assert parse_pointwise("Score: 3 at first... no, **Score: 1**") == 0.0
    assert parse_pointwise("score : 5.5") == pytest.approx(0.5)
    assert parse_pointwise("Score: 11") is None and parse_pointwise("Score: 0") is None
    assert parse_pointwise("no score here") is None


def test_pairwise_prompt_and_verdict():
    prompt = pairwise_prompt("q", [], "3 plus 4 is 7.", "3 plus 4 is 8.")
    assert "Step A: 3 plus 4 is 7." in prompt and "Step B: 3 plus 4 is 8." in prompt
    assert parse_pairwise("A looks right.\nBetter step: A") == 0
    assert parse_pairwise("Better step: A? No. Better step: **b**") == 1
    assert parse_pairwise("Both are fine.") is None


def test_rank_by_wins_with_both_orders():
    pairs = comparisons(3)
    assert sorted(pairs) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    assert comparisons(3, both_orders=False) == [(0, 1), (0, 2), (1, 2)]
    # candidate 1 beats everyone; 0 beats 2 once and loses once (position bias); one reply had no verdict
    verdict_of = {(0, 1): 1, (0, 2): 0, (1, 0): 0, (1, 2): 0, (2, 0): 0, (2, 1): None}
    scores = rank_by_wins(3, pairs, [verdict_of[p] for p in pairs])
    assert scores == pytest.approx([1 / 4, 3 / 3, 1 / 3])
    assert rank_by_wins(2, [(0, 1)], [None]) == [0.5, 0.5]
    with pytest.raises(ValueError, match="1 verdicts for 2 comparisons"):
        rank_by_wins(2, [(0, 1), (1, 0)], [0])
