"""The rule-based step checker of the embedded world, whose steps are `left op right = result` sentences in six
languages (rlcore.world): a candidate next step is right (1.0) when it applies the question's next operation to the
value the accepted prefix reached and computes it correctly, or, once every operation is done, states that value as
the final answer. Everything else (a slip, a wrong operand, an early or extra answer, an unreadable step) is 0.0."""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from rewards.step_judge import StepJudgeBase, StepJudgeConfig
from rlcore.registry import STEP_JUDGES
from rlcore.steps import StepQuery
from rlcore.world.lexicon import STEP_FORMATS
from rlcore.world.tasks import ANSWER_PHRASES, Step

_NUMBER = r"(-?\d+)"
_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def _step_pattern(template: str) -> re.Pattern[str]:
    """The template's sentence with its slots {l}, {r}, {res} as named number groups (in whatever order)."""
    pattern = re.escape(template.rstrip("."))
    for slot in ("l", "r", "res"):
        pattern = pattern.replace(re.escape(f"{{{slot}}}"), f"(?P<{slot}>-?\\d+)")
    return re.compile(pattern + r"\s*\.?", re.IGNORECASE)


_STEP_PATTERNS = [(op, _step_pattern(t)) for formats in STEP_FORMATS.values() for op, t in formats.items()]
_ANSWER = re.compile(
    "(?:" + "|".join(re.escape(p) for p in ANSWER_PHRASES.values()) + r")\s*:?\s*" + _NUMBER + r"\s*\.?",
    re.IGNORECASE,
)


def parse_step(text: str) -> tuple[int, str, int, int] | None:
    """(left, op, right, result) of a step sentence in any world language, or None."""
    for op, pattern in _STEP_PATTERNS:
        match = pattern.fullmatch(text.strip())
        if match:
            return int(match["l"]), op, int(match["r"]), int(match["res"])
    return None


def parse_answer(text: str) -> int | None:
    """The number of a final-answer line in any world language, or None."""
    match = _ANSWER.fullmatch(text.strip())
    return int(match.group(1)) if match else None


def gold_operations(row: Mapping[str, Any], key: str = "steps") -> tuple[int, list[tuple[str, int]]]:
    """(first operand, [(op, right operand) per step]) from the row's gold steps (rlcore.world.tasks.to_records)."""
    steps = row.get(key)
    if not steps or not all(isinstance(step, Step | Mapping) for step in steps):
        raise ValueError(
            f"world_steps judge: row {row.get('id', '?')!r} has no gold steps under {key!r} (rows of the embedded "
            "world have them; rlcore.world.labelled rows under 'gold_steps')"
        )
    gold = [step if isinstance(step, Step) else Step(**step) for step in steps]
    return gold[0].left, [(step.op, step.right) for step in gold]


def check_step(row: Mapping[str, Any], prefix: Sequence[str], candidate: str, gold_key: str = "steps") -> bool:
    """Whether `candidate` is a right next step after `prefix` for the question of `row`."""
    value, operations = gold_operations(row, gold_key)
    for accepted in prefix:
        parsed = parse_step(accepted)
        if parsed is None:
            return False  # a prefix that is not a chain of steps reaches no value to continue from
        value = parsed[3]
    index = len(prefix)
    step = parse_step(candidate)
    if step is None:
        return index == len(operations) and parse_answer(candidate) == value
    left, op, right, result = step
    on_track = index < len(operations) and (op, right) == operations[index] and left == value
    return on_track and result == _OPS[op](left, right)


class WorldStepsConfig(StepJudgeConfig):
    gold_key: str = Field(
        "steps", description="Row column holding the question's gold steps (dicts of rlcore.world Step)."
    )


@STEP_JUDGES.register("world_steps")
class WorldStepChecker(StepJudgeBase):
    """1.0 for a right next step of an embedded-world question, else 0.0 (needs the rows' gold steps)."""

    Config = WorldStepsConfig
    config: WorldStepsConfig

    def score_steps(self, queries: Sequence[StepQuery]) -> list[list[float]]:
        key = self.config.gold_key
        return [[float(check_step(q.row, q.prefix, candidate, key)) for candidate in q.candidates] for q in queries]
