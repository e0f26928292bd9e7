"""The loop every iterative DPO algorithm shares (iterative_dpo, stepwise_dpo); each iteration is a round of the
base class's loop:

    for t = 1..T:
        pairs = build_pairs(t)                          # the subclass: with π_t on the rollout workers
        ref   = logπ_ref(pairs)                         # once: π_0 on the reference workers, or π_t on the learner
        for batch in steps(pairs, epochs):              # DPO (+ NLL) on the learner group
            learner.train(batch, loss="dpo")
        sync(π_{t+1} -> rollout); evaluate; checkpoint

The iteration store keeps each iteration's generations and pairs with their reference log-probs, so a run resumes
inside an iteration with the same pairs."""

from __future__ import annotations

import time
from abc import abstractmethod
from typing import Any

from algorithms.base import Algorithm
from algorithms.dpo_config import DPOIterationsConfig
from algorithms.dpo_data import LOSS_PARAMS, step_batches, steps_for, with_reference_logps
from algorithms.pairs import BuildResult
from rlcore.batch import Batch
from rlcore.config import RunConfig
from rlcore.iteration_store import IterationStore


class DPOIterations(Algorithm):
    cfg: DPOIterationsConfig
    phases = ("generate", "annotate", "reference", "train", "sync")
    evaluate_each_round = True

    def __init__(self, config: RunConfig):
        super().__init__(config)
        self.store = IterationStore(self.run_dir)
        self.batches: list[Batch] = []  # the pairs of each of the iteration's steps, with reference log-probs
        self.built: dict[str, float] = {}  # metrics of building the pairs (none when they were reloaded)

    @abstractmethod
    def build_pairs(self, iteration: int) -> BuildResult:
        """Iteration `iteration`'s pairs (prompt_ids, chosen_ids, rejected_ids, readable text) and generations."""

    def pairs_estimate(self) -> int:
        """Pairs expected from an iteration not made yet (for the step count): one per prompt by default."""
        return self.cfg.prompts_per_iteration

    def needs_reference(self) -> bool:
        return self.cfg.reference == "initial"

    def num_rounds(self) -> int:
        return self.cfg.iterations

    def total_steps(self) -> int:  # exact for iterations whose pairs exist, else the estimate
        estimate, ranks = self.pairs_estimate(), self.config.learner.num_workers
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
        """Build the pairs with π_t, add the reference log-probs, store them with the generations."""
        started = time.perf_counter()
        built = self.build_pairs(iteration)
        with self.phase("reference"):
            pairs = with_reference_logps(self.runtime, built.pairs, self.cfg.reference)
        seconds, state, version = time.perf_counter() - started, self.sampler.state(), self.runtime.policy_version
        summary = {"dropped": built.dropped, "stats": built.stats, "seconds": seconds, "sampler_after": state}
        self.store.save(iteration, pairs, built.generations, {**summary, "policy_version": version})
        if not pairs:
            raise RuntimeError(
                f"iteration {iteration} made no pairs (dropped: {built.dropped}, stats: {built.stats}); "
                f"see its generations in {self.store.folder(iteration)}"
            )
        return pairs, built.metrics(seconds)
