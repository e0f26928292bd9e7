"""Group advantages on hand-computed cases (written to kill mutants; `make mutation`)."""

from __future__ import annotations

import numpy as np

from rlcore.advantages import grpo_advantages, rloo_advantages


def test_grpo_advantages_use_the_sample_std_of_each_interleaved_group():
    rewards = np.array([3.0, 10.0, 1.0, 20.0, 2.0])
    groups = np.array([7, 2, 7, 2, 7])  # non-contiguous members, unsorted group ids
    advantages = grpo_advantages(rewards, groups)
    assert advantages.dtype == np.float32
    # group 7: mean 2, sample std 1 -> (1, −1, 0) / (1 + 1e-6); group 2: mean 15, std 7.0711 -> ±0.70711
    np.testing.assert_allclose(
        advantages, [1 / (1 + 1e-6), -1 / np.sqrt(2), -1 / (1 + 1e-6), 1 / np.sqrt(2), 0.0], rtol=1e-6
    )


def test_grpo_advantages_epsilon_guards_a_zero_std_and_can_be_set():
    rewards = np.array([1.0, 1.0, 2.0, 2.0])
    groups = np.array([0, 0, 1, 1])
    np.testing.assert_array_equal(grpo_advantages(rewards, groups), [0.0, 0.0, 0.0, 0.0])
    spread = np.array([0.0, 2.0])  # std 1.41421
    np.testing.assert_allclose(
        grpo_advantages(spread, np.zeros(2), eps=1.0), [-1 / (np.sqrt(2) + 1), 1 / (np.sqrt(2) + 1)], rtol=1e-6
    )
    np.testing.assert_allclose(
        grpo_advantages(spread, np.zeros(2)), [-1 / (np.sqrt(2) + 1e-6), 1 / (np.sqrt(2) + 1e-6)], rtol=1e-7
    )


def test_grpo_single_sample_groups_are_centred_only_and_dr_grpo_does_not_scale():
    np.testing.assert_array_equal(grpo_advantages(np.array([5.0]), np.array([0])), [0.0])
    rewards, groups = np.array([0.0, 4.0, 8.0]), np.zeros(3)
    np.testing.assert_allclose(grpo_advantages(rewards, groups, scale_by_std=False), [-4.0, 0.0, 4.0])
    np.testing.assert_allclose(grpo_advantages(rewards, groups), [-1.0, 0.0, 1.0], rtol=1e-5)


def test_rloo_advantages_subtract_the_mean_of_the_others():
    rewards = np.array([1.0, 9.0, 0.0, 4.0, 2.0])
    groups = np.array([1, 0, 1, 0, 1])
    advantages = rloo_advantages(rewards, groups)
    assert advantages.dtype == np.float32
    # group 1: 1 − (0+2)/2, 0 − (1+2)/2, 2 − (1+0)/2; group 0 (two samples): 9 − 4, 4 − 9
    np.testing.assert_allclose(advantages, [0.0, 5.0, -1.5, -5.0, 1.5])


def test_integer_rewards_give_float_advantages():
    rewards, groups = np.array([1, 0, 0, 0]), np.zeros(4, dtype=np.int64)
    np.testing.assert_allclose(grpo_advantages(rewards, groups), [1.5, -0.5, -0.5, -0.5], rtol=1e-5)
    np.testing.assert_allclose(rloo_advantages(rewards, groups), [1.0, -1 / 3, -1 / 3, -1 / 3], rtol=1e-6)


def test_rloo_single_sample_group_has_no_baseline_and_no_advantage():
    np.testing.assert_array_equal(rloo_advantages(np.array([3.0, 1.0, 2.0]), np.array([0, 1, 1])), [0.0, -1.0, 1.0])
