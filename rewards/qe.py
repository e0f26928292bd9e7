"""Translation quality estimation as a reward (ADSQE, METHODS.md §5): `qe` scores (source, translation) pairs without
a reference.

The source is the sample's `source_key` column, the translation its `response_text`. Sentence scores by `mode`:

- `regression`: a QE model's sentence score, either a transformers sequence-classification model with one
  regression output (XLM-R-style, `backend: transformers`, the pair encoded as a text pair) or a COMET-family QE
  checkpoint such as CometKiwi (`backend: comet`, unbabel-comet from the `gpu` extra);
- `mqm`: MQM = 1 − Σ_span weight(severity) / #words of a token-classification model's word tags (`tagger`, labels
  OK/minor/major/critical, read at each word's first token; rlcore.mqm);
- `mixed`: (1 − i)·MQM + i·regression with i = `regression_weight`.

Models load once in the reward worker (on its GPU when it has one: give the reward `num_gpus`) and score in
micro-batches. An empty translation scores `empty_score` without a model call. The pure MQM functions live in
rlcore.mqm (the embedded world's synthetic QE data uses them too) and are re-exported here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from rewards.base import Reward, RewardConfig
from rewards.qe_model import CometScorer, PairModel
from rlcore.config import ModelDtype
from rlcore.modeling import torch_device
from rlcore.mqm import (
    OK,
    SEVERITIES,
    SEVERITY_WEIGHTS,
    WeightScheme,
    error_spans,
    mixed_scores,
    mqm_score,
    mqm_scores,
)
from rlcore.registry import REWARDS

__all__ = [
    "OK",
    "SEVERITIES",
    "SEVERITY_WEIGHTS",
    "QEConfig",
    "QEReward",
    "WeightScheme",
    "error_spans",
    "mixed_scores",
    "mqm_score",
    "mqm_scores",
]


class QEConfig(RewardConfig):
    model: str | None = Field(
        None,
        description="The sentence-level QE model (modes regression and mixed): a local transformers model dir with "
        "one regression output or builtin:tiny-qe, the embedded world's (backend transformers), or a COMET "
        "checkpoint, a .ckpt file or a model dir holding checkpoints/model.ckpt (backend comet).",
    )
    backend: Literal["transformers", "comet"] = Field(
        "transformers", description="How `model` loads: transformers, or comet (unbabel-comet, the gpu extra)."
    )
    tagger: str | None = Field(
        None,
        description="A local transformers token-classification model dir whose labels are OK/minor/major/critical "
        "(modes mqm and mixed).",
    )
    mode: Literal["regression", "mqm", "mixed"] = Field(
        "regression", description="regression: the model's score; mqm: MQM of the tagger's word tags; mixed: both."
    )
    regression_weight: float = Field(0.5, ge=0, le=1, description="i in (1 − i)·MQM + i·regression (mode mixed).")
    weights: WeightScheme = Field(
        "0.1/1/5", description="MQM penalty per error span, minor/major/critical: 0.1/1/5 or 1/5/10."
    )
    source_key: str = Field("source", description="Sample column that holds the source sentence.")
    micro_batch_size: int = Field(32, ge=1, description="Pairs per forward pass (per COMET batch).")
    max_length: int = Field(512, ge=8, description="Tokens of a (source, translation) pair; longer pairs are cut.")
    dtype: ModelDtype = Field("float32", description="Weights of the transformers models.")
    empty_score: float = Field(0.0, description="Score of an empty translation (no model call).")
    timeout_s: float = Field(300.0, gt=0, description="Seconds one scoring call may take.")

    @model_validator(mode="after")
    def _models_for_mode(self) -> QEConfig:
        if self.mode in ("regression", "mixed") and self.model is None:
            raise ValueError(f"qe mode {self.mode} needs `model` (the sentence-level QE model)")
        if self.mode in ("mqm", "mixed") and self.tagger is None:
            raise ValueError(f"qe mode {self.mode} needs `tagger` (a word-tagging model for MQM)")
        return self


@REWARDS.register("qe")
class QEReward(Reward):
    """Reference-free translation quality of `response_text` given the sample's source (see the module docstring)."""

    Config = QEConfig
    config: QEConfig

    def __init__(self, config: QEConfig):
        super().__init__(config)
        device, sizes = torch_device(), (config.micro_batch_size, config.max_length)
        # The config's validator guarantees the model of each part the mode uses; the other part stays None.
        self.regression: CometScorer | PairModel | None = None
        self.tagger: PairModel | None = None
        if config.mode != "mqm" and config.model is not None:
            self.regression = (
                CometScorer(config.model, config.micro_batch_size)
                if config.backend == "comet"
                else PairModel(config.model, False, config.dtype, device, *sizes)
            )
        if config.mode != "regression" and config.tagger is not None:
            self.tagger = PairModel(config.tagger, True, config.dtype, device, *sizes)

    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        translations = [str(sample["response_text"]).strip() for sample in samples]
        scored = [i for i, text in enumerate(translations) if text]
        scores = [self.config.empty_score] * len(samples)
        if scored:
            sources = [str(samples[i][self.config.source_key]) for i in scored]
            values = self.sentence_scores(sources, [translations[i] for i in scored])
            for i, value in zip(scored, values, strict=True):
                scores[i] = value
        return scores

    def sentence_scores(self, sources: list[str], translations: list[str]) -> list[float]:
        """The mode's score of each (source, translation) pair; translations are non-empty."""
        regression = self.regression.scores(sources, translations) if self.regression is not None else []
        if self.tagger is None:  # mode regression
            return regression
        mqm = mqm_scores(self.tagger.tags(sources, translations), self.config.weights)
        return mqm if self.regression is None else mixed_scores(mqm, regression, self.config.regression_weight)
