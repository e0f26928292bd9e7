"""Rows that share a prompt computed as one sequence (rlcore.shared_prompts): the grouping rule, the layout, and the
same log-probs, entropy, loss and gradient as the padded rows on the tiny model."""

from __future__ import annotations

import numpy as np
import torch

from rlcore.batch import Batch
from rlcore.modeling import batch_logprobs, collate, collate_sequences
from rlcore.shared_prompts import collate_shared_prompts, prompt_groups
from tests.test_packing import grpo_loss_and_grad, model64, one_thread  # noqa: F401  (fixtures)


def pair_batch(pairs: int = 6, singles: int = 3, seed: int = 0) -> Batch:
    """Pairs of rows with one prompt each (long prompts, short answers), shuffled among rows of their own prompt."""
    rng = np.random.default_rng(seed)
    prompts, responses = [], []
    for _ in range(pairs):
        prompt = rng.integers(3, 1000, rng.integers(12, 30)).tolist()
        for _ in range(2):
            prompts.append(prompt)
            responses.append(rng.integers(3, 1000, rng.integers(1, 12)).tolist())
    for _ in range(singles):
        prompts.append(rng.integers(3, 1000, rng.integers(4, 30)).tolist())
        responses.append(rng.integers(3, 1000, rng.integers(1, 40)).tolist())
    order = rng.permutation(len(prompts))
    return Batch(
        tensors={"advantages": rng.normal(size=len(prompts)).astype(np.float32)},
        columns={"prompt_ids": [prompts[i] for i in order], "response_ids": [responses[i] for i in order]},
    )


def test_rows_group_by_prompt_only_where_the_prompt_is_as_long_as_the_responses():
    prompts = [[1, 2, 3], [4, 5], [1, 2, 3], [4, 5], [9]]
    responses = [[7], [7, 7, 7], [7, 7], [7], [7]]
    # [1,2,3]: 3 tokens against a mean answer of 1.5 -> shared; [4,5]: 2 against 2 -> shared; [9] alone.
    assert prompt_groups(prompts, responses) == [[0, 2], [1, 3], [4]]
    # The same prompt before long answers is not worth sharing: each row stays its own sequence.
    assert prompt_groups([[1, 2], [1, 2]], [[7, 7, 7], [7, 7, 7]]) == [[0], [1]]


def test_the_layout_puts_each_answer_after_the_prompt_and_hides_the_others():
    batch = Batch(columns={"prompt_ids": [[5, 6, 7], [5, 6, 7]], "response_ids": [[10, 11], [20, 21]]})
    inputs = collate_shared_prompts(batch)
    assert inputs["input_ids"].tolist() == [[5, 6, 7, 10, 11, 20, 21]]
    assert inputs["position_ids"].tolist() == [[0, 1, 2, 3, 4, 3, 4]]  # both answers continue the prompt
    visible = inputs["attention_mask"][0, 0]
    assert visible[5].tolist() == [True, True, True, False, False, True, False]  # 2nd answer: prompt and itself
    assert visible[3].tolist() == [True, True, True, True, False, False, False]
    # Row 0's tokens are predicted from positions 2 (the prompt's last) and 3; row 1's from 2 and 5.
    assert inputs["predict_col"].tolist() == [[2, 3], [2, 5]]
    uneven = collate_shared_prompts(Batch(columns={"prompt_ids": [[5, 6], [5, 6]], "response_ids": [[10, 11], [20]]}))
    assert uneven["predict_col"].tolist() == [[1, 2], [1, 1]]  # the slot past row 1's answer reads column 1 (masked)
    assert inputs["targets"].tolist() == [[10, 11], [20, 21]]


def test_shared_forward_gives_the_padded_logprobs_loss_and_gradient(model64):  # noqa: F811
    model64, grad_atol = model64
    batch = pair_batch()
    width = max(map(len, batch["response_ids"]))
    padded = grpo_loss_and_grad(model64, collate_sequences(batch), batch, width)
    shared_inputs = collate_shared_prompts(batch)
    assert shared_inputs["input_ids"].shape[0] == 6 + 3  # six pairs merged, three rows alone
    shared = grpo_loss_and_grad(model64, shared_inputs, batch, width)
    # Eager attention takes its softmax in float32, and its padded rows round differently from the merged ones.
    atol = 1e-10 if grad_atol < 1e-9 else 1e-5
    torch.testing.assert_close(shared[0], padded[0], rtol=0, atol=atol)  # per-token log-probs
    torch.testing.assert_close(shared[1], padded[1], rtol=0, atol=atol)  # entropy
    assert abs(shared[2] - padded[2]) < atol / 100  # loss
    # Gradient: LlamaRMSNorm normalises in float32 even in a float64 model, and the shared prompt's gradient now
    # arrives summed in one backward instead of row by row, so float32 rounding (~1e-7 relative) is the floor here.
    torch.testing.assert_close(shared[3], padded[3], rtol=1e-6, atol=max(grad_atol, 1e-7))
    # If a pair's second answer could see the first, its log-probs would change: the check above would see it.
    leaky = dict(shared_inputs, attention_mask=shared_inputs["attention_mask"].clone())
    leaky["attention_mask"][:, :, :, :] |= torch.ones_like(leaky["attention_mask"][0, 0]).tril()
    assert (grpo_loss_and_grad(model64, leaky, batch, width)[0] - padded[0]).abs().max() > 1e-3


def test_forward_only_passes_keep_row_order_and_values(tiny_model_path):
    from rlcore.modeling import load_causal_lm

    model = load_causal_lm(tiny_model_path, "float32", "sdpa")
    batch = pair_batch(pairs=8, singles=4, seed=1)
    reference = batch_logprobs(model, batch, micro_batch_size=4)
    for budget in (None, 120):
        values = batch_logprobs(model, batch, 4, max_tokens=budget, forwards=7, share_prompts=True)
        np.testing.assert_allclose(values, reference, rtol=1e-6, atol=1e-5)
    # Without a shared prompt in a micro-batch the padded layout is used as it is.
    assert "predict_col" not in collate(batch.select([0]), share_prompts=True)
