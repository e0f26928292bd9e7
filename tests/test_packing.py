"""Learner batches without waste: the micro-batch planner and rank balancer (pure logic), and the packed forward
(one padding-free row, position_ids restarting per sequence) against the padded one on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlcore.batch import Batch
from rlcore.losses import LOSSES, aggregate, normalizer
from rlcore.modeling import (
    batch_logprobs,
    collate_packed,
    collate_sequences,
    load_causal_lm,
    response_logprobs_and_entropy,
    response_mask_of,
)
from rlcore.packing import (
    balance_across_ranks,
    balanced_shards,
    micro_batch_cost,
    plan_micro_batches,
    sequence_lengths,
    split_to_count,
)


def grpo_like_lengths(rows: int = 64, seed: int = 0) -> list[int]:
    """Prompt + response lengths of a GRPO batch: prompts of 20-40 tokens, responses from 5 to 200."""
    rng = np.random.default_rng(seed)
    return (rng.integers(20, 40, rows) + rng.integers(5, 200, rows)).tolist()


@pytest.mark.parametrize("cost", ["packed", "padded"])
@pytest.mark.parametrize("rows_per_unit", [1, 2])
def test_plan_respects_the_budget_and_uses_every_row_once(cost, rows_per_unit):
    lengths = grpo_like_lengths()
    plan = plan_micro_batches(lengths, max_tokens=600, cost=cost, rows_per_unit=rows_per_unit)
    assert sorted(row for rows in plan for row in rows) == list(range(len(lengths)))
    assert all(micro_batch_cost(lengths, rows, cost) <= 600 for rows in plan)
    if rows_per_unit == 2:  # a pair's two rows (2i, 2i+1) share a micro-batch
        assert all({row ^ 1 for row in rows} == set(rows) for rows in plan)
    if cost == "packed":  # first-fit decreasing needs at most 11/9 OPT + 1 bins; OPT >= total / budget
        assert len(plan) <= 11 / 9 * np.ceil(sum(lengths) / 600) + 1


def test_a_sequence_longer_than_the_budget_goes_alone():
    assert plan_micro_batches([50, 900, 40, 30], max_tokens=100) == [[1], [0, 2], [3]]
    with pytest.raises(ValueError, match="max_tokens"):
        plan_micro_batches([5], max_tokens=0)


def test_padded_cost_counts_rows_times_the_longest_row():
    assert micro_batch_cost([10, 30, 20], [0, 1, 2], "padded") == 90
    assert micro_batch_cost([10, 30, 20], [0, 1, 2], "packed") == 60
    # Padded planning groups similar lengths: the two long rows together, the two short ones together.
    assert sorted(plan_micro_batches([100, 10, 100, 10], 200, "padded")) == [[0, 2], [1, 3]]


def test_split_to_count_halves_the_largest_and_keeps_pairs():
    plan = split_to_count([[0, 1, 2, 3, 4, 5], [6, 7]], 4, rows_per_unit=2)
    assert len(plan) == 4 and sorted(row for rows in plan for row in rows) == list(range(8))
    assert all(len(rows) % 2 == 0 and rows for rows in plan)
    assert split_to_count([[0], [1]], 5) == [[0], [1]]  # cannot split single rows: the caller pads


@pytest.mark.parametrize("rows_per_unit", [1, 2])
def test_balance_evens_the_tokens_with_equal_row_counts(rows_per_unit):
    lengths = grpo_like_lengths(128)
    shards = balance_across_ranks(lengths, 4, rows_per_unit)
    assert sorted(row for shard in shards for row in shard) == list(range(len(lengths)))
    assert {len(shard) for shard in shards} == {len(lengths) // 4}
    if rows_per_unit == 2:
        assert all({row ^ 1 for row in shard} == set(shard) for shard in shards)
    totals = [sum(lengths[row] for row in shard) for shard in shards]
    contiguous = [sum(lengths[i : i + 32]) for i in range(0, 128, 32)]
    assert max(totals) - min(totals) <= max(lengths) * rows_per_unit  # within one unit of even
    assert max(totals) - min(totals) < (max(contiguous) - min(contiguous)) / 4


def test_balanced_shards_keep_each_mini_batch_the_same_rows():
    lengths, ranks, minis = grpo_like_lengths(48), 3, 2
    shards = balanced_shards(lengths, ranks, minis)
    contiguous = np.array_split(np.arange(48), ranks)
    for mini in range(minis):
        balanced_rows = {row for shard in shards for row in np.array_split(shard, minis)[mini]}
        plain_rows = {row for shard in contiguous for row in np.array_split(shard, minis)[mini]}
        assert balanced_rows == plain_rows
    with pytest.raises(ValueError, match="do not split"):
        balanced_shards(lengths[:47], ranks, minis)


# ---- the packed forward on the tiny model ------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def one_thread():
    """The tiny model's forwards are milliseconds; two OpenMP threads on a busy 2-core machine spin for seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def varied_batch(rows: int = 12, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    prompts = [rng.integers(3, 1000, rng.integers(4, 30)).tolist() for _ in range(rows)]
    responses = [rng.integers(3, 1000, rng.integers(1, 40)).tolist() for _ in range(rows)]
    return Batch(
        tensors={"advantages": rng.normal(size=rows).astype(np.float32)},
        columns={"prompt_ids": prompts, "response_ids": responses},
    )


@pytest.fixture(scope="module", params=["sdpa", "eager"])
def model64(request, tiny_model_path):
    """float64, so that float noise (~1e-15) cannot hide a mask that lets one packed sequence see another; and the
    gradient's tolerance: eager attention takes its softmax in float32 (~1e-8 here, against gradients up to ~40)."""
    return load_causal_lm(
        tiny_model_path, "float32", request.param
    ).double(), 1e-12 if request.param == "sdpa" else 1e-7


def grpo_loss_and_grad(model, inputs, batch, width):
    model.zero_grad()
    logp, entropy = response_logprobs_and_entropy(model, inputs, width)
    mask = response_mask_of(inputs, width).to(logp.dtype)
    tensors = {"advantages": torch.as_tensor(batch["advantages"], dtype=logp.dtype)}
    values, _ = LOSSES.get("grpo")(logp, mask, tensors)
    loss = aggregate(values, mask, "token-mean") / normalizer(mask, "token-mean")
    loss.backward()
    return logp.detach(), entropy, loss.item(), torch.cat([p.grad.ravel() for p in model.parameters()])


def test_packed_forward_gives_the_padded_logprobs_loss_and_gradient(model64):
    model64, grad_atol = model64
    batch = varied_batch()
    width = max(map(len, batch["response_ids"]))
    padded = grpo_loss_and_grad(model64, collate_sequences(batch), batch, width)
    packed_inputs = collate_packed(batch)
    assert packed_inputs["input_ids"].shape == (1, sum(sequence_lengths(batch)))
    packed = grpo_loss_and_grad(model64, packed_inputs, batch, width)
    torch.testing.assert_close(packed[0], padded[0], rtol=0, atol=1e-10)  # per-token log-probs
    torch.testing.assert_close(packed[1], padded[1], rtol=0, atol=1e-10)  # entropy
    assert packed[2] == pytest.approx(padded[2], abs=1e-12)  # loss
    torch.testing.assert_close(packed[3], padded[3], rtol=0, atol=grad_atol)  # gradient
    # Without the restarts the rows form one long causal sequence: the check above would see it.
    leaky = dict(packed_inputs, position_ids=torch.arange(packed_inputs["input_ids"].shape[1])[None])
    assert (grpo_loss_and_grad(model64, leaky, batch, width)[0] - padded[0]).abs().max() > 1e-3


def test_packed_float32_matches_to_float_noise_and_batch_logprobs_agree(tiny_model_path):
    model = load_causal_lm(tiny_model_path, "float32", "sdpa")
    batch = varied_batch(16, seed=1)
    width = max(map(len, batch["response_ids"]))
    padded = grpo_loss_and_grad(model, collate_sequences(batch), batch, width)
    packed = grpo_loss_and_grad(model, collate_packed(batch), batch, width)
    assert packed[2] == pytest.approx(padded[2], abs=1e-6)
    torch.testing.assert_close(packed[0], padded[0], rtol=1e-6, atol=1e-5)
    reference = batch_logprobs(model, batch, micro_batch_size=4)
    for packing, budget in [(True, None), (True, 150), (False, 150)]:
        values = batch_logprobs(model, batch, 4, packing=packing, max_tokens=budget, forwards=9)
        np.testing.assert_allclose(values, reference, rtol=1e-6, atol=1e-5)
