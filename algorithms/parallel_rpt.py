"""Parallel-language RPT (METHODS.md §1): GRPO where the training set is the same questions in N languages
(English plus N−1 translations, same question ids), with per-language reward and accuracy during training and a
multilingual evaluation (accuracy per language, Acc@k over languages, majority vote across languages).

The step is GRPO's; only the data differ: `data.train_languages` chooses the languages, only questions present
in all of them are kept, and `batching` decides how a step's fixed number of prompts is filled. The `sweep`
section describes the N = 1..K experiment run by `rlcore sweep` (algorithms/parallel_sweep/runner.py)."""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from algorithms.base import ALGORITHMS
from algorithms.grpo import GRPO, GRPOConfig, rollout_metrics
from rewards.math_rule import MathConfig
from rlcore.config import RunConfig, Section
from rlcore.evaluation import score_correctness
from rlcore.metrics.reports import plot_metrics
from rlcore.multilingual import report_tables
from rlcore.parallel_data import ParallelSampler, parallel_rows


class SweepSection(Section):
    """The parallel scaling-law experiment: one independent run per language set, then one report."""

    languages: list[str] | None = Field(
        None, description="Ordered languages (English first); run N trains on the first N. None = data.train_languages."
    )
    sizes: list[int] = Field(default_factory=lambda: [1, 2, 3, 4], description="The values of N (prefix lengths).")
    language_sets: list[list[str]] | None = Field(
        None, description="Explicit training language sets, one run each; overrides languages/sizes."
    )
    execution: Literal["task", "inline"] = Field(
        "task", description="task: each run is a Ray task (independent, any node); inline: in this process."
    )
    max_concurrent: int = Field(1, ge=1, description="Runs at the same time (task execution).")
    min_trained_gain: float = Field(
        0.01, ge=0, description="Transferability is undefined when the trained languages gained at most this."
    )

    @model_validator(mode="after")
    def _check(self) -> SweepSection:
        if any(n < 1 for n in self.sizes) or len(set(self.sizes)) != len(self.sizes):
            raise ValueError(f"sizes must be distinct and >= 1, got {self.sizes}")
        if self.language_sets is not None and any(not s or len(set(s)) != len(s) for s in self.language_sets):
            raise ValueError("every language set must be non-empty and without repeats")
        return self


class ParallelRPTConfig(GRPOConfig):
    batching: Literal["question", "language", "random"] = Field(
        "question",
        description="Fill a step by whole questions (all language versions of a question in the same "
        "step), by language (equal share per language), or at random.",
    )
    sweep: SweepSection = Field(
        default_factory=SweepSection,
        description="The N = 1..K experiment that `rlcore sweep` runs (not used by train).",
    )


@ALGORITHMS.register("parallel_rpt")
class ParallelRPT(GRPO):
    Config = ParallelRPTConfig
    cfg: ParallelRPTConfig

    def make_sampler(self, rows: list[dict[str, Any]]) -> ParallelSampler:
        data = self.config.data
        rows = parallel_rows(rows, data.train_languages)
        return ParallelSampler(rows, data.train_languages, self.config.run.seed, self.cfg.batching, data.shuffle)

    def sample_metrics(self, samples) -> dict[str, float]:
        """GRPO's metrics (reward/<language> included) plus sample accuracy per language."""
        reward = self.config.reward
        if reward.name == "math" and isinstance(reward, MathConfig) and reward.format_weight == 0:
            correct = np.asarray(samples["rewards"], dtype=float)  # the reward is exactly correctness
        else:
            correct = score_correctness(samples)
        languages = np.asarray(samples["language"])
        metrics = rollout_metrics(samples) | {"accuracy/mean": float(correct.mean())}
        for language in np.unique(languages):
            metrics[f"accuracy/{language}"] = float(correct[languages == language].mean())
        return metrics

    @classmethod
    def sweep(cls, config: RunConfig, train: bool = True) -> dict[str, Any]:
        """`rlcore sweep`: one run per training-language set, then the scaling-law report."""
        from algorithms.parallel_sweep.runner import run_sweep

        return run_sweep(config, train=train)

    def finish(self, first_eval: dict[str, float], last_eval: dict[str, float], seconds: float) -> dict[str, Any]:
        summary = super().finish(first_eval, last_eval, seconds)
        if self.config.logging.plots:
            plot_metrics(
                self.run_dir / "metrics.jsonl", self.run_dir / "plots", {"train_accuracy_by_language": ["accuracy/"]}
            )
        if self.last_report is not None:
            report = {"step": self.cfg.steps, "train_languages": self.config.data.train_languages, **self.last_report}
            (self.run_dir / "multilingual_eval.json").write_text(json.dumps(report, indent=2))
            report_tables(report, self.config.run.name)
        return summary
