"""Rows that share a prompt, computed as one sequence: [prompt | response_1 | ... | response_k].

A DPO pair's chosen and rejected answers, or a GRPO group's samples, repeat the same prompt in every row; the
prompt's hidden states depend on the prompt alone (causal attention), so computing it once and letting each
response attend to it and to itself gives the same log-probabilities and gradients as separate rows, with the
prompt's tokens computed once instead of k times. A 4D attention mask keeps responses apart; each response's
positions continue from the prompt's. Only where it pays: merging lengthens every attention span, so prompts are
shared when they are at least as long as their responses on average (DPO pairs, short completions), not for long
completions. sdpa and eager attention take the 4D mask; flash-attention's varlen kernel does not, and packing has its
own padding-free layout, so the learner uses this layout only without either.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rlcore.batch import Batch


def prompt_groups(prompts: Sequence[Sequence[int]], responses: Sequence[Sequence[int]]) -> list[list[int]]:
    """Row indices grouped by identical prompt (first-seen order); a group whose prompt is shorter than its mean
    response is split back into single rows, as sharing it would cost more attention than it saves."""
    by_prompt: dict[tuple[int, ...], list[int]] = {}
    for row, prompt in enumerate(prompts):
        by_prompt.setdefault(tuple(prompt), []).append(row)
    groups: list[list[int]] = []
    for prompt, rows in by_prompt.items():
        mean_response = sum(len(responses[row]) for row in rows) / len(rows)
        groups.extend([rows] if len(prompt) >= mean_response else [[row] for row in rows])
    return groups


def collate_shared_prompts(
    batch: Batch, device: torch.device | str = "cpu", groups: list[list[int]] | None = None
) -> dict[str, torch.Tensor]:
    """One right-padded row per prompt group (`groups`: `prompt_groups` of the batch, if the caller has them), with
    its 4D attention mask [G, 1, L, L] (True = may attend) and position_ids; for every original row, the merged row
    and column of the position that predicts each of its response tokens, and the tokens themselves, so that
    log-probs come back in the batch's row order."""
    prompts, responses = batch["prompt_ids"], batch["response_ids"]
    groups = prompt_groups(prompts, responses) if groups is None else groups
    width = max((len(r) for r in responses), default=0)
    lengths = [len(prompts[g[0]]) + sum(len(responses[row]) for row in g) for g in groups]
    longest = max(lengths, default=0)
    input_ids = torch.zeros(len(groups), longest, dtype=torch.long)
    positions = torch.zeros(len(groups), longest, dtype=torch.long)
    # Padding attends to itself only, so that no query row is all-masked (sdpa would return NaN there).
    mask = torch.eye(longest, dtype=torch.bool).repeat(len(groups), 1, 1)
    predict_row = torch.zeros(len(prompts), width, dtype=torch.long)
    predict_col = torch.zeros(len(prompts), width, dtype=torch.long)
    targets = torch.zeros(len(prompts), width, dtype=torch.long)
    for index, group in enumerate(groups):
        prompt = list(prompts[group[0]])
        p = len(prompt)
        input_ids[index, :p] = torch.as_tensor(prompt, dtype=torch.long)
        positions[index, :p] = torch.arange(p)
        mask[index, :p, :p] = torch.ones(p, p, dtype=torch.bool).tril()
        start = p
        for row in group:
            response = list(responses[row])
            end = start + len(response)
            input_ids[index, start:end] = torch.as_tensor(response, dtype=torch.long)
            positions[index, start:end] = torch.arange(p, p + len(response))
            mask[index, start:end, :p] = True
            mask[index, start:end, start:end] = torch.ones(len(response), len(response), dtype=torch.bool).tril()
            # Token j is predicted from the prompt's last position (j = 0) or from the response's token j - 1.
            # (Slots past the response read the prompt's last position too: masked out, and the LM head's first
            # kept column stays the earliest real one.)
            predict_row[row], predict_col[row] = index, p - 1
            predict_col[row, : len(response)] = torch.as_tensor([p - 1, *range(start, end - 1)])[: len(response)]
            targets[row, : len(response)] = torch.as_tensor(response, dtype=torch.long)
            start = end
    return {
        "input_ids": input_ids.to(device),
        "attention_mask": mask[:, None].to(device),
        "position_ids": positions.to(device),
        "predict_row": predict_row.to(device),
        "predict_col": predict_col.to(device),
        "targets": targets.to(device),
        "prompt_lengths": torch.as_tensor([len(p) for p in prompts], device=device),
        "response_lengths": torch.as_tensor([len(r) for r in responses], device=device),
    }


def shared_prompt_logits(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits [B, response_width, V] at the positions predicting each original row's response tokens; the LM head
    runs from the earliest predicting column on only."""
    start = int(inputs["predict_col"].min()) if inputs["predict_col"].numel() else 0
    length = inputs["input_ids"].shape[1]
    # Additive form, which eager attention needs (it adds the mask to the scores) and sdpa takes, in the model's dtype.
    dtype = next(model.parameters()).dtype
    additive = torch.zeros(inputs["attention_mask"].shape, dtype=dtype, device=inputs["attention_mask"].device)
    additive.masked_fill_(~inputs["attention_mask"], torch.finfo(dtype).min)
    logits = model(
        input_ids=inputs["input_ids"],
        attention_mask=additive,
        position_ids=inputs["position_ids"],
        use_cache=False,
        logits_to_keep=length - start,
    ).logits
    return logits[inputs["predict_row"], inputs["predict_col"] - start]
