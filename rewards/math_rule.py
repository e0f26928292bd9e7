"""Rule-based math reward: final-answer correctness from rlcore.grading, plus a format reward."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from rewards.base import Reward, RewardConfig
from rlcore.grading import answers_match, final_answer, is_correct
from rlcore.registry import REWARDS

__all__ = ["FormatReward", "MathConfig", "MathReward", "answers_match", "final_answer", "format_score", "is_correct"]

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

    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        scores = []
        for sample in samples:
            correct = is_correct(sample["response_text"], sample[self.config.answer_key], sample.get("language"))
            scores.append(float(correct) + self.config.format_weight * format_score(sample))
        return scores


def format_score(sample: dict[str, Any]) -> float:
    """1 if the response finished by itself (not cut at max_tokens) and states a final answer with a number."""
    finished = sample.get("finish_reason", "stop") == "stop"
    answer = final_answer(sample["response_text"])
    return float(finished and answer is not None and bool(_NUMBER.search(answer)))


@REWARDS.register("format")
class FormatReward(Reward):
    """1 for a finished response that states a final answer with a number, else 0 (no correctness check)."""

    Config = RewardConfig

    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        return [format_score(sample) for sample in samples]
