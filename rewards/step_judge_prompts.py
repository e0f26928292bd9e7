"""Prompts and parsers of the step-wise LLM-as-a-judge (METHODS.md §3), pointwise (rate each candidate next step)
and pairwise (compare two candidates, rank by wins). Pure text logic: the judge that sends them through a vLLM
engine is not built yet (docs/process_rewards.md)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

SCORE_MIN, SCORE_MAX = 1, 10
_SCORE = re.compile(r"Score\s*:\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_BETTER = re.compile(r"Better step\s*:\s*\**\s*([AB])\b", re.IGNORECASE)

_CONTEXT = """Question: {question}

Previous steps:
{previous}
"""
POINTWISE_TEMPLATE = (
    _CONTEXT
    + """
Candidate next step: {candidate}

Judge whether the candidate is a correct and useful next step of the solution: check its facts and calculations
against the question and the previous steps. Explain briefly, then end with the line "Score: N", N from {low}
(wrong or useless) to {high} (correct and the right next step).
"""
)
PAIRWISE_TEMPLATE = (
    _CONTEXT
    + """
Step A: {first}

Step B: {second}

Which of the two is the better next step of the solution (correct, and closer to the answer)? Explain briefly,
then end with the line "Better step: A" or "Better step: B".
"""
)


def _previous(steps: Sequence[str]) -> str:
    return "\n".join(f"Step {i}: {step}" for i, step in enumerate(steps, start=1)) or "(none)"


def pointwise_prompt(question: str, previous_steps: Sequence[str], candidate: str) -> str:
    return POINTWISE_TEMPLATE.format(
        question=question, previous=_previous(previous_steps), candidate=candidate, low=SCORE_MIN, high=SCORE_MAX
    )


def parse_pointwise(reply: str) -> float | None:
    """The reply's last "Score: N" mapped from [1, 10] to [0, 1]; None without one or out of range."""
    found = _SCORE.findall(reply)
    if not found:
        return None
    value = float(found[-1])
    if not SCORE_MIN <= value <= SCORE_MAX:
        return None
    return (value - SCORE_MIN) / (SCORE_MAX - SCORE_MIN)


def pairwise_prompt(question: str, previous_steps: Sequence[str], first: str, second: str) -> str:
    return PAIRWISE_TEMPLATE.format(question=question, previous=_previous(previous_steps), first=first, second=second)


def parse_pairwise(reply: str) -> int | None:
    """0 when the reply's last verdict prefers step A, 1 for step B, None without a verdict."""
    found = _BETTER.findall(reply)
    return None if not found else "AB".index(found[-1].upper())


def comparisons(candidates: int, both_orders: bool = True) -> list[tuple[int, int]]:
    """The (A, B) candidate pairs to compare; both orders by default, which cancels the judge's position bias."""
    pairs = list(itertools.combinations(range(candidates), 2))
    return pairs + [(b, a) for a, b in pairs] if both_orders else pairs


def rank_by_wins(candidates: int, pairs: Sequence[tuple[int, int]], verdicts: Sequence[int | None]) -> list[float]:
    """Each candidate's share of wins in the comparisons that got a verdict (0.5 when it got none)."""
    if len(pairs) != len(verdicts):
        raise ValueError(f"{len(verdicts)} verdicts for {len(pairs)} comparisons")
    wins, games = [0] * candidates, [0] * candidates
    for (a, b), verdict in zip(pairs, verdicts, strict=True):
        if verdict is None:
            continue
        games[a] += 1
        games[b] += 1
        wins[(a, b)[verdict]] += 1
    return [w / g if g else 0.5 for w, g in zip(wins, games, strict=True)]
