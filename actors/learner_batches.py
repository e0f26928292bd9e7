"""How a learner rank cuts its rows into micro-batches (row count or token budget, padded or packed), keeping the
number of forwards equal across data-parallel ranks: ZeRO-3 gathers parameters in every forward with all ranks."""

from __future__ import annotations

import numpy as np
import torch

from rlcore.batch import Batch
from rlcore.config import LearnerSection
from rlcore.modeling import batch_logprobs, logprob_micro_batches
from rlcore.packing import Cost, micro_batches, sequence_lengths, split_to_count


def most_over_ranks(count: int, device: torch.device) -> int:
    import torch.distributed as dist

    most = torch.tensor(count, device=device)  # on the engine's device: an nccl group reduces CUDA tensors only
    dist.all_reduce(most, op=dist.ReduceOp.MAX)
    return int(most.item())


def train_micro_batches(
    mini: Batch, cfg: LearnerSection, rows_per_unit: int, device: torch.device
) -> tuple[list[Batch], int]:
    """This rank's micro-batches of `mini`, and how many are real. Under a token budget the ranks' plans may differ
    in length: the shorter ones halve their largest micro-batches, and a rank still short repeats its first unit
    as a stand-in micro-batch (the caller gives it no gradient and no metrics)."""
    budget = cfg.max_tokens_per_micro_batch
    cost: Cost = "packed" if cfg.packing else "padded"
    plan = micro_batches(sequence_lengths(mini), cfg.micro_batch_size, budget, cost, rows_per_unit)
    count = most_over_ranks(len(plan), device) if budget is not None else len(plan)
    plan = split_to_count(plan, count, rows_per_unit)
    real = len(plan)
    plan += [list(range(rows_per_unit))] * (count - real)
    return [mini.select(rows) for rows in plan], real


def policy_logprobs(
    model: torch.nn.Module,
    batch: Batch,
    cfg: LearnerSection,
    temperature: float,
    device: torch.device,
    share_prompts: bool = False,
) -> np.ndarray:
    """`batch_logprobs` under the learner's micro-batch settings, with as many forwards as the busiest rank."""
    budget = cfg.max_tokens_per_micro_batch
    forwards = 0
    if budget is not None:
        plan = logprob_micro_batches(batch, cfg.micro_batch_size, cfg.packing, budget, share_prompts)
        forwards = most_over_ranks(len(plan), device)
    return batch_logprobs(
        model, batch, cfg.micro_batch_size, temperature, device, cfg.packing, budget, forwards, share_prompts
    )
