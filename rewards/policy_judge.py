"""The step-wise LLM-as-a-judge with the policy itself (METHODS.md §3): all judge prompts of a search round go
through the policy's engine in ONE generate call, and the replies are parsed into scores in [0, 1].

pointwise: one prompt per candidate, "Score: N" (1-10) mapped to [0, 1];
pairwise: one prompt per ordered pair of a question's candidates (both orders by default, which cancels position
bias), each candidate scored by its share of won comparisons (rank_by_wins).

Never crashes on a reply: an unparseable one is counted (`judge/unparsed`) and scored neutrally, 0.5 pointwise
(the middle of the scale) and left out of the win counts pairwise (a candidate without any verdict gets 0.5). A
prompt too long for the engine (`max_model_len` − `max_tokens`) is not sent, counted (`judge/too_long`) and scored
the same neutral way."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from pydantic import Field

from rewards.step_judge import StepJudgeBase, StepJudgeConfig
from rewards.step_judge_prompts import (
    comparisons,
    pairwise_prompt,
    parse_pairwise,
    parse_pointwise,
    pointwise_prompt,
    rank_by_wins,
)
from rlcore.batch import Batch
from rlcore.registry import STEP_JUDGES
from rlcore.steps import JudgeContext, StepQuery

log = logging.getLogger(__name__)
NEUTRAL = 0.5
T = TypeVar("T")


class PolicyJudgeConfig(StepJudgeConfig):
    mode: Literal["pointwise", "pairwise"] = Field(
        "pointwise", description="pointwise: score each candidate 1-10; pairwise: compare candidates, rank by wins."
    )
    temperature: float = Field(0.0, ge=0, description="Sampling temperature of the judge's replies (0 = greedy).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling of the judge's replies.")
    max_tokens: int = Field(256, ge=1, description="Longest judge reply, in tokens (its reasoning and verdict line).")
    both_orders: bool = Field(
        True, description="pairwise: judge every pair in both orders (A/B and B/A), which cancels position bias."
    )


@STEP_JUDGES.register("policy_judge")
class PolicyJudge(StepJudgeBase):
    """The policy as its own step judge; needs the run's engine and prompt formatter (JudgeContext)."""

    Config = PolicyJudgeConfig
    config: PolicyJudgeConfig

    def __init__(self, config: PolicyJudgeConfig, context: JudgeContext | None = None):
        super().__init__(config, context)
        if self.context.generator is None or self.context.prompts is None:
            raise ValueError(
                "policy_judge needs the policy's engine and prompt formatter: build it with "
                "build_step_judge(section, JudgeContext(generator=runtime, prompts=formatter, max_model_len=...))"
            )
        self.counts = {"prompts": 0, "unparsed": 0, "too_long": 0, "generate_calls": 0}

    def stats(self) -> dict[str, float]:
        return {f"judge/{key}": float(value) for key, value in self.counts.items()}

    def score_steps(self, queries: Sequence[StepQuery]) -> list[list[float]]:
        if self.config.mode == "pointwise":
            texts = [pointwise_prompt(q.question, q.prefix, c) for q in queries for c in q.candidates]
            scores = self.parsed(self.replies(texts), parse_pointwise)
            flat = iter(NEUTRAL if score is None else score for score in scores)
            return [[next(flat) for _ in q.candidates] for q in queries]
        games = [comparisons(len(q.candidates), self.config.both_orders) for q in queries]
        texts = [
            pairwise_prompt(q.question, q.prefix, q.candidates[a], q.candidates[b])
            for q, pairs in zip(queries, games, strict=True)
            for a, b in pairs
        ]
        found = iter(self.parsed(self.replies(texts), parse_pairwise))
        return [
            rank_by_wins(len(q.candidates), pairs, [next(found) for _ in pairs])
            for q, pairs in zip(queries, games, strict=True)
        ]

    def parsed(self, replies: Sequence[str | None], parse: Callable[[str], T | None]) -> list[T | None]:
        """Each reply parsed (None where it was not sent or has no verdict; the latter counted as unparsed)."""
        values = [None if reply is None else parse(reply) for reply in replies]
        self.counts["unparsed"] += sum(1 for r, v in zip(replies, values, strict=True) if r is not None and v is None)
        return values

    def replies(self, texts: Sequence[str]) -> list[str | None]:
        """The judge's reply to every prompt, from one generate call (None for a prompt too long to send)."""
        ids = [self.context.prompts.encode(text).ids for text in texts]
        window = self.context.max_model_len
        limit = None if window is None else window - self.config.max_tokens
        fits = [limit is None or len(prompt) <= limit for prompt in ids]
        self.counts["prompts"] += len(texts)
        self.counts["too_long"] += fits.count(False)
        if not all(fits):
            log.warning(
                "policy_judge: %d of %d prompts exceed %s tokens: scored neutrally", fits.count(False), len(ids), limit
            )
        send = [prompt for prompt, ok in zip(ids, fits, strict=True) if ok]
        if not send:
            return [None] * len(texts)
        sampling = {"temperature": self.config.temperature, "top_p": self.config.top_p}
        samples = self.context.generator.generate(
            Batch.from_rows([{"prompt_ids": prompt} for prompt in send]),
            n=1,
            sampling={**sampling, "max_tokens": self.config.max_tokens},
        )
        self.counts["generate_calls"] += 1
        answers = iter(str(text) for text in samples["response_text"])
        return [next(answers) if ok else None for ok in fits]
