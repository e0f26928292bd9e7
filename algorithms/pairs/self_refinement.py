"""Self-refinement pairs (personalised emotional-support self-evolution): the policy answers, reflects on its
answer with a reflection prompt and writes a refinement; chosen = the refinement, rejected = the original answer.

`require_improvement` keeps a pair only when the run's reward scores the refinement above the original (useful
where a reward exists, e.g. the embedded world's math reward); without it every successful refinement counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from algorithms.pairs.base import (
    BuildResult,
    PairBuilder,
    PairBuilderConfig,
    PairContext,
    generation_record,
    make_pair,
    response,
)
from rlcore.chat import rewrite_user_turn
from rlcore.registry import PAIR_BUILDERS


class SelfRefinementConfig(PairBuilderConfig):
    reflection_prompt: str = Field(
        "{prompt}{response}\n\nReflect on the answer above: consider the user's situation and needs, check each "
        "step, and write an improved answer.\n",
        description="Formats {prompt} (the user's text) and {response}; written in the user turn, the policy's "
        "reply is the refinement.",
    )
    require_improvement: bool = Field(False, description="Keep only refinements the reward scores higher.")


@PAIR_BUILDERS.register("self_refinement")
class SelfRefinement(PairBuilder):
    Config = SelfRefinementConfig
    config: SelfRefinementConfig

    def reflection_row(self, sample: dict[str, Any]) -> dict[str, Any]:
        """The reflection request on a sample, written inside the user turn of its prompt."""
        return rewrite_user_turn(
            _row_of(sample), _reflection_text(self.config.reflection_prompt, sample["response_text"])
        )

    def build(self, prompts: list[dict[str, Any]], ctx: PairContext) -> BuildResult:
        originals = ctx.generate(prompts, n=self.config.samples_per_prompt)
        reflections = [self.reflection_row(sample) for sample in originals]
        refinements = ctx.generate(reflections, n=1)
        scored = self.config.require_improvement
        original_scores = ctx.score(originals) if scored else [None] * len(originals)
        refined_scores = (
            ctx.score(
                [
                    {**r, "prompt": o["prompt"], "prompt_ids": o["prompt_ids"]}
                    for o, r in zip(originals, refinements, strict=True)
                ]
            )
            if scored
            else [None] * len(originals)
        )
        pairs, generations = [], []
        dropped = {"refinement_truncated_or_empty": 0, "not_improved": 0}
        for original, refined, before, after in zip(
            originals, refinements, original_scores, refined_scores, strict=True
        ):
            generations.append(generation_record(original, before, role="answer"))
            generations.append(generation_record(refined, after, role="refinement"))
            if refined["finish_reason"] != "stop" or not refined["response_text"].strip():
                dropped["refinement_truncated_or_empty"] += 1
            elif scored and not after > before:
                dropped["not_improved"] += 1
            else:
                meta = {"chosen_score": float(after), "rejected_score": float(before)} if scored else {}
                pairs.append(make_pair(original, original["prompt_ids"], response(refined), response(original), **meta))
        return BuildResult(pairs, generations, dropped)


def _reflection_text(template: str, response_text: str) -> Callable[[str], str]:
    return lambda user_text: template.format(prompt=user_text, response=response_text)


def _row_of(sample: dict[str, Any]) -> dict[str, Any]:
    """The prompt row behind a sample (generation outputs and bookkeeping removed)."""
    generated = {
        "prompt_ids",
        "response_ids",
        "response_text",
        "finish_reason",
        "sample_index",
        "group",
        "rollout_logprobs",
        "response_mask",
    }
    return {key: value for key, value in sample.items() if key not in generated}
