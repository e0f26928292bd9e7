"""Losses and advantages against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from rlcore.advantages import ADVANTAGES, grpo_advantages, rloo_advantages
from rlcore.losses import LOSSES, aggregate, grpo_loss, kl_penalty, normalizer, truncated_is_weight


def test_grpo_advantages_by_hand():
    rewards = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    groups = np.array([0, 0, 0, 0, 1, 1])
    advantages = grpo_advantages(rewards, groups)
    std = np.std([1, 0, 0, 1], ddof=1)  # 0.57735
    np.testing.assert_allclose(advantages[:4], [0.5 / std, -0.5 / std, -0.5 / std, 0.5 / std], rtol=1e-5)
    np.testing.assert_allclose(advantages[4:], [0.0, 0.0])  # a solved group carries no signal
    np.testing.assert_allclose(grpo_advantages(rewards, groups, scale_by_std=False)[:4], [0.5, -0.5, -0.5, 0.5])


def test_rloo_advantages_by_hand():
    advantages = rloo_advantages(np.array([1.0, 0.0, 0.5]), np.array([0, 0, 0]))
    np.testing.assert_allclose(advantages, [1 - 0.25, 0 - 0.75, 0.5 - 0.5])
    assert set(ADVANTAGES.names()) >= {"grpo", "rloo"}


def test_kl_estimators_by_hand():
    logp, ref = torch.tensor([-1.0]), torch.tensor([-1.5])
    assert kl_penalty(logp, ref, "k1").item() == pytest.approx(0.5)
    assert kl_penalty(logp, ref, "k2").item() == pytest.approx(0.125)
    assert kl_penalty(logp, ref, "k3").item() == pytest.approx(math.exp(-0.5) - 1 + 0.5)
    with pytest.raises(ValueError):
        kl_penalty(logp, ref, "k4")


def test_grpo_loss_clipping_by_hand():
    # Two tokens of one sample: ratio e^{0.5}=1.6487 (clipped at 1.2 for A>0), ratio e^{-0.5}=0.6065.
    logp = torch.tensor([[-0.5, -1.5]], requires_grad=True)
    batch = {"old_logprobs": torch.tensor([[-1.0, -1.0]]), "advantages": torch.tensor([2.0])}
    mask = torch.ones(1, 2)
    loss, metrics = grpo_loss(logp, mask, batch, clip_low=0.2, clip_high=0.2)
    # token 0: max(-2*1.6487, -2*1.2) = -2.4 (clipped); token 1: max(-2*0.6065, -2*0.8) = -1.2131
    np.testing.assert_allclose(loss.detach().numpy(), [[-2.4, -2 * math.exp(-0.5)]], rtol=1e-5)
    assert metrics["clip_fraction"].tolist() == [[1.0, 0.0]]
    loss.sum().backward()
    np.testing.assert_allclose(logp.grad.numpy(), [[0.0, -2 * math.exp(-0.5)]], rtol=1e-5)


def test_grpo_loss_on_policy_gradient_is_policy_gradient():
    logp = torch.tensor([[-0.7, -0.2, -3.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss, _ = grpo_loss(logp, mask, {"advantages": torch.tensor([0.5])})
    (aggregate(loss, mask, "token-mean") / normalizer(mask, "token-mean")).backward()
    np.testing.assert_allclose(logp.grad.numpy(), [[-0.25, -0.25, 0.0]])


def test_grpo_loss_kl_term():
    logp = torch.tensor([[-1.0]])
    batch = {"advantages": torch.tensor([0.0]), "ref_logprobs": torch.tensor([[-1.5]])}
    loss, metrics = grpo_loss(logp, torch.ones(1, 1), batch, kl_coef=0.1, kl_estimator="k1")
    assert loss.item() == pytest.approx(0.1 * 0.5)
    assert metrics["kl_ref"].item() == pytest.approx(0.5)


def test_aggregations_by_hand():
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    assert aggregate(values, mask, "token-mean").item() / normalizer(mask, "token-mean").item() == pytest.approx(2.5)
    assert aggregate(values, mask, "seq-mean-token-mean").item() / normalizer(
        mask, "seq-mean-token-mean"
    ).item() == pytest.approx((2.0 + 4.0) / 2)
    assert aggregate(values, mask, "seq-mean-token-sum").item() / 2 == pytest.approx((6.0 + 4.0) / 2)
    assert set(LOSSES.names()) >= {"grpo", "sft"}


def test_truncated_importance_weight_by_hand():
    # π_old/π_behaviour = e^{0.5} (kept), e^{1} = 2.718 (cut at C = 2), e^{-1} (kept: only large weights are cut).
    old = torch.tensor([[-1.0, -1.0, -2.0]])
    behaviour = torch.tensor([[-1.5, -2.0, -1.0]])
    weight = truncated_is_weight(old, behaviour, cap=2.0)
    np.testing.assert_allclose(weight.numpy(), [[math.exp(0.5), 2.0, math.exp(-1.0)]], rtol=1e-6)


def test_grpo_loss_with_behaviour_policy_weights_each_token_and_not_its_gradient():
    # One update from π_old = π (no old_logprobs): ρ = 1, so loss = −A·w and ∂loss/∂log π = −A·w per token.
    logp = torch.tensor([[-1.0, -1.0, -2.0]], requires_grad=True)
    batch = {"advantages": torch.tensor([0.5]), "rollout_logprobs": torch.tensor([[-1.5, -2.0, -1.0]])}
    loss, metrics = grpo_loss(logp, torch.ones(1, 3), batch, is_truncation=2.0)
    weights = [math.exp(0.5), 2.0, math.exp(-1.0)]
    np.testing.assert_allclose(loss.detach().numpy(), [[-0.5 * w for w in weights]], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(logp.grad.numpy(), [[-0.5 * w for w in weights]], rtol=1e-6)
    np.testing.assert_allclose(metrics["is_weight"].numpy(), [weights], rtol=1e-6)
    assert metrics["is_truncated"].tolist() == [[0.0, 1.0, 0.0]]


def test_grpo_loss_is_weight_multiplies_the_clipped_surrogate_not_the_kl_term():
    logp = torch.tensor([[-0.5]])
    batch = {
        "old_logprobs": torch.tensor([[-1.0]]),  # ρ = e^{0.5}, clipped at 1.2 for A > 0
        "rollout_logprobs": torch.tensor([[-1.25]]),  # w = e^{0.25}
        "advantages": torch.tensor([2.0]),
        "ref_logprobs": torch.tensor([[-1.0]]),
    }
    loss, _ = grpo_loss(logp, torch.ones(1, 1), batch, kl_coef=0.1, kl_estimator="k1", is_truncation=5.0)
    assert loss.item() == pytest.approx(-2 * 1.2 * math.exp(0.25) + 0.1 * 0.5)


def test_grpo_loss_with_on_policy_behaviour_equals_the_on_policy_loss_exactly():
    torch.manual_seed(0)
    logp = torch.randn(3, 5) - 2
    batch = {"advantages": torch.randn(3), "old_logprobs": logp + 0.1 * torch.randn(3, 5)}
    mask = (torch.rand(3, 5) > 0.3).float()
    on_policy, _ = grpo_loss(logp, mask, batch)
    weighted, metrics = grpo_loss(logp, mask, {**batch, "rollout_logprobs": batch["old_logprobs"]}, is_truncation=2.0)
    assert torch.equal(on_policy, weighted)  # w = e^0 = 1 exactly
    assert torch.equal(metrics["is_weight"], torch.ones(3, 5))
