"""Rule-based math reward: final-answer correctness from rlcore.grading, plus a format reward."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from rewards.base import Reward, RewardConfig
from rlcore.grading import final_answer, grade_answer
from rlcore.registry import REWARDS

_NUMBER = re.compile(r"\d")


class MathConfig(RewardConfig):
    format_weight: float = Field(0.0, ge=0, description="Added for a well-formed, finished answer.")
    answer_key: str = Field("answer", description="Sample column that holds the gold answer.")


@REWARDS.register("math")
class MathReward(Reward):
    """1 if the final answer equals the gold answer (rlcore.grading, in the sample's language), else 0;
    + format_weight * format score."""

    Config = MathConfig
    config: MathConfig
    runs_in_subprocess = True  # sympy can hang in C code past any signal: only a killed process stops it
    samples_per_call = 32

    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        scores = []
        for sample in samples:
            answer = final_answer(sample["response_text"])  # extracted once for both terms
            score = float(grade_answer(answer, sample[self.config.answer_key], sample.get("language")))
            if self.config.format_weight:
                score += self.config.format_weight * _well_formed(answer, sample)
            scores.append(score)
        return scores


def format_score(sample: dict[str, Any]) -> float:
    """1 if the response finished by itself (not cut at max_tokens) and states a final answer with a number."""
    return _well_formed(final_answer(sample["response_text"]), sample)


def _well_formed(answer: str | None, sample: dict[str, Any]) -> float:
    finished = sample.get("finish_reason", "stop") == "stop"
    return float(finished and answer is not None and bool(_NUMBER.search(answer)))


@REWARDS.register("format")
class FormatReward(Reward):
    """1 for a finished response that states a final answer with a number, else 0 (no correctness check)."""

    Config = RewardConfig
    runs_in_subprocess = True
    samples_per_call = 32

    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        return [format_score(sample) for sample in samples]
