"""Supervised fine-tuning (SFT) on prompt/completion rows, on the DeepSpeed learner group alone (no rollout, reward
or reference workers):

    rows = data_file                                      # prompt ids by the chat template; completion ids + EOS
    for step in 1..⌈epochs·|rows| / batch_size⌉:          # seeded passes over the rows, one stream cut into batches
        learner.train(rows.next(batch_size), loss="sft")  # mean −log π(completion token | prefix) over the batch
        maybe evaluate (eval/loss on eval_file); maybe checkpoint

Each row is trained on exactly `epochs` times; a batch may span two passes, and the last one may be smaller. The
data position is the sampler's, saved in every checkpoint, so a resumed run continues with the very next rows."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from algorithms.base import ALGORITHMS, Algorithm
from algorithms.sft_data import completion_batch, load_completions
from rlcore.batch import Batch
from rlcore.chat import PromptFormatter
from rlcore.config import ConfigError, NamedSection, RunConfig
from rlcore.data import DataError, PromptSampler


class SFTConfig(NamedSection):  # not an AlgorithmConfig: the steps follow from epochs over the data
    data_file: str = Field(
        description="Rows {prompt, completion} (or TRL's conversational forms): JSONL, JSON, Parquet, a `datasets` "
        "folder, or builtin:arith (the world's questions with their worked solutions)."
    )
    eval_file: str | None = Field(
        None, description="Held-out rows of the same forms: eval/loss (NLL per completion token) on eval's schedule."
    )
    epochs: int = Field(1, ge=1, description="Passes over the rows (when steps is None).")
    batch_size: int = Field(16, ge=1, description="Rows per optimizer step, over all learner ranks.")
    steps: int | None = Field(None, ge=1, description="A fixed number of optimizer steps instead of `epochs` passes.")
    max_length: int | None = Field(
        None, ge=2, description="Longest prompt + completion in tokens (longer completions are cut); None = no limit."
    )

    def validate_sizes(self, run: RunConfig) -> None:
        """Every learner rank needs the same number of rows in each step."""
        if self.batch_size % run.learner.num_workers:
            raise ConfigError(
                f"algorithm.batch_size: {self.batch_size} rows do not split into learner.num_workers = "
                f"{run.learner.num_workers} ranks; choose a multiple of it"
            )


@ALGORITHMS.register("sft")
class SFT(Algorithm):
    Config = SFTConfig
    cfg: SFTConfig
    phases = ("train",)
    roles = ("learner",)  # rollout workers are not needed: nothing is generated

    def __init__(self, config: RunConfig):
        super().__init__(config)
        self.num_rows = self.usable_rows = 0
        self.held_out = Batch()

    def load_data(self) -> None:
        """The training rows (read now, so a bad row fails before any worker starts) and the held-out rows."""
        cfg, data, seed = self.cfg, self.config.data, self.config.run.seed
        self.prompts = PromptFormatter.for_model(self.config.model.path, data.chat_template)
        rows = load_completions(cfg.data_file, "algorithm.data_file", "train", self.prompts, data, seed, cfg.max_length)
        self.num_rows, ranks = len(rows), self.config.learner.num_workers
        self.usable_rows = cfg.epochs * self.num_rows // ranks * ranks  # the rest cannot feed every rank
        if not self.total_steps():
            raise DataError(
                f"algorithm.data_file: {self.num_rows} rows × {cfg.epochs} epochs cannot feed learner.num_workers = "
                f"{ranks} ranks; use more rows or epochs, or set algorithm.steps"
            )
        self.sampler = PromptSampler(rows, seed, data.shuffle)
        if cfg.eval_file:
            key, eval_seed = "algorithm.eval_file", data.eval_seed
            held_out = load_completions(cfg.eval_file, key, "eval", self.prompts, data, eval_seed, cfg.max_length)
            self.held_out = completion_batch(held_out)

    def total_steps(self) -> int:
        return self.cfg.steps or math.ceil(self.usable_rows / self.cfg.batch_size)

    def rows_until(self, step: int) -> int:
        """Rows drawn by steps 1..step."""
        drawn = step * self.cfg.batch_size
        return drawn if self.cfg.steps else min(drawn, self.usable_rows)

    def step(self, step: int) -> dict[str, float]:
        """One optimizer step on the next rows: the mean NLL of their completion tokens."""
        rows = self.sampler.next_batch(self.rows_until(step) - self.rows_until(step - 1))
        with self.phase("train"):
            train = self.runtime.train(completion_batch(rows), loss="sft", loss_params={})
        return {"train/epoch": self.rows_until(step) / self.num_rows, **{f"train/{k}": v for k, v in train.items()}}

    def evaluate(self) -> dict[str, float]:
        """eval/loss: the NLL per completion token of eval_file (forward passes on the learner); {} without one."""
        if not len(self.held_out):
            return {}
        with self.phase("eval"):
            logprobs = self.runtime.policy_logprobs(self.held_out)["old_logprobs"]  # padding holds 0
        tokens = sum(len(ids) for ids in self.held_out["response_ids"])
        return {"eval/loss": float(-logprobs.sum() / tokens)}

    def finish(self, first_eval: dict[str, float], last_eval: dict[str, float], seconds: float) -> dict[str, Any]:
        """The summary, with the held-out loss before and after on the terminal (there is no accuracy table)."""
        if "eval/loss" in last_eval:
            before = f"{first_eval['eval/loss']:.4f} -> " if "eval/loss" in first_eval else ""
            print(f"{self.config.run.name}: held-out eval/loss {before}{last_eval['eval/loss']:.4f}")
        return super().finish(first_eval, last_eval, seconds)
