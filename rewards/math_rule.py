"""Rule-based math reward: final-answer correctness checked with math-verify, plus a format reward."""

from __future__ import annotations

import re
from typing import Any

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
from pydantic import Field

from rewards.base import REWARDS, Reward, RewardConfig
from rlcore.world.tasks import ANSWER_PHRASES

_PHRASES = sorted(
    {*ANSWER_PHRASES.values(), "The answer is", "the answer is", "Answer:", "####"}, key=len, reverse=True
)
_FINAL = re.compile("(?:" + "|".join(re.escape(p) for p in _PHRASES) + r")\s*:?\s*(.+?)\s*\.?\s*$", re.MULTILINE)
_BOXED = re.compile(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?(?:/\d+)?")


def final_answer(text: str) -> str | None:
    """The model's final answer: the last \\boxed{...}, else the last "answer is ..." line, else None."""
    boxed = _BOXED.findall(text)
    if boxed:
        return boxed[-1].strip()
    lines = _FINAL.findall(text)
    return lines[-1].strip() if lines else None


def answers_match(predicted: str, gold: str) -> bool:
    """Mathematical equivalence via math-verify (timeouts are the reward worker's job, hence None here)."""
    if _PLAIN_NUMBER.fullmatch(predicted.strip()) and _PLAIN_NUMBER.fullmatch(gold.strip()):
        return float(predicted) == float(gold)  # the common case, without a sympy round trip
    targets = [LatexExtractionConfig(), ExprExtractionConfig()]
    gold_parsed = parse(f"${gold}$", extraction_config=targets, parsing_timeout=None)
    pred_parsed = parse(f"${predicted}$", extraction_config=targets, parsing_timeout=None)
    if not gold_parsed or not pred_parsed:
        return predicted.strip() == gold.strip()
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))


class MathConfig(RewardConfig):
    format_weight: float = Field(0.0, ge=0, description="Added for a well-formed, finished answer.")
    answer_key: str = Field("answer", description="Sample column that holds the gold answer.")


@REWARDS.register("math")
class MathReward(Reward):
    """1 if the final answer equals the gold answer (math-verify), else 0; + format_weight * format score."""

    Config = MathConfig

    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        scores = []
        for sample in samples:
            correct = is_correct(sample["response_text"], sample[self.config.answer_key])
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


def is_correct(response_text: str, gold: str) -> bool:
    predicted = final_answer(response_text)
    return predicted is not None and answers_match(predicted, str(gold))
