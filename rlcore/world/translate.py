"""A rule translator for the embedded world's solutions ("7 plus 5 is 12." -> "7 plus 5 font 12.").

The tiny model never learned to translate, so pair builders that need a translation (language-imbalance driven
rewarding) use this on the embedded world instead of asking the policy; real models translate with their own
generations. A solution whose lines are not all in the world's step format cannot be translated (None), just as
a real translation can fail.
"""

from __future__ import annotations

import re
from functools import cache

from rlcore.grading import ANSWER_PHRASES
from rlcore.world.lexicon import STEP_FORMATS

_NUMBER = r"(-?\d+)"


@cache
def _step_patterns(language: str) -> tuple[tuple[str, re.Pattern], ...]:
    """(operator, regex) per step sentence format of `language`."""
    patterns = []
    for operator, template in STEP_FORMATS[language].items():
        regex = re.escape(template).replace(r"\{l\}", _NUMBER).replace(r"\{r\}", _NUMBER).replace(r"\{res\}", _NUMBER)
        patterns.append((operator, re.compile(f"^{regex}$")))
    return tuple(patterns)


def _translate_line(line: str, source: str, target: str) -> str | None:
    for operator, pattern in _step_patterns(source):
        match = pattern.match(line)
        if match:
            left, right, result = match.groups()
            return STEP_FORMATS[target][operator].format(l=left, r=right, res=result)
    answer = re.match(rf"^{re.escape(ANSWER_PHRASES[source])}\s+(-?\d+)\.?$", line)
    if answer:
        return f"{ANSWER_PHRASES[target]} {answer.group(1)}."
    return None


def translate_solution(text: str, source: str, target: str) -> str | None:
    """`text` (a solution in `source`) rendered in `target`, or None if any line is not in the world's format."""
    if source not in STEP_FORMATS or target not in STEP_FORMATS:
        return None
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    translated = [_translate_line(line, source, target) for line in lines]
    if any(line is None for line in translated):
        return None
    return "\n".join(line for line in translated if line is not None)
