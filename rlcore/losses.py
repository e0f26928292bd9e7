"""Policy losses as pure tensor functions, registered by name.

A loss maps response log-probabilities [B, R], the response mask [B, R] and the batch's tensors to per-token
losses [B, R] (or, for sequence-level losses such as DPO, per-row losses [B]) plus metrics of the same shape. The
learner aggregates them over a whole mini-batch (all ranks, all micro-batches) with `aggregate`, so gradient
accumulation does not change the objective. Preference losses live in rlcore/preference_losses.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from rlcore.preference_losses import dpo_loss
from rlcore.registry import Registry

Tensor = torch.Tensor
LossFn = Callable[..., tuple[Tensor, dict[str, Tensor]]]
LOSSES: Registry[LossFn] = Registry("loss", "rlcore.losses")
Aggregation = Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "pair-mean"]


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, estimator: str) -> Tensor:
    """Per-token estimate of KL(π || π_ref) from samples of π (Schulman's k1/k2/k3)."""
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio  # k1 = log π/π_ref
    if estimator == "k2":
        return 0.5 * log_ratio.square()  # k2 = ½ (log π/π_ref)²
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio  # k3 = π_ref/π − 1 − log(π_ref/π)
    raise ValueError(f"unknown KL estimator {estimator!r}; use k1, k2 or k3")


def clipped_policy_loss(
    logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, clip_low: float, clip_high: float
) -> tuple[Tensor, Tensor]:
    """PPO/GRPO surrogate: max(−A·ρ, −A·clip(ρ, 1−ε_low, 1+ε_high)), ρ = π/π_old. Returns (loss, clipped?)."""
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    return torch.maximum(unclipped, clipped), (clipped > unclipped).float()


def truncated_is_weight(old_logprobs: Tensor, behaviour_logprobs: Tensor, cap: float) -> Tensor:
    """Behaviour correction of decoupled PPO (AReaL), truncated as verl's TIS; no gradient flows through it."""
    return torch.exp(old_logprobs - behaviour_logprobs).clamp(max=cap).detach()  # w = min(π_old/π_behaviour, C)


@LOSSES.register("grpo")
def grpo_loss(
    logprobs: Tensor,
    mask: Tensor,
    batch: dict[str, Tensor],
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    kl_coef: float = 0.0,
    kl_estimator: str = "k3",
    is_truncation: float | None = None,
) -> tuple[Tensor, dict]:
    """GRPO (DeepSeekMath eq. 3): clipped surrogate with a sequence advantage per token, + β·KL(π||π_ref).

    With `is_truncation` (C; asynchronous rollout) the samples came from an older behaviour policy, whose log-probs
    are `rollout_logprobs`: the surrogate's ratio stays π/π_old (π_old: the learner at the start of the step) and
    each token's term is weighted by min(π_old/π_behaviour, C) (decoupled PPO, Hilton et al. 2022; AReaL)."""
    # Without stored old log-probs the update is on-policy: ρ = 1 in value, ∇ρ = ∇log π.
    old = batch["old_logprobs"] if "old_logprobs" in batch else logprobs.detach()
    advantages = batch["advantages"][:, None].expand_as(logprobs)
    loss, clipped = clipped_policy_loss(logprobs, old, advantages, clip_low, clip_high)
    metrics = {"clip_fraction": clipped, "approx_kl_old": 0.5 * (logprobs.detach() - old).square()}
    if is_truncation is not None:
        weight = truncated_is_weight(old, batch["rollout_logprobs"], is_truncation)
        loss = loss * weight
        metrics["is_weight"] = weight
        metrics["is_truncated"] = (weight >= is_truncation).float()
    if kl_coef > 0:
        kl = kl_penalty(logprobs, batch["ref_logprobs"], kl_estimator)
        loss = loss + kl_coef * kl
        metrics["kl_ref"] = kl.detach()
    return loss * mask, metrics


@LOSSES.register("sft")
def sft_loss(logprobs: Tensor, mask: Tensor, batch: dict[str, Tensor]) -> tuple[Tensor, dict]:
    """Negative log-likelihood of the response tokens."""
    return -logprobs * mask, {}


def aggregate(token_values: Tensor, mask: Tensor, mode: Aggregation) -> Tensor:
    """Sum of this micro-batch's contributions; divide by `normalizer` of the whole mini-batch for the mean."""
    if token_values.ndim == 1:  # already one value per row (sequence-level losses)
        return token_values.sum()
    if mode == "token-mean":
        return (token_values * mask).sum()
    per_sequence = (token_values * mask).sum(dim=1)
    if mode == "seq-mean-token-mean":
        per_sequence = per_sequence / mask.sum(dim=1).clamp(min=1)
    elif mode != "seq-mean-token-sum":
        raise ValueError(f"unknown loss aggregation {mode!r}")
    return per_sequence.sum()


def normalizer(mask: Tensor, mode: Aggregation) -> Tensor:
    """What `aggregate` sums over: tokens for token-mean, pairs (two rows each) for pair-mean, sequences otherwise."""
    if mode == "token-mean":
        return mask.sum()
    if mode == "pair-mean":
        return torch.tensor(mask.shape[0] / 2, dtype=mask.dtype)
    return (mask.sum(dim=1) > 0).sum().to(mask.dtype)


LOSSES.register("dpo")(dpo_loss)
