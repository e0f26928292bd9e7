"""Iterative DPO (METHODS.md §2) as one pipeline on the run's workers:

    for t = 1..T:
        prompts = data.next(prompts_per_iteration)
        pairs   = pair_builder.build(prompts)          # generate with π_t on the rollout workers, annotate, pair
        ref     = logπ_ref(pairs)                      # once: π_0 on the reference workers, or π_t on the learner
        for batch in steps(pairs, epochs):              # DPO (+ NLL) on the learner group
            learner.train(batch, loss="dpo")
        sync(π_{t+1} -> rollout); evaluate; checkpoint

Each iteration writes iterations/iter_<t>/{generations,pairs}.jsonl (pairs carry their reference log-probs), so a
run resumes inside an iteration with the same pairs and reference. Offline DPO on a pair file is the same code with
one iteration and no generation (`pair_file`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, SerializeAsAny, field_validator, model_validator

from algorithms.base import ALGORITHMS, Algorithm, AlgorithmConfig
from algorithms.pairs import PAIR_BUILDERS, PairBuilderConfig, PairContext
from rlcore.batch import Batch
from rlcore.config import validate_named
from rlcore.data import PromptSampler
from rlcore.modeling import load_tokenizer
from rlcore.pair_files import load_pair_file, read_jsonl, write_jsonl

log = logging.getLogger(__name__)


class IterativeDPOConfig(AlgorithmConfig):
    steps: int | None = Field(
        None, ge=1, description="Optimizer steps per iteration; None = `epochs` passes over that iteration's pairs."
    )
    iterations: int = Field(2, ge=1, description="Rounds of generate → pair → train → sync (T).")
    prompts_per_iteration: int = Field(256, ge=1, description="Prompts the pair builder gets per iteration.")
    pair_builder: SerializeAsAny[PairBuilderConfig] = Field(
        default_factory=lambda: {"name": "reward_ranked"},
        validate_default=True,
        description="How pairs are made; `name` selects a pair builder, its other keys are that builder's config.",
        json_schema_extra={"registry": "pair_builders"},
    )
    pair_file: str | None = Field(
        None,
        description="Offline DPO: train on this JSONL of prompt/chosen/rejected (one iteration, nothing generated).",
    )
    reference: Literal["initial", "previous"] = Field(
        "initial", description="π_ref: the initial model (reference workers) or the iteration's starting policy."
    )
    loss_type: Literal["sigmoid", "ipo", "sppo_hard"] = Field(
        "sigmoid", description="Preference loss: DPO (sigmoid), IPO, or SPPO with hard win probabilities."
    )
    beta: float = Field(0.1, gt=0, description="β: strength of the implicit KL to π_ref.")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="ε of conservative DPO: assumed label-noise rate.")
    nll_alpha: float = Field(0.0, ge=0, description="Weight of the length-normalised NLL of the chosen response.")
    length_normalized: bool = Field(False, description="Divide h by the response length (TRL's IPO).")
    epochs: int = Field(1, ge=1, description="Passes over each iteration's pairs (when steps is None).")
    pairs_per_step: int = Field(16, ge=1, description="Pairs per optimizer step, over all learner ranks.")
    temperature: float | None = Field(None, ge=0, description="Sampling temperature; None = rollout.temperature.")

    @field_validator("pair_builder", mode="before")
    @classmethod
    def _builder_config(cls, value: Any) -> Any:
        return validate_named(value, lambda name: PAIR_BUILDERS.get(name).Config, default="reward_ranked")

    @model_validator(mode="after")
    def _offline_is_one_iteration(self) -> IterativeDPOConfig:
        if self.pair_file and self.iterations != 1:
            raise ValueError(f"with a pair_file (offline DPO) iterations must be 1, got {self.iterations}")
        return self


@ALGORITHMS.register("iterative_dpo")
class IterativeDPO(Algorithm):
    Config = IterativeDPOConfig
    phases = ("generate", "annotate", "reference", "train", "sync")

    def needs_reference(self) -> bool:
        return self.cfg.reference == "initial"

    # ---- data -------------------------------------------------------------------------------------------------
    def load_data(self) -> None:
        super().load_data()
        self.builder = PAIR_BUILDERS.get(self.cfg.pair_builder.name)(
            self.cfg.pair_builder, self.config.data.train_languages
        )
        all_rows = self.sampler.rows
        self.rows_by_key = {(row["id"], row["language"]): row for row in all_rows}
        wanted = set(self.builder.prompt_languages())
        self.sampler = PromptSampler(
            [row for row in all_rows if row["language"] in wanted], self.config.run.seed, self.config.data.shuffle
        )

    def iteration_dir(self, iteration: int) -> Path:
        return self.run_dir / "iterations" / f"iter_{iteration}"

    # ---- the schedule -----------------------------------------------------------------------------------------
    def steps_for(self, num_pairs: int) -> int:
        ranks = self.config.learner.num_workers
        if self.cfg.steps:
            return self.cfg.steps
        usable = num_pairs * self.cfg.epochs
        return math.ceil(usable / self.cfg.pairs_per_step) if usable >= ranks else 0

    def total_steps(self) -> int:
        """Exact for iterations whose pairs exist, an estimate (one pair per prompt) for the rest."""
        total = 0
        for iteration in range(1, self.cfg.iterations + 1):
            folder = self.iteration_dir(iteration)
            pairs = (
                json.loads((folder / "summary.json").read_text())["pairs"]
                if (folder / "pairs.jsonl").exists()
                else self.cfg.prompts_per_iteration
            )
            total += self.steps_for(pairs)
        return max(total, 1)

    def step_batches(self, pairs: list[dict[str, Any]], iteration: int) -> list[list[int]]:
        """Pair indices of each optimizer step: seeded passes over the pairs, cut to multiples of the ranks."""
        rng = np.random.default_rng([self.config.run.seed, iteration])
        order: list[int] = []
        while len(order) < self.steps_for(len(pairs)) * self.cfg.pairs_per_step and pairs:
            order.extend(rng.permutation(len(pairs)).tolist() if self.config.data.shuffle else range(len(pairs)))
            if not self.cfg.steps and len(order) >= len(pairs) * self.cfg.epochs:
                break
        size, ranks = self.cfg.pairs_per_step, self.config.learner.num_workers
        batches = [order[i : i + size] for i in range(0, len(order), size)][: self.steps_for(len(pairs))]
        batches = [b[: len(b) - len(b) % ranks] for b in batches]
        return [b for b in batches if b]

    # ---- the loop ---------------------------------------------------------------------------------------------
    def train_loop(self, start_step: int) -> None:
        iterations_dir = self.run_dir / "iterations"
        if not self.config.run.resume and iterations_dir.exists():  # a fresh run never trains on an old run's pairs
            kept = iterations_dir.with_name(f"iterations.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            iterations_dir.rename(kept)
            log.warning("run.resume is off: moved the previous run's iteration data to %s", kept)
        step = 0
        for iteration in range(1, self.cfg.iterations + 1):
            pairs, built_metrics = self.pairs_of(iteration, resuming=step < start_step)
            batches = self.step_batches(pairs, iteration)
            if step + len(batches) <= start_step:
                step += len(batches)
                continue
            self.progress.set_total(self.total_steps())
            self.pairs = pair_batch(pairs)
            for index, batch_pairs in enumerate(batches):
                step += 1
                if step <= start_step:
                    continue
                last = index == len(batches) - 1
                metrics = {
                    "iteration": float(iteration),
                    **(built_metrics if index == 0 else {}),
                    **self.step(step, batch_pairs, sync=last),
                }
                self.end_step(
                    step, metrics, final=last and iteration == self.cfg.iterations, evaluate=last, checkpoint=last
                )

    def step(self, step: int, pair_indices: list[int], sync: bool = False) -> dict[str, float]:
        """One optimizer step on these pairs of the current iteration; `sync` pushes π to the rollout workers."""
        rows = [row for p in pair_indices for row in (2 * p, 2 * p + 1)]
        with self.phase("train"):
            train = self.runtime.train(
                self.pairs.select(rows), loss="dpo", loss_params=self.loss_params(), aggregation="pair-mean"
            )
        metrics = {f"train/{k}": v for k, v in train.items()}
        if sync:
            with self.phase("sync"):
                metrics.update(self.runtime.sync_weights())
        return metrics

    def pairs_of(self, iteration: int, resuming: bool) -> tuple[list[dict[str, Any]], dict[str, float]]:
        """This iteration's pairs with reference log-probs: from disk when they exist, else built now."""
        folder = self.iteration_dir(iteration)
        if (folder / "pairs.jsonl").exists():
            summary = json.loads((folder / "summary.json").read_text())
            self.sampler.load_state(summary["sampler_after"])
            return read_jsonl(folder / "pairs.jsonl"), {}
        if resuming:
            raise RuntimeError(
                f"cannot resume: {folder / 'pairs.jsonl'} is missing, but a checkpoint was taken "
                f"after iteration {iteration} started"
            )
        started = time.perf_counter()
        pairs, generations, dropped, stats = self.build_pairs()
        with self.phase("reference"):
            pairs = self.with_reference_logps(pairs)
        folder.mkdir(parents=True, exist_ok=True)
        write_jsonl(folder / "generations.jsonl", generations)
        summary = {
            "iteration": iteration,
            "pairs": len(pairs),
            "generations": len(generations),
            "dropped": dropped,
            "stats": stats,
            "seconds": time.perf_counter() - started,
            "sampler_after": self.sampler.state(),
            "policy_version": self.runtime.policy_version,
        }
        (folder / "summary.json").write_text(json.dumps(summary, indent=2))
        write_jsonl(folder / "pairs.jsonl", pairs)  # last: its presence means the iteration's data is complete
        if not pairs:
            raise RuntimeError(
                f"iteration {iteration} produced no pairs (dropped: {dropped}); see {folder / 'generations.jsonl'}"
            )
        metrics = {"pairs/count": float(len(pairs)), "pairs/build_s": summary["seconds"]}
        metrics.update({f"pairs/dropped_{k}": float(v) for k, v in dropped.items()})
        metrics.update({f"pairs/{k}": float(v) for k, v in stats.items()})
        return pairs, metrics

    def build_pairs(self) -> tuple[list[dict], list[dict], dict[str, int], dict[str, float]]:
        """(pairs, generation records, dropped pairs by reason, builder statistics)."""
        if self.cfg.pair_file:
            return load_pair_file(self.cfg.pair_file, self.tokenizer), [], {}, {}
        prompts = self.sampler.next_batch(self.cfg.prompts_per_iteration)
        sampling = {"temperature": self.cfg.temperature} if self.cfg.temperature is not None else {}
        ctx = PairContext(self.runtime, sampling, self.tokenizer, self.rows_by_key)
        with self.phase("generate"):
            result = self.builder.build(prompts, ctx)
        distinct = [p for p in result.pairs if p["chosen_ids"] != p["rejected_ids"]]
        return (
            distinct,
            result.generations,
            {**result.dropped, "identical": len(result.pairs) - len(distinct)},
            result.stats,
        )

    def with_reference_logps(self, pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Adds ref_chosen_logp / ref_rejected_logp, computed once for the whole iteration."""
        if not pairs:
            return pairs
        batch = pair_batch(pairs)
        if self.cfg.reference == "initial":
            per_token = self.runtime.reference_logprobs(batch)["ref_logprobs"]
        else:  # π_t, the policy this iteration starts from
            per_token = self.runtime.policy_logprobs(batch)["old_logprobs"]
        sums = per_token.sum(axis=1)  # padded positions hold 0
        return [
            {**pair, "ref_chosen_logp": float(sums[2 * i]), "ref_rejected_logp": float(sums[2 * i + 1])}
            for i, pair in enumerate(pairs)
        ]

    @cached_property
    def tokenizer(self):
        return load_tokenizer(self.runtime.base_model_path)

    def loss_params(self) -> dict[str, Any]:
        return {
            "loss_type": self.cfg.loss_type,
            "beta": self.cfg.beta,
            "label_smoothing": self.cfg.label_smoothing,
            "nll_alpha": self.cfg.nll_alpha,
            "length_normalized": self.cfg.length_normalized,
        }


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
