"""DPO-family losses on hand-computed cases (written to kill mutants; `make mutation`)."""

from __future__ import annotations

import math

import pytest
import torch

from rlcore.preference_losses import chosen_nll, dpo_loss, ipo_loss, preference_loss, sigmoid_loss, sppo_hard_loss


def close(actual: torch.Tensor, expected) -> None:
    torch.testing.assert_close(actual, torch.as_tensor(expected, dtype=actual.dtype), rtol=1e-6, atol=1e-7)


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_sigmoid_loss_with_and_without_label_smoothing():
    h_w, h_l = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0])  # margins β·Δ = 0.5, −1 with β = 0.5
    close(sigmoid_loss(h_w, h_l, 0.5), [-log_sigmoid(0.5), -log_sigmoid(-1.0)])
    smoothed = [-0.75 * log_sigmoid(m) - 0.25 * log_sigmoid(-m) for m in (0.5, -1.0)]
    close(sigmoid_loss(h_w, h_l, 0.5, label_smoothing=0.25), smoothed)


def test_ipo_and_sppo_hard_losses():
    h_w, h_l = torch.tensor([1.0]), torch.tensor([-0.5])
    close(ipo_loss(h_w, h_l, 0.25), [(1.5 - 2.0) ** 2])  # 1/(2β) = 2
    close(sppo_hard_loss(h_w, h_l, 0.25), [(1.0 - 2.0) ** 2 + (-0.5 + 2.0) ** 2])


def test_chosen_nll_divides_by_the_length_but_never_by_less_than_one():
    close(chosen_nll(torch.tensor([-6.0, -3.0, -2.0]), torch.tensor([3.0, 1.0, 0.0])), [2.0, 3.0, 2.0])


def test_preference_loss_defaults_are_sigmoid_beta_0_1_without_smoothing_or_nll():
    loss = preference_loss(torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]), torch.tensor([-2.0]))
    close(loss, [-log_sigmoid(0.1 * (1.0 - (-1.0)))])


def test_preference_loss_passes_type_beta_and_smoothing():
    args = torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]), torch.tensor([-2.0])  # h_w=1, h_l=−1
    close(preference_loss(*args, loss_type="ipo", beta=0.5), [(2.0 - 1.0) ** 2])
    close(preference_loss(*args, beta=0.5, label_smoothing=0.1), [-0.9 * log_sigmoid(1.0) - 0.1 * log_sigmoid(-1.0)])


def test_preference_loss_length_normalisation_and_nll_term():
    chosen, rejected = torch.tensor([-4.0]), torch.tensor([-9.0])
    ref_chosen, ref_rejected = torch.tensor([-6.0]), torch.tensor([-3.0])  # h_w = 2, h_l = −6
    lengths = {"chosen_lengths": torch.tensor([2.0]), "rejected_lengths": torch.tensor([3.0])}
    loss = preference_loss(
        chosen, rejected, ref_chosen, ref_rejected, loss_type="ipo", beta=0.5, length_normalized=True, **lengths
    )
    close(loss, [(2.0 / 2 - (-6.0 / 3) - 1.0) ** 2])
    with_nll = preference_loss(
        chosen, rejected, ref_chosen, ref_rejected, loss_type="ipo", beta=0.5, nll_alpha=0.5, **lengths
    )
    close(with_nll, [(2.0 + 6.0 - 1.0) ** 2 + 0.5 * (4.0 / 2)])


def test_length_normalisation_never_divides_by_less_than_one():
    lengths = {"chosen_lengths": torch.tensor([0.0]), "rejected_lengths": torch.tensor([0.0])}
    zeros = torch.zeros(1)
    loss = preference_loss(
        torch.tensor([3.0]), zeros, zeros, zeros, loss_type="ipo", beta=0.5, length_normalized=True, **lengths
    )
    close(loss, [(3.0 - 1.0) ** 2])
    ones = {"chosen_lengths": torch.tensor([1.0]), "rejected_lengths": torch.tensor([1.0])}
    loss = preference_loss(
        torch.tensor([3.0]),
        torch.tensor([-2.0]),
        zeros,
        zeros,
        loss_type="ipo",
        beta=0.5,
        length_normalized=True,
        **ones,
    )
    close(loss, [(3.0 + 2.0 - 1.0) ** 2])


def test_dpo_loss_rows_alternate_chosen_rejected_and_report_rewards():
    logprobs = torch.tensor([[-1.0, -1.0, -5.0], [-2.0, -2.0, -2.0], [-3.0, 0.0, 0.0], [-0.5, -0.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    # sequence log-probs: −2, −6, −3, −1; lengths 2, 3, 1, 2
    batch = {"ref_logps": torch.tensor([-3.0, -4.0, -2.0, -2.0])}  # h: +1, −2 (pair 0); −1, +1 (pair 1)
    rows, metrics = dpo_loss(logprobs, mask, batch, beta=0.5)
    pair = [-log_sigmoid(0.5 * 3.0), -log_sigmoid(0.5 * -2.0)]
    close(rows, [pair[0] / 2, pair[0] / 2, pair[1] / 2, pair[1] / 2])
    close(metrics["rewards/chosen"], [0.5, -0.5])
    close(metrics["rewards/rejected"], [-1.0, 0.5])
    close(metrics["rewards/margin"], [1.5, -1.0])
    close(metrics["rewards/accuracy"], [1.0, 0.0])
    close(metrics["nll_chosen"], [1.0, 3.0])


def test_dpo_loss_default_beta_and_length_options_reach_the_loss():
    logprobs = torch.tensor([[-1.0, -1.0], [-3.0, 0.0]])
    mask = torch.ones(2, 2)  # chosen −2 and rejected −3, two tokens each
    batch = {"ref_logps": torch.tensor([-2.0, -2.0])}  # h_w = 0, h_l = −1
    rows, metrics = dpo_loss(logprobs, mask, batch)
    close(rows, [-log_sigmoid(0.1) / 2] * 2)
    close(metrics["rewards/rejected"], [-0.1])
    rows, _ = dpo_loss(logprobs, mask, batch, loss_type="ipo", beta=0.25, nll_alpha=1.0)
    close(rows, [((0.0 + 1.0 - 2.0) ** 2 + 1.0) / 2] * 2)
    rows, _ = dpo_loss(logprobs, mask, batch, loss_type="ipo", beta=0.25, length_normalized=True)
    close(rows, [(0.0 + 0.5 - 2.0) ** 2 / 2] * 2)


def test_unknown_preference_loss_is_named():
    one = torch.zeros(1)
    with pytest.raises(KeyError, match="hinge"):
        preference_loss(one, one, one, one, loss_type="hinge")


def test_length_options_without_lengths_are_refused_by_name():
    one = torch.zeros(1)
    with pytest.raises(ValueError, match=r"^length_normalized needs chosen_lengths and rejected_lengths$"):
        preference_loss(one, one, one, one, length_normalized=True, chosen_lengths=one)
    with pytest.raises(ValueError, match=r"^length_normalized needs chosen_lengths and rejected_lengths$"):
        preference_loss(one, one, one, one, length_normalized=True, rejected_lengths=one)
    with pytest.raises(ValueError, match=r"^the NLL term \(nll_alpha > 0\) needs chosen_lengths$"):
        preference_loss(one, one, one, one, nll_alpha=0.5)


def test_dpo_loss_three_pairs_with_length_normalisation_nll_and_a_tie():
    logprobs = torch.tensor(
        [
            [-1.0, -1.0, -1.0],  # pair 0 chosen: logπ −3, 3 tokens
            [-2.0, -2.0, 9.0],  # pair 0 rejected: −4, 2 tokens (the masked 9 must not count)
            [-1.0, 9.0, 9.0],  # pair 1 chosen: −1, 1 token
            [-0.5, -0.5, -0.5],  # pair 1 rejected: −1.5, 3 tokens
            [-2.0, -2.0, 9.0],  # pair 2 chosen: −4, 2 tokens
            [-1.0, -1.0, -2.0],  # pair 2 rejected: −4, 3 tokens
        ]
    )
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 1, 0], [1, 1, 1]], dtype=torch.float32)
    batch = {"ref_logps": torch.tensor([-2.0, -3.0, -3.0, -1.0, -6.0, -3.0])}
    # h_w = −1, 2, 2 and h_l = −1, −0.5, −1; per token: h_w/|y_w| = −1/3, 2, 1 and h_l/|y_l| = −1/2, −1/6, −1/3
    rows, metrics = dpo_loss(logprobs, mask, batch, beta=2.0, nll_alpha=0.5, length_normalized=True)
    margins = [2.0 * (-1 / 3 + 1 / 2), 2.0 * (2 + 1 / 6), 2.0 * (1 + 1 / 3)]
    nll = [3 / 3, 1 / 1, 4 / 2]  # −logπ(y_w)/|y_w|
    pair = [-log_sigmoid(m) + 0.5 * n for m, n in zip(margins, nll, strict=True)]
    close(rows, [value / 2 for value in pair for _ in range(2)])
    close(metrics["rewards/chosen"], [-2.0, 4.0, 4.0])  # β·h_w, not length-normalised
    close(metrics["rewards/rejected"], [-2.0, -1.0, -2.0])
    close(metrics["rewards/accuracy"], [0.0, 1.0, 1.0])  # a tie is not a win
    close(metrics["nll_chosen"], nll)
