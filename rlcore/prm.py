"""R-PRM, the generative process reward model (METHODS.md §4), as pure logic: the critique prompt, the verdict
line, and the step score P(Yes) from the logits of " Yes" and " No" right after the verdict question, averaged over
K sampled critiques (critiques without the verdict line are dropped and counted)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

VERDICT_QUESTION = "Is the step correct (Yes/No)?"
YES, NO = " Yes", " No"
_VERDICT_WORD = re.compile(r"\s*\**\s*(yes|no)\b", re.IGNORECASE)

PROMPT_TEMPLATE = """You are an excellent math teacher. Verify the correctness of the Now Step.
First analyse the Now Step and the Previous Steps, then conclude.
Analysis:
**Previous Steps Analysis**: what the previous steps established.
**Now Step Analysis**: what the Now Step does and whether it is what the solution needs next.
**Data Source Analysis**: whether the data the Now Step uses comes from the question or the previous steps, correctly.
**Consistency Analysis**: whether the Now Step is consistent with the question and the previous steps.
**Calculation Analysis**: whether every calculation in the Now Step is right (check it backwards).
Conclusion: whether the Now Step is correct.
End with the line "Verification: {verdict_question}" followed by Yes or No.

Question: {question}

Previous Steps:
{previous_steps}

Now Step: {step}

Analyse the correctness of the Now Step.
"""


# For small models with short context windows (the embedded world's tiny model holds 256 tokens): the same parts
# (question, previous steps, Now Step) in a few short lines; the critique and its verdict line come from training.
COMPACT_TEMPLATE = """Question: {question}
Previous Steps:
{previous_steps}
Now Step: {step}
Verify the Now Step.
"""

Template = Literal["rprm", "compact"]
TEMPLATES: tuple[str, ...] = get_args(Template)


def critique_prompt(question: str, previous_steps: Sequence[str], step: str, template: Template = "rprm") -> str:
    """The PRM's prompt for one step: `rprm` (default) asks for the full R-PRM analysis; `compact` is a few short
    lines for small context windows (no instruction about the verdict line). Previous steps are numbered from 1
    in `rprm`, one per line in `compact`; '(none)' before the first step."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown critique prompt template {template!r}: choose one of {', '.join(TEMPLATES)}")
    if template == "compact":
        previous = "\n".join(previous_steps) or "(none)"
        return COMPACT_TEMPLATE.format(question=question, previous_steps=previous, step=step)
    previous = "\n".join(f"Step {i}: {text}" for i, text in enumerate(previous_steps, start=1)) or "(none)"
    return PROMPT_TEMPLATE.format(
        verdict_question=VERDICT_QUESTION, question=question, previous_steps=previous, step=step
    )


def cut_at_verdict(critique: str) -> str | None:
    """The critique up to and including the first verdict question (where P(Yes) is read), or None without one."""
    at = critique.find(VERDICT_QUESTION)
    return None if at < 0 else critique[: at + len(VERDICT_QUESTION)]


def parse_verdict(critique: str) -> bool | None:
    """The Yes (True) or No (False) the critique wrote after its verdict question; None without a verdict."""
    cut = cut_at_verdict(critique)
    if cut is None:
        return None
    word = _VERDICT_WORD.match(critique, len(cut))
    return None if word is None else word.group(1).lower() == "yes"


def with_verdict(critique: str, verdict: bool) -> str:
    """The critique cut after its verdict question with the verdict token appended (training targets end there)."""
    cut = cut_at_verdict(critique)
    if cut is None:
        raise ValueError("the critique has no verdict question")
    return cut + (YES if verdict else NO)


def p_yes(yes: float, no: float) -> float:
    """Softmax over the two verdict tokens: P(Yes) = e^yes / (e^yes + e^no). Works on logits or on log-probs (they
    differ by one constant at a position, which cancels)."""
    if math.isinf(yes) and math.isinf(no) and yes < 0 and no < 0:
        raise ValueError("both verdict tokens have probability 0: no P(Yes) at this position")
    margin = yes - no  # the logistic of the margin, in the form that cannot overflow
    if margin >= 0:
        return 1.0 / (1.0 + math.exp(-margin))
    return math.exp(margin) / (1.0 + math.exp(margin))


def p_yes_from_logits(logits: Sequence[float] | Any, yes_id: int, no_id: int) -> float:
    """P(Yes) from the logit vector at the position after the verdict question (any indexable: list, numpy, torch)."""
    return p_yes(float(logits[yes_id]), float(logits[no_id]))


@dataclass(frozen=True)
class VerdictTokens:
    """Where P(Yes) is read: after the cut critique plus `prefix_ids` (the tokens " Yes" and " No" share, none when
    each is one token, as in Qwen's and Llama's tokenizers), the logits of `yes_id` and `no_id`."""

    prefix_ids: tuple[int, ...]
    yes_id: int
    no_id: int


def verdict_tokens(tokenizer: Any) -> VerdictTokens:
    """The PRM tokenizer's first tokens where " Yes" and " No" differ (a small vocabulary may split off the space)."""
    yes, no = (tokenizer.encode(word, add_special_tokens=False) for word in (YES, NO))
    shared = 0
    while shared < min(len(yes), len(no)) and yes[shared] == no[shared]:
        shared += 1
    if shared == min(len(yes), len(no)):
        raise ValueError(f"the PRM's tokenizer gives {YES!r} = {yes} and {NO!r} = {no}: no token tells them apart")
    return VerdictTokens(tuple(yes[:shared]), yes[shared], no[shared])


@dataclass(frozen=True)
class StepScore:
    """The mean P(Yes) over the critiques that reached the verdict line (None if none did), and the counts."""

    score: float | None
    used: int
    dropped: int


def mean_p_yes(values: Sequence[float | None]) -> StepScore:
    """Mean over K critiques' P(Yes); None entries are critiques without the verdict line, dropped and counted."""
    kept = [float(value) for value in values if value is not None]
    return StepScore(sum(kept) / len(kept) if kept else None, len(kept), len(values) - len(kept))
