"""Reward-ranked pairs: n samples per prompt under any reward; chosen = best, rejected = worst, ties skipped."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
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
from rlcore.registry import PAIR_BUILDERS


class RewardRankedConfig(PairBuilderConfig):
    samples_per_prompt: int = Field(4, ge=2, description="Responses sampled per prompt; best and worst are paired.")
    min_margin: float = Field(0.0, ge=0, description="Skip a prompt whose best and worst differ by <= this.")


@PAIR_BUILDERS.register("reward_ranked")
class RewardRanked(PairBuilder):
    Config = RewardRankedConfig
    config: RewardRankedConfig

    def build(self, prompts: list[dict[str, Any]], ctx: PairContext) -> BuildResult:
        samples = ctx.generate(prompts, n=self.config.samples_per_prompt)
        scores = ctx.score(samples)
        groups: dict[int, list[int]] = defaultdict(list)
        for index, sample in enumerate(samples):
            groups[sample["group"]].append(index)
        pairs, ties = [], 0
        for members in groups.values():
            group_scores = scores[members]
            best, worst = members[int(np.argmax(group_scores))], members[int(np.argmin(group_scores))]
            if scores[best] - scores[worst] <= self.config.min_margin:
                ties += 1
                continue
            pairs.append(
                make_pair(
                    samples[best],
                    samples[best]["prompt_ids"],
                    response(samples[best]),
                    response(samples[worst]),
                    chosen_score=float(scores[best]),
                    rejected_score=float(scores[worst]),
                )
            )
        generations = [generation_record(s, score) for s, score in zip(samples, scores, strict=True)]
        return BuildResult(pairs, generations, {"tie": ties})
