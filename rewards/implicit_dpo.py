"""Implicit DPO reward (Rafailov et al. 2023 §5; used by Implicit Cross-Lingual Rewarding, Yang et al. 2025):
r(x, y) = logπ_dpo(y|x) − logπ_ref(y|x), with β omitted because rankings do not depend on it.

The prompt scored is the sample's `score_prompt_ids` column when present (e.g. the English instruction for a response
in another language, formatted by the pair builder), else its `prompt_ids`; the response is the sample's own token
ids. Both were made with the policy's tokenizer and chat template (rlcore.chat), which the two scoring models share.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from rewards.base import Reward, RewardConfig
from rlcore.batch import Batch
from rlcore.modeling import batch_logprobs, load_causal_lm, resolve_model_path, torch_device
from rlcore.registry import REWARDS


class ImplicitDPOConfig(RewardConfig):
    model: str = Field(
        ..., description="The DPO-aligned model: a model dir, a run dir (its newest checkpoint) or builtin:tiny-arith."
    )
    reference: str = Field("builtin:tiny-arith", description="The DPO model's reference (its SFT start).")
    dtype: str = Field("float32", description="Weights of both scoring models: float32, bfloat16 or float16.")
    micro_batch_size: int = Field(32, ge=1, description="Samples per forward pass of each scoring model.")
    timeout_s: float = Field(300.0, gt=0, description="Seconds one scoring call may take (two forward passes).")


@REWARDS.register("implicit_dpo")
class ImplicitDPO(Reward):
    Config = ImplicitDPOConfig
    config: ImplicitDPOConfig

    def __init__(self, config: ImplicitDPOConfig):
        super().__init__(config)
        self.device = torch_device()
        self.policy = load_causal_lm(resolve_model_path(config.model), config.dtype).to(self.device).eval()
        self.reference = load_causal_lm(resolve_model_path(config.reference), config.dtype).to(self.device).eval()

    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        batch = Batch.from_rows(
            [
                {
                    "prompt_ids": list(s.get("score_prompt_ids") or s["prompt_ids"]),
                    "response_ids": list(s["response_ids"]),
                }
                for s in samples
            ]
        )
        size = self.config.micro_batch_size  # padded positions hold 0, so row sums are sequence log-probs
        policy = batch_logprobs(self.policy, batch, size, device=self.device).sum(axis=1)
        reference = batch_logprobs(self.reference, batch, size, device=self.device).sum(axis=1)
        return (policy - reference).tolist()
