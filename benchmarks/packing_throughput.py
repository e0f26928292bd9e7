"""Learner micro-batching: padding fraction and training tokens/s of padded vs packed micro-batches, by row count and
by token budget, on a GRPO-like batch of varying lengths, side by side in one run.

    PYTHONPATH=. .venv/bin/python benchmarks/packing_throughput.py [--rows 64 --reps 5]

The batch: `--rows` samples (groups of 8 per prompt) of the embedded arithmetic task's prompts with responses of
long-tailed lengths (lognormal, 4 to 200 tokens; random token ids: the forward's cost does not depend on them).
Each configuration runs the learner's own micro-batch path (rlcore.packing's plan, `collate_sequences` or
`collate_packed`, `response_logprobs_and_entropy`, the GRPO loss token-mean over the whole batch, backward) and one
AdamW step, in this process on the tiny model (no Ray, no DeepSpeed: their cost is the same for every
configuration). The configurations take turns, step by step, so that load from other work on the machine falls on
all of them alike; tokens/s is the batch's real (unpadded) tokens over the median step time after one warm-up step.
Writes one run's result, with the machine, to benchmarks/results/packing_throughput/<date>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.machine import describe, result_path
from rlcore.batch import Batch
from rlcore.losses import LOSSES, aggregate, normalizer
from rlcore.modeling import (
    collate_packed,
    collate_sequences,
    load_causal_lm,
    load_tokenizer,
    resolve_model_path,
    response_logprobs_and_entropy,
    response_mask_of,
)
from rlcore.packing import micro_batch_cost, micro_batches, sequence_lengths

CONFIGS = {  # name: (packing, rows per micro-batch, token budget)
    "padded_rows": (False, 16, None),  # the default: 16 rows, right-padded
    "padded_budget_1024": (False, 16, 1024),  # padding-aware bucketing
    "packed_rows": (True, 16, None),
    "packed_budget_1024": (True, 16, 1024),
    "packed_budget_512": (True, 16, 512),
}


def grpo_like_batch(model_path: str, rows: int, seed: int) -> Batch:
    from rlcore.world.tasks import generate_problems

    rng = np.random.default_rng(seed)
    tokenizer = load_tokenizer(model_path)
    problems = generate_problems("train", -(-rows // 16), ["en", "fr"], seed=seed)[: rows // 8]
    prompts = [tokenizer.encode(p.prompt, add_special_tokens=False) for p in problems for _ in range(8)]
    lengths = np.clip(rng.lognormal(np.log(40), 0.8, rows), 4, 200).astype(int)
    responses = [rng.integers(3, len(tokenizer), n).tolist() for n in lengths]
    return Batch(
        tensors={"advantages": rng.normal(size=rows).astype(np.float32)},
        columns={"prompt_ids": prompts, "response_ids": responses},
    )


def plan(batch: Batch, packing: bool, rows: int, budget: int | None) -> list[list[int]]:
    return micro_batches(sequence_lengths(batch), rows, budget, "packed" if packing else "padded")


def computed_tokens(batch: Batch, packing: bool, rows: int, budget: int | None) -> int:
    lengths = sequence_lengths(batch)
    cost = "packed" if packing else "padded"
    return sum(micro_batch_cost(lengths, micro, cost) for micro in plan(batch, packing, rows, budget))


def train_step(model, optimizer, batch: Batch, packing: bool, rows: int, budget: int | None) -> float:
    """One optimizer step on the whole batch as the learner takes it; returns its seconds."""
    started = time.perf_counter()
    micros = [batch.select(micro) for micro in plan(batch, packing, rows, budget)]
    collate = collate_packed if packing else collate_sequences
    inputs_list = [collate(micro) for micro in micros]
    widths = [max(map(len, micro["response_ids"])) for micro in micros]
    masks = [response_mask_of(inputs, width) for inputs, width in zip(inputs_list, widths, strict=True)]
    total = sum(normalizer(mask, "token-mean") for mask in masks)
    for micro, inputs, width, mask in zip(micros, inputs_list, widths, masks, strict=True):
        logp, _ = response_logprobs_and_entropy(model, inputs, width)
        values, _ = LOSSES.get("grpo")(logp, mask, {"advantages": torch.as_tensor(micro["advantages"])})
        (aggregate(values, mask, "token-mean") / total).backward()
    optimizer.step()
    optimizer.zero_grad()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:tiny-arith")
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model_path = resolve_model_path(args.model)
    batch = grpo_like_batch(model_path, args.rows, args.seed)
    real = sum(sequence_lengths(batch))
    models = {name: load_causal_lm(model_path) for name in CONFIGS}  # same weights; each its own optimizer state
    optimizers = {name: torch.optim.AdamW(model.parameters(), lr=1e-5) for name, model in models.items()}
    seconds: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for _ in range(args.reps + 1):
        for name, config in CONFIGS.items():
            seconds[name].append(train_step(models[name], optimizers[name], batch, *config))
    report = {"machine": describe(), "setup": vars(args) | {"model_path": model_path, "real_tokens": real}}
    report["configs"] = {
        name: {
            "packing": packing,
            "micro_batch_rows": rows,
            "max_tokens_per_micro_batch": budget,
            "micro_batches": len(plan(batch, packing, rows, budget)),
            "padding_fraction": 1 - real / computed_tokens(batch, packing, rows, budget),
            "step_s": seconds[name][1:],
            "tokens_per_s": real / statistics.median(seconds[name][1:]),
        }
        for name, (packing, rows, budget) in CONFIGS.items()
    }
    base = report["configs"]["padded_rows"]["tokens_per_s"]
    for name, result in report["configs"].items():
        result["speedup_vs_padded_rows"] = result["tokens_per_s"] / base
        print(
            f"{name:18s} micro-batches {result['micro_batches']:3d}  padding {result['padding_fraction']:6.1%}  "
            f"{result['tokens_per_s']:8.0f} tokens/s  x{result['speedup_vs_padded_rows']:.2f}"
        )
    out = Path(args.out or result_path("packing_throughput"))
    out.parent.mkdir(parents=True, exist_ok=True)
    report["setup"]["out"] = str(out)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
