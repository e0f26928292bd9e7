"""Pairs as DPO training data: rows alternating chosen and rejected, the reference log-probs (computed once per
iteration), and which pairs each optimizer step trains on (seeded passes over the pairs, cut into steps of
`pairs_per_step` pairs, each a multiple of the learner ranks)."""

from __future__ import annotations

import math
from typing import Any, Literal, Protocol

import numpy as np

from rlcore.batch import Batch

LOSS_PARAMS = {"loss_type", "beta", "label_smoothing", "nll_alpha", "length_normalized"}  # config fields of the loss


class Schedule(Protocol):  # the fields of IterativeDPOConfig that set the steps
    steps: int | None
    epochs: int
    pairs_per_step: int


def pair_batch(pairs: list[dict[str, Any]]) -> Batch:
    """Rows alternate chosen, rejected (what the `dpo` loss expects), with reference sequence log-probs if known."""
    rows = [
        {"prompt_ids": p["prompt_ids"], "response_ids": ids}
        for p in pairs
        for ids in (p["chosen_ids"], p["rejected_ids"])
    ]
    batch = Batch.from_rows(rows)
    if pairs and "ref_chosen_logp" in pairs[0]:
        ref = np.array([v for p in pairs for v in (p["ref_chosen_logp"], p["ref_rejected_logp"])], np.float32)
        batch = batch.with_tensors(ref_logps=ref)
    return batch


def with_reference_logps(
    runtime: Any, pairs: list[dict[str, Any]], reference: Literal["initial", "previous"]
) -> list[dict[str, Any]]:
    """Adds ref_chosen_logp / ref_rejected_logp: log π_0 on the reference workers, or log π_t on the learner."""
    if not pairs:
        return pairs
    if reference == "initial":
        per_token = runtime.reference_logprobs(pair_batch(pairs))["ref_logprobs"]
    else:  # π_t, the policy this iteration starts from
        per_token = runtime.policy_logprobs(pair_batch(pairs))["old_logprobs"]
    sums = per_token.sum(axis=1)  # padded positions hold 0
    return [
        {**p, "ref_chosen_logp": float(sums[2 * i]), "ref_rejected_logp": float(sums[2 * i + 1])}
        for i, p in enumerate(pairs)
    ]


def steps_for(num_pairs: int, cfg: Schedule, ranks: int) -> int:
    """`cfg.steps` if set, else the steps of `epochs` passes (none when the pairs cannot fill every rank)."""
    if cfg.steps:
        return cfg.steps
    usable = num_pairs * cfg.epochs
    return math.ceil(usable / cfg.pairs_per_step) if usable >= ranks else 0


def step_batches(
    pairs: list[dict[str, Any]], cfg: Schedule, ranks: int, seed: int, iteration: int, shuffle: bool
) -> list[Batch]:
    """The pairs of each optimizer step of `iteration`, as batches of rows (chosen, rejected, chosen, ...)."""
    rng = np.random.default_rng([seed, iteration])
    num_pairs = len(pairs)
    steps, size = steps_for(num_pairs, cfg, ranks), cfg.pairs_per_step
    order: list[int] = []
    while len(order) < steps * size and num_pairs:
        order.extend(rng.permutation(num_pairs).tolist() if shuffle else range(num_pairs))
        if not cfg.steps and len(order) >= num_pairs * cfg.epochs:
            break
    batches = [order[i : i + size] for i in range(0, len(order), size)][:steps]
    batches = [b[: len(b) - len(b) % ranks] for b in batches]
    rows = pair_batch(pairs)
    return [rows.select([row for pair in b for row in (2 * pair, 2 * pair + 1)]) for b in batches if b]
