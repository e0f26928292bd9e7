"""Preference losses (DPO family) as plain tensor functions; `dpo_loss` is the loss registry's `dpo` entry.

Notation (METHODS.md §2): logπ(y|x) is the sum of the response's token log-probabilities (EOS included);
h_w = logπ(y_w|x) − logπ_ref(y_w|x) for the chosen response, h_l likewise for the rejected one.
Each function takes per-pair tensors [P] and returns per-pair losses [P]; none needs a trainer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rlcore.registry import Registry

Tensor = torch.Tensor

PREFERENCE_LOSSES: Registry = Registry("preference loss")


@PREFERENCE_LOSSES.register("sigmoid")
def sigmoid_loss(h_chosen: Tensor, h_rejected: Tensor, beta: float, label_smoothing: float = 0.0) -> Tensor:
    """DPO (Rafailov et al. 2023, eq. 7) with conservative label smoothing ε: −(1−ε)·logσ(βΔ) − ε·logσ(−βΔ)."""
    margin = beta * (h_chosen - h_rejected)
    return -(1 - label_smoothing) * F.logsigmoid(margin) - label_smoothing * F.logsigmoid(-margin)


@PREFERENCE_LOSSES.register("ipo")
def ipo_loss(h_chosen: Tensor, h_rejected: Tensor, beta: float, label_smoothing: float = 0.0) -> Tensor:
    """IPO (Azar et al. 2023, eq. 17): (h_w − h_l − 1/(2β))²."""
    return (h_chosen - h_rejected - 1 / (2 * beta)).square()


@PREFERENCE_LOSSES.register("sppo_hard")
def sppo_hard_loss(h_chosen: Tensor, h_rejected: Tensor, beta: float, label_smoothing: float = 0.0) -> Tensor:
    """SPPO with hard win probabilities (Wu et al. 2024, eq. 4.7, P=1/0): (h_w − 1/(2β))² + (h_l + 1/(2β))²."""
    return (h_chosen - 0.5 / beta).square() + (h_rejected + 0.5 / beta).square()


def chosen_nll(chosen_logps: Tensor, chosen_lengths: Tensor) -> Tensor:
    """Length-normalised NLL of the chosen response: −logπ(y_w|x) / |y_w|."""
    return -chosen_logps / chosen_lengths.clamp(min=1)


def preference_loss(
    chosen_logps: Tensor,
    rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    loss_type: str = "sigmoid",
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    nll_alpha: float = 0.0,
    chosen_lengths: Tensor | None = None,
    rejected_lengths: Tensor | None = None,
    length_normalized: bool = False,
) -> Tensor:
    """Per-pair L_pref + α·NLL(y_w). `length_normalized` divides h by the response length (TRL's IPO)."""
    h_chosen, h_rejected = chosen_logps - ref_chosen_logps, rejected_logps - ref_rejected_logps
    if length_normalized:
        if chosen_lengths is None or rejected_lengths is None:
            raise ValueError("length_normalized needs chosen_lengths and rejected_lengths")
        h_chosen = h_chosen / chosen_lengths.clamp(min=1)
        h_rejected = h_rejected / rejected_lengths.clamp(min=1)
    loss = PREFERENCE_LOSSES.get(loss_type)(h_chosen, h_rejected, beta, label_smoothing)
    if nll_alpha > 0:
        if chosen_lengths is None:
            raise ValueError("the NLL term (nll_alpha > 0) needs chosen_lengths")
        loss = loss + nll_alpha * chosen_nll(chosen_logps, chosen_lengths)
    return loss


def dpo_loss(logprobs: Tensor, mask: Tensor, batch: dict[str, Tensor], **params) -> tuple[Tensor, dict]:
    """Rows alternate chosen, rejected; `ref_logps` [B] holds the reference's sequence log-probs (computed once).

    Returns one value per row (half of its pair's loss each), so that `pair-mean` aggregation gives the mean over
    pairs however pairs are spread over micro-batches and ranks.
    """
    logps = (logprobs * mask).sum(dim=1)
    lengths = mask.sum(dim=1)
    ref = batch["ref_logps"]
    pair_loss = preference_loss(
        logps[0::2],
        logps[1::2],
        ref[0::2],
        ref[1::2],
        chosen_lengths=lengths[0::2],
        rejected_lengths=lengths[1::2],
        **params,
    )
    beta = params.get("beta", 0.1)
    with torch.no_grad():
        reward_chosen = beta * (logps[0::2] - ref[0::2])
        reward_rejected = beta * (logps[1::2] - ref[1::2])
        metrics = {
            "rewards/chosen": reward_chosen,
            "rewards/rejected": reward_rejected,
            "rewards/margin": reward_chosen - reward_rejected,
            "rewards/accuracy": (reward_chosen > reward_rejected).float(),
            "nll_chosen": chosen_nll(logps[0::2], lengths[0::2]),
        }
    return pair_loss.repeat_interleave(2) / 2, metrics
