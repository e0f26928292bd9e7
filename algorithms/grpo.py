"""GRPO (Shao et al. 2024, DeepSeekMath §4.1): sample a group per prompt, normalise rewards within the group,
and update with a clipped surrogate, optionally penalised by KL to the reference policy."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from algorithms.base import ALGORITHMS, Algorithm, AlgorithmConfig
from rlcore.advantages import ADVANTAGES, grpo_advantages
from rlcore.batch import Batch, rows_to_batch
from rlcore.config import ConfigError, RunConfig


class GRPOConfig(AlgorithmConfig):
    prompts_per_step: int = Field(
        16, ge=1, description="Prompts sampled per step; the step trains on prompts × group_size."
    )
    group_size: int = Field(8, ge=2, description="Samples per prompt (G); advantages compare samples of one prompt.")
    advantage: Literal["grpo", "rloo"] = Field(
        "grpo", description="grpo: reward minus the group mean (÷ std); rloo: minus the mean of the others."
    )
    scale_by_std: bool = Field(True, description="Divide by the group's std (False: Dr. GRPO).")
    clip_low: float = Field(0.2, ge=0, description="ε of the clipped ratio, lower side.")
    clip_high: float = Field(0.2, ge=0, description="ε upper side (> clip_low: DAPO's clip-higher).")
    kl_coef: float = Field(0.0, ge=0, description="β of the KL penalty to the reference; 0 = no reference.")
    kl_estimator: Literal["k1", "k2", "k3"] = Field("k3", description="Schulman's per-token KL estimator.")
    loss_aggregation: Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"] = Field(
        "token-mean", description="Mean over all tokens, or per sequence (token mean or sum) then over sequences."
    )
    mini_batches: int = Field(1, ge=1, description="Optimizer steps per training step.")
    epochs: int = Field(1, ge=1, description="Passes over each step's samples.")
    is_truncation: float = Field(
        2.0,
        gt=0,
        description="C of the truncated importance weight min(π_old/π_behaviour, C) on each token's term when "
        "rollout.async_steps > 0 (samples from an older policy); unused on-policy.",
    )

    def validate_sizes(self, run: RunConfig) -> None:
        """A step's samples (prompts × group) must split evenly over the learner ranks and the mini-batches."""
        samples, ranks = self.prompts_per_step * self.group_size, run.learner.num_workers
        if samples % (ranks * self.mini_batches):
            raise ConfigError(
                f"algorithm: prompts_per_step × group_size = {self.prompts_per_step} × {self.group_size} = {samples} "
                f"samples do not split into learner.num_workers × algorithm.mini_batches = {ranks} × "
                f"{self.mini_batches}; choose sizes that divide evenly"
            )


@ALGORITHMS.register("grpo")
class GRPO(Algorithm):
    Config = GRPOConfig
    cfg: GRPOConfig
    async_rollout = True

    def needs_reference(self) -> bool:
        return self.cfg.kl_coef > 0

    def optimizer_steps(self) -> int:
        return self.cfg.steps * self.cfg.mini_batches * self.cfg.epochs

    def step(self, step: int) -> dict[str, float]:
        cfg, rt = self.cfg, self.runtime
        with self.phase("generate"):  # rollout.async_steps > 0: generated while earlier steps trained
            samples = self.rollout(step, self.step_prompts, n=cfg.group_size)
        with self.phase("reward"):
            samples = rt.score(samples)
        # π, π_old and π_ref are all the distributions sampled from: logits / rollout.temperature (as verl and TRL).
        temperature = self.config.rollout.temperature
        if self.needs_reference():
            with self.phase("reference"):
                samples = rt.reference_logprobs(samples, temperature=temperature)
        if cfg.mini_batches > 1 or cfg.epochs > 1:  # off-policy after the first update: keep π_old (else π_old = π)
            with self.phase("reference"):
                samples = rt.policy_logprobs(samples, temperature=temperature)
        samples = samples.with_tensors(advantages=self.advantages(samples))
        with self.phase("train"):
            train = rt.train(
                samples,
                loss="grpo",
                loss_params=self.loss_params(),
                aggregation=cfg.loss_aggregation,
                mini_batches=cfg.mini_batches,
                epochs=cfg.epochs,
                temperature=temperature,
            )
        with self.phase("sync"):
            sync = rt.sync_weights()
        return {**self.sample_metrics(samples), **{f"train/{k}": v for k, v in train.items()}, **sync}

    def step_prompts(self, step: int) -> Batch:
        """The prompts of `step`, each with its sampling seed."""
        return rows_to_batch(self.sampler.next_batch(self.cfg.prompts_per_step), seed=self.sample_seed(step))

    def sample_metrics(self, samples) -> dict[str, float]:
        """Metrics of one step's scored samples (subclasses add their own)."""
        return rollout_metrics(samples)

    def sample_seed(self, step: int) -> int:
        return (self.config.run.seed * 1_000_003 + step * 10_007) % 2**31

    def advantages(self, samples) -> np.ndarray:
        groups = np.asarray(samples["group"])
        if self.cfg.advantage == "grpo":  # the one estimator with an option
            return grpo_advantages(samples["rewards"], groups, scale_by_std=self.cfg.scale_by_std)
        return ADVANTAGES.get(self.cfg.advantage)(samples["rewards"], groups)

    def loss_params(self) -> dict:
        params = {
            "clip_low": self.cfg.clip_low,
            "clip_high": self.cfg.clip_high,
            "kl_coef": self.cfg.kl_coef,
            "kl_estimator": self.cfg.kl_estimator,
        }
        if self.config.rollout.async_steps:  # samples of an older policy: weight by min(π_old/π_behaviour, C)
            params["is_truncation"] = self.cfg.is_truncation
        return params


def rollout_metrics(samples) -> dict[str, float]:
    """Reward, per-language reward, group statistics and response lengths of one step's samples."""
    rewards = samples["rewards"]
    groups = np.asarray(samples["group"])
    lengths = samples["response_mask"].sum(axis=1)
    group_means = np.array([rewards[groups == g].mean() for g in np.unique(groups)])
    group_stds = np.array([rewards[groups == g].std() for g in np.unique(groups)])
    metrics = {
        "reward/mean": float(rewards.mean()),
        "reward/std": float(rewards.std()),
        "reward/failed": float(samples["reward_failed"].mean()),
        "groups/all_same_reward": float((group_stds == 0).mean()),
        "groups/solved_all": float((group_means >= 1).mean()),
        "response_length/mean": float(lengths.mean()),
        "response_length/clipped": float(np.mean([r == "length" for r in samples["finish_reason"]])),
        "rollout/samples": float(len(rewards)),  # prompts × group size: none lost or redone twice
        "rollout/tokens": float(lengths.sum()),
        "rollout/policy_version": float(samples.meta.get("policy_version", 0)),
    }
    if "staleness" in samples:  # policy versions between the samples' generator and the learner they train
        metrics |= {
            "rollout/staleness_mean": float(samples["staleness"].mean()),
            "rollout/staleness_max": float(samples["staleness"].max()),
        }
    # The parts of a combined reward (unweighted means), as the reward workers return them.
    metrics |= {key: float(samples[key].mean()) for key in samples.tensors if key.startswith("reward/")}
    languages = np.asarray(samples["language"])
    for language in np.unique(languages):
        metrics[f"reward/{language}"] = float(rewards[languages == language].mean())
    return metrics
