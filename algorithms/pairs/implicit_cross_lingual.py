"""Implicit Cross-Lingual Rewarding (Yang et al. 2025): an English-aligned DPO model and its reference score
responses in any language against the *English* instruction, r(x, y) = logπ_dpo(y|x_en) − logπ_ref(y|x_en).

The reward itself is the `implicit_dpo` reward (rewards/implicit_dpo.py), hosted by the run's reward workers; this
builder samples n responses per prompt, asks for r on the scoring prompt (x_en's user turn with an instruction
asking for an answer in L put in front), applies per-language length control r' = r − α·len_chars(y) with α chosen
on a grid to balance chosen and rejected lengths, and pairs argmax r' with argmin r'.
"""

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
from rlcore.chat import rewrite_user_turn
from rlcore.registry import PAIR_BUILDERS
from rlcore.translation import LANGUAGE_NAMES


class ImplicitCrossLingualConfig(PairBuilderConfig):
    samples_per_prompt: int = Field(10, ge=2, description="Responses sampled per prompt (n).")
    temperature: float = Field(0.9, ge=0, description="Sampling temperature of those responses.")
    english: str = Field("en", description="Language of the instruction x_en the reward scores against.")
    answer_in_prefix: str = Field(
        "Please answer in {language}.\n", description="Put before x_en when scoring a response in another language."
    )
    length_control: bool = Field(True, description="Subtract α·length (α per language); False = α = 0.")
    alpha_step: float = Field(0.001, gt=0, lt=1, description="Grid step of α in [0, 1).")


def select_pair(rewards: np.ndarray, lengths: np.ndarray, alpha: float) -> tuple[int, int]:
    """(argmax, argmin) of r' = r − α·len over one prompt's samples."""
    adjusted = rewards - alpha * lengths
    return int(np.argmax(adjusted)), int(np.argmin(adjusted))


def length_control_alpha(groups: list[tuple[np.ndarray, np.ndarray]], step: float) -> float:
    """α in [0, 1) minimising |mean len(chosen) − mean len(rejected)| over a language's prompts (smallest α wins
    ties)."""
    best_alpha, best_gap = 0.0, float("inf")
    for alpha in np.arange(0.0, 1.0, step).tolist():
        picks = [select_pair(rewards, lengths, alpha) for rewards, lengths in groups]
        gap = abs(
            np.mean([lengths[c] for (_, lengths), (c, _) in zip(groups, picks, strict=True)])
            - np.mean([lengths[r] for (_, lengths), (_, r) in zip(groups, picks, strict=True)])
        )
        if gap < best_gap - 1e-12:
            best_alpha, best_gap = float(alpha), gap
    return best_alpha


@PAIR_BUILDERS.register("implicit_cross_lingual")
class ImplicitCrossLingual(PairBuilder):
    Config = ImplicitCrossLingualConfig
    config: ImplicitCrossLingualConfig

    def scoring_prompt(self, row: dict[str, Any], ctx: PairContext) -> dict[str, Any] | None:
        """x_en as a prompt row; for a response in another language the answer-in-L instruction is put in front of
        the English question inside the user turn."""
        english = ctx.rows_by_key.get((row["id"], self.config.english))
        if english is None:
            return None
        if row["language"] == self.config.english:
            return english
        language = LANGUAGE_NAMES.get(row["language"], row["language"])
        return rewrite_user_turn(english, lambda text: self.config.answer_in_prefix.format(language=language) + text)

    def build(self, prompts: list[dict[str, Any]], ctx: PairContext) -> BuildResult:
        cfg = self.config
        found = {(row["id"], row["language"]): self.scoring_prompt(row, ctx) for row in prompts}
        scoring = {key: prompt for key, prompt in found.items() if prompt is not None}
        kept = [row for row in prompts if (row["id"], row["language"]) in scoring]
        samples = ctx.generate(kept, n=cfg.samples_per_prompt, temperature=cfg.temperature)
        score_ids = {key: ctx.prompt_ids(prompt) for key, prompt in scoring.items()}
        for sample in samples:
            key = (sample["id"], sample["language"])
            sample["score_prompt"], sample["score_prompt_ids"] = scoring[key]["prompt"], score_ids[key]
        rewards = ctx.score(samples)
        groups: dict[int, list[int]] = defaultdict(list)
        for index, sample in enumerate(samples):
            groups[sample["group"]].append(index)
        by_language: dict[str, list[list[int]]] = defaultdict(list)
        for members in groups.values():
            by_language[samples[members[0]]["language"]].append(members)

        pairs, ties = [], 0
        alphas = {}
        for language, member_lists in by_language.items():
            arrays = [
                (rewards[m], np.array([len(samples[i]["response_text"]) for i in m], np.float64)) for m in member_lists
            ]
            alphas[language] = length_control_alpha(arrays, cfg.alpha_step) if cfg.length_control else 0.0
            for members, (group_rewards, lengths) in zip(member_lists, arrays, strict=True):
                best, worst = select_pair(group_rewards, lengths, alphas[language])
                if best == worst:  # argmax and argmin agree only when every r′ of the prompt is equal
                    ties += 1
                    continue
                chosen, rejected = samples[members[best]], samples[members[worst]]
                pairs.append(
                    make_pair(
                        chosen,
                        chosen["prompt_ids"],
                        response(chosen),
                        response(rejected),
                        chosen_score=float(group_rewards[best]),
                        rejected_score=float(group_rewards[worst]),
                        alpha=alphas[language],
                    )
                )
        generations = [generation_record(s, r) for s, r in zip(samples, rewards, strict=True)]
        return BuildResult(
            pairs,
            generations,
            {"tie": ties, "no_english_version": len(prompts) - len(kept)},
            {f"alpha_{lang}": a for lang, a in alphas.items()},
        )
