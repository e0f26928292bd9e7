"""Reference-based translation rewards: sentence chrF (`chrf`) and BLEU (`bleu`) of the response against a reference
column, in [0, 1] (rlcore.translation_metrics)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from rewards.base import Reward, RewardConfig
from rlcore.registry import REWARDS
from rlcore.translation_metrics import MetricName, sentence_scores, thresholded


class TranslationMetricConfig(RewardConfig):
    reference_key: str = Field("reference", description="Sample column that holds the reference translation.")
    threshold: float = Field(0.0, ge=0, le=1, description="Scores below this become 0 (0 keeps every score as it is).")


class _TranslationMetricReward(Reward):
    """Scores each sample's `response_text` against its reference with `metric`."""

    Config = TranslationMetricConfig
    config: TranslationMetricConfig
    metric: ClassVar[MetricName]
    # A very long response costs seconds of n-gram counting: only a killed process keeps timeout_s, as for math.
    runs_in_subprocess = True
    samples_per_call = 64

    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        hypotheses = [sample["response_text"].strip() for sample in samples]
        references = [str(sample[self.config.reference_key]) for sample in samples]
        return thresholded(sentence_scores(self.metric, hypotheses, references), self.config.threshold)


@REWARDS.register("chrf")
class ChrfReward(_TranslationMetricReward):
    """Sentence chrF (character 6-grams, β = 2) of the response against the sample's reference, in [0, 1]."""

    metric = "chrf"


@REWARDS.register("bleu")
class BleuReward(_TranslationMetricReward):
    """Sentence BLEU (effective n-gram order, 13a tokenizer) of the response against the sample's reference, in
    [0, 1]."""

    metric = "bleu"
