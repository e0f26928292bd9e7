"""Step-labelled solutions of the embedded world in ProcessBench's field layout (rlcore.processbench): reference
solutions (label -1) and solutions with an arithmetic slip carried forward (label = the slip's step), one step per
line and the final answer line as the last step. Rows also keep `language`, `answer` and the gold `steps`, which
the rule-based step checker (rewards/world_steps.py) reads."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rlcore.world.tasks import Problem, corrupt_solution, render_solution


def labelled_rows(problems: Sequence[Problem], seed: int = 0, error_share: float = 0.5) -> list[dict[str, Any]]:
    """One row per problem: a corrupted solution with probability `error_share` (seeded), else the reference."""
    if not 0 <= error_share <= 1:
        raise ValueError(f"error_share must be in [0, 1], got {error_share}")
    rng = random.Random(f"rlcore-labelled:{seed}")
    rows = []
    for problem in problems:
        steps, label = problem.steps, -1
        if rng.random() < error_share:
            steps, label = corrupt_solution(problem, rng)
        rows.append(
            {
                "id": f"{problem.id}-{problem.language}",
                "problem": problem.question,
                "steps": render_solution(steps, problem.language).split("\n"),
                "label": label,
                "final_answer_correct": steps[-1].result == problem.answer,
                "language": problem.language,
                "answer": str(problem.answer),
                "gold_steps": [asdict(step) for step in problem.steps],
            }
        )
    return rows
