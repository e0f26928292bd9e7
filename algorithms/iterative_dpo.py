"""Iterative DPO (METHODS.md §2); each iteration is a round of the base class's loop:

    for t = 1..T:
        prompts = data.next(prompts_per_iteration)
        pairs   = pair_builder.build(prompts)          # generate with π_t on the rollout workers, annotate, pair
        ref     = logπ_ref(pairs)                      # once: π_0 on the reference workers, or π_t on the learner
        for batch in steps(pairs, epochs):              # DPO (+ NLL) on the learner group
            learner.train(batch, loss="dpo")
        sync(π_{t+1} -> rollout); evaluate; checkpoint

The iteration store keeps each iteration's generations and pairs with their reference log-probs, so a run resumes
inside an iteration with the same pairs; offline DPO on a pair file (`pair_file`) is one iteration, no generation."""

from __future__ import annotations

import time
from typing import Any

from algorithms.base import ALGORITHMS, Algorithm
from algorithms.dpo_config import IterativeDPOConfig
from algorithms.dpo_data import LOSS_PARAMS, step_batches, steps_for, with_reference_logps
from algorithms.pairs import PAIR_BUILDERS, BuildResult, PairContext
from rlcore.batch import Batch
from rlcore.config import RunConfig
from rlcore.data import PromptSampler
from rlcore.iteration_store import IterationStore
from rlcore.pair_files import load_pair_file


@ALGORITHMS.register("iterative_dpo")
class IterativeDPO(Algorithm):
    Config = IterativeDPOConfig
    cfg: IterativeDPOConfig
    phases = ("generate", "annotate", "reference", "train", "sync")
    evaluate_each_round = True

    def __init__(self, config: RunConfig):
        super().__init__(config)
        self.store = IterationStore(self.run_dir)
        self.builder = PAIR_BUILDERS.get(self.cfg.pair_builder.name)(self.cfg.pair_builder, config.data.train_languages)
        self.rows_by_key: dict[tuple[str, str], dict[str, Any]] = {}  # (id, language) -> row, in every language
        self.batches: list[Batch] = []  # the pairs of each of the iteration's steps, with reference log-probs
        self.built: dict[str, float] = {}  # metrics of building the pairs (none when they were reloaded)
        self.offline_pairs: list[dict[str, Any]] = []  # the pair file's pairs (offline DPO)

    def needs_reference(self) -> bool:
        return self.cfg.reference == "initial"

    def load_data(self) -> None:
        super().load_data()
        if self.cfg.pair_file:  # read now, so a bad row fails before any worker starts
            self.offline_pairs = load_pair_file(self.cfg.pair_file, self.prompts)

    def make_sampler(self, rows: list[dict[str, Any]]) -> PromptSampler:
        self.rows_by_key = {(row["id"], row["language"]): row for row in rows}
        rows = [row for row in rows if row["language"] in self.builder.prompt_languages()]
        return PromptSampler(rows, self.config.run.seed, self.config.data.shuffle)

    def num_rounds(self) -> int:
        return self.cfg.iterations

    def total_steps(self) -> int:  # exact for iterations whose pairs exist, else one pair per prompt
        estimate, ranks = self.cfg.prompts_per_iteration, self.config.learner.num_workers
        counts = [self.store.num_pairs(t) for t in range(1, self.num_rounds() + 1)]
        return max(sum(steps_for(estimate if n is None else n, self.cfg, ranks) for n in counts), 1)

    def start_round(self, iteration: int, resuming: bool) -> int:
        """Iteration t's pairs with their reference log-probs (reloaded from the store, else made with π_t now)."""
        if resuming or self.store.has(iteration):  # a checkpoint inside iteration t needs its stored pairs
            pairs, summary = self.store.load(iteration)
            self.sampler.load_state(summary["sampler_after"])
            self.built = {}
        else:
            pairs, self.built = self.make_pairs(iteration)
        ranks, seed, shuffle = self.config.learner.num_workers, self.config.run.seed, self.config.data.shuffle
        self.batches = step_batches(pairs, self.cfg, ranks, seed, iteration, shuffle)
        return len(self.batches)

    def step(self, step: int) -> dict[str, float]:
        """One DPO step on a batch of the iteration's pairs; its last step syncs π_{t+1} to the rollout workers."""
        index = step - self.round_steps.start
        params = self.cfg.model_dump(include=LOSS_PARAMS)
        metrics = {"iteration": float(self.round), **(self.built if index == 0 else {})}
        with self.phase("train"):
            train = self.runtime.train(self.batches[index], loss="dpo", loss_params=params, aggregation="pair-mean")
        metrics.update({f"train/{k}": v for k, v in train.items()})
        if step == self.round_steps[-1]:
            with self.phase("sync"):
                metrics.update(self.runtime.sync_weights())
        return metrics

    def make_pairs(self, iteration: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
        """Generate with π_t, annotate and pair (or read the pair file), add the reference log-probs, store them."""
        started, cfg = time.perf_counter(), self.cfg
        if cfg.pair_file:  # offline DPO
            built = BuildResult(self.offline_pairs, [])
        else:
            prompts = self.sampler.next_batch(cfg.prompts_per_iteration)
            sampling = {"temperature": cfg.temperature} if cfg.temperature is not None else {}
            ctx = PairContext(
                self.runtime, sampling, self.prompts.tokenizer, self.rows_by_key, self.config.data.chat_template
            )
            with self.phase("generate"):
                built = self.builder.build(prompts, ctx).without_identical()
        with self.phase("reference"):
            pairs = with_reference_logps(self.runtime, built.pairs, cfg.reference)
        seconds, state, version = time.perf_counter() - started, self.sampler.state(), self.runtime.policy_version
        summary = {"dropped": built.dropped, "stats": built.stats, "seconds": seconds, "sampler_after": state}
        self.store.save(iteration, pairs, built.generations, {**summary, "policy_version": version})
        if not pairs:
            raise RuntimeError(f"iteration {iteration} made no pairs (dropped: {built.dropped}); see its generations")
        return pairs, built.metrics(seconds)
