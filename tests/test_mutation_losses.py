"""Policy losses, aggregation and normalisers on hand-computed cases (written to kill mutants; `make mutation`)."""

from __future__ import annotations

import math

import pytest
import torch

from rlcore.losses import aggregate, clipped_policy_loss, grpo_loss, kl_penalty, normalizer, sft_loss


def close(actual: torch.Tensor, expected) -> None:
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype), rtol=1e-6, atol=1e-7)


def test_kl_estimators_on_two_log_ratios():
    logp, ref = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.0])  # log π/π_ref = 0.5, −1
    close(kl_penalty(logp, ref, "k1"), [0.5, -1.0])
    close(kl_penalty(logp, ref, "k2"), [0.125, 0.5])
    close(kl_penalty(logp, ref, "k3"), [math.exp(-0.5) - 1 + 0.5, math.exp(1.0) - 1 - 1.0])
    with pytest.raises(ValueError, match="unknown KL estimator 'k4'; use k1, k2 or k3"):
        kl_penalty(logp, ref, "k4")


def test_asymmetric_clipping_bounds_each_side_separately():
    # ratios e^{±0.4} = 1.4918 / 0.6703 with ε_low = 0.1, ε_high = 0.3: the bounds are 0.9 and 1.3.
    logp = torch.tensor([0.4, -0.4, 0.4, -0.4])
    old = torch.zeros(4)
    advantages = torch.tensor([1.0, 1.0, -1.0, -1.0])
    loss, clipped = clipped_policy_loss(logp, old, advantages, clip_low=0.1, clip_high=0.3)
    up, down = math.exp(0.4), math.exp(-0.4)
    # A>0: ratio above 1+ε_high is clipped to 1.3; ratio below 1 is not (the min keeps the unclipped value).
    # A<0: ratio below 1−ε_low is clipped to 0.9; ratio above 1 is not.
    close(loss, [-1.3, -down, up, 0.9])
    close(clipped, [1.0, 0.0, 0.0, 1.0])


def test_ratio_inside_the_clip_range_is_not_clipped():
    logp, old = torch.tensor([-1.0]), torch.tensor([-1.05])  # ratio e^{0.05} = 1.0513, inside [0.8, 1.2]
    loss, clipped = clipped_policy_loss(logp, old, torch.tensor([3.0]), clip_low=0.2, clip_high=0.2)
    close(loss, [-3.0 * math.exp(0.05)])
    close(clipped, [0.0])


def test_grpo_loss_default_clip_is_0_2_on_both_sides_and_metrics():
    logp = torch.tensor([[0.5, -0.5], [0.5, -0.5]])
    batch = {"old_logprobs": torch.zeros(2, 2), "advantages": torch.tensor([1.0, -1.0])}
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    loss, metrics = grpo_loss(logp, mask, batch)
    # row 0 (A=+1): [−min(e^.5, 1.2), −e^−.5]; row 1 (A=−1): [e^.5, max(e^−.5, 0.8) masked out]
    close(loss, [[-1.2, -math.exp(-0.5)], [math.exp(0.5), 0.0]])
    close(metrics["clip_fraction"], [[1.0, 0.0], [0.0, 1.0]])
    close(metrics["approx_kl_old"], [[0.125, 0.125], [0.125, 0.125]])
    assert "kl_ref" not in metrics  # kl_coef defaults to 0: no reference needed


def test_grpo_loss_on_policy_has_ratio_one_and_no_clipping():
    logp = torch.tensor([[-0.3, -2.0]], requires_grad=True)
    loss, metrics = grpo_loss(logp, torch.ones(1, 2), {"advantages": torch.tensor([2.0])})
    close(loss.detach(), [[-2.0, -2.0]])
    close(metrics["approx_kl_old"], [[0.0, 0.0]])
    close(metrics["clip_fraction"], [[0.0, 0.0]])
    loss.sum().backward()
    close(logp.grad, [[-2.0, -2.0]])


def test_grpo_loss_adds_the_kl_term_with_the_default_k3_estimator():
    logp = torch.tensor([[-1.0, -2.0]])
    batch = {"advantages": torch.tensor([0.0]), "ref_logprobs": torch.tensor([[-1.5, -1.0]])}
    loss, metrics = grpo_loss(logp, torch.tensor([[1.0, 0.0]]), batch, kl_coef=0.5)
    k3 = [math.exp(-0.5) - 1 + 0.5, math.exp(1.0) - 2.0]
    close(metrics["kl_ref"], [k3])
    close(loss, [[0.5 * k3[0], 0.0]])
    assert not metrics["kl_ref"].requires_grad


def test_grpo_loss_kl_estimator_is_passed_through():
    batch = {"advantages": torch.tensor([0.0]), "ref_logprobs": torch.tensor([[-1.5]])}
    loss, metrics = grpo_loss(torch.tensor([[-1.0]]), torch.ones(1, 1), batch, kl_coef=2.0, kl_estimator="k2")
    close(metrics["kl_ref"], [[0.125]])
    close(loss, [[0.25]])


def test_sft_loss_is_masked_negative_log_likelihood():
    loss, metrics = sft_loss(torch.tensor([[-0.5, -2.0]]), torch.tensor([[1.0, 0.0]]), {})
    close(loss, [[0.5, 0.0]])
    assert metrics == {}


VALUES = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 0.0], [7.0, 8.0, 9.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # 3, 1 and 0 tokens


def test_token_mean_sums_masked_tokens_over_the_token_count():
    close(aggregate(VALUES, MASK, "token-mean"), 10.0)
    close(normalizer(MASK, "token-mean"), 4.0)


def test_seq_mean_token_mean_averages_each_sequence_then_counts_sequences_with_tokens():
    # (1+2+3)/3 + 4/1 + 0 (empty row: no division by zero)
    close(aggregate(VALUES, MASK, "seq-mean-token-mean"), 6.0)
    close(normalizer(MASK, "seq-mean-token-mean"), 2.0)


def test_seq_mean_token_sum_sums_each_sequence():
    close(aggregate(VALUES, MASK, "seq-mean-token-sum"), 10.0)
    close(normalizer(MASK, "seq-mean-token-sum"), 2.0)
    assert normalizer(MASK, "seq-mean-token-sum").dtype == MASK.dtype


def test_sequence_level_values_are_summed_and_pair_mean_counts_pairs():
    per_row = torch.tensor([0.5, 0.5, 1.5, 1.5])
    close(aggregate(per_row, torch.ones(4, 2), "pair-mean"), 4.0)
    pairs = normalizer(torch.ones(4, 2), "pair-mean")
    close(pairs, 2.0)
    assert pairs.dtype == torch.float32
    assert normalizer(torch.ones(4, 2, dtype=torch.float64), "pair-mean").dtype == torch.float64


def test_unknown_aggregation_is_an_error():
    with pytest.raises(ValueError, match="unknown loss aggregation 'tokens'"):
        aggregate(VALUES, MASK, "tokens")
