"""The Algorithm base class and registry: the Python API for new algorithms.

A subclass sets `Config`, implements `step(step) -> metrics` with the Runtime's verbs (generate, score,
reference_logprobs, train, sync_weights), and registers itself: `@ALGORITHMS.register("name")`. The base class
runs the loop: resume, periodic evaluation, checkpoints, metrics, plots and the final summary.
"""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import Field

from actors.runtime import Runtime
from rlcore.checkpoint import CheckpointManager
from rlcore.config import NamedSection, RunConfig, save_config
from rlcore.data import PromptSampler, load_eval_rows, load_rows
from rlcore.evaluation import evaluate
from rlcore.metrics import MetricsLogger, PhaseProgress, plot_metrics, summary_table
from rlcore.registry import ALGORITHMS

log = logging.getLogger(__name__)


class AlgorithmConfig(NamedSection):
    steps: int = Field(100, ge=1, description="Training steps (one policy update and sync each).")


class Algorithm(ABC):
    Config: ClassVar[type[AlgorithmConfig]] = AlgorithmConfig
    phases: ClassVar[tuple[str, ...]] = ("generate", "reward", "reference", "train", "sync")

    def __init__(self, config: RunConfig):
        self.config = config
        self.cfg = config.algorithm
        self.run_dir = config.run_dir
        self.checkpoints = CheckpointManager(self.run_dir, config.checkpoint.keep_last)
        self.runtime: Runtime | None = None
        self.progress: PhaseProgress | None = None
        self.last_report: dict[str, Any] | None = None

    # ---- what subclasses provide ------------------------------------------------------------------------------
    def needs_reference(self) -> bool:
        return False

    def optimizer_steps(self) -> int:
        """Total optimizer steps of the run (for learning-rate schedules)."""
        return self.total_steps()

    @abstractmethod
    def step(self, step: int) -> dict[str, float]:
        """One training step; returns its metrics."""

    def phase(self, name: str):
        """Context manager timing one phase of the step (shown in the progress display and metrics)."""
        return self.progress.phase(name)

    # ---- the loop ---------------------------------------------------------------------------------------------
    def load_data(self) -> None:
        data, seed = self.config.data, self.config.run.seed
        rows = load_rows(data.source, "train", data, data.train_languages, seed, data.num_train_questions)
        self.sampler = PromptSampler(rows, seed, data.shuffle)
        self.eval_rows = load_eval_rows(data, seed)

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics of the current policy; the full multilingual report is kept in `last_report`."""
        if not self.eval_rows:
            return {}
        with self.phase("eval"):
            max_tokens = self.config.eval.max_tokens or self.config.rollout.max_tokens
            metrics, self.last_report = evaluate(
                self.runtime, self.eval_rows, max_tokens, self.config.data.eval_languages
            )
        return metrics

    @classmethod
    def evaluate_checkpoint(cls, config: RunConfig, checkpoint: str, output: str | None = None) -> dict[str, Any]:
        """`rlcore eval`: the held-out evaluation of any checkpoint, with rollout workers only."""
        from algorithms.checkpoint_eval import evaluate_checkpoint

        return evaluate_checkpoint(config, checkpoint, output)

    def save_checkpoint(self, step: int) -> None:
        with self.phase("checkpoint"):
            path = self.checkpoints.path(step)
            self.runtime.save_checkpoint(path)
            self.checkpoints.finish(
                step, {"sampler": self.sampler.state(), "policy_version": self.runtime.policy_version}
            )

    def run(self, runtime: Runtime | None = None) -> dict[str, Any]:
        """Train for `steps` steps (continuing from the newest checkpoint when run.resume is on)."""
        config = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, self.run_dir / "config.yaml")
        self.load_data()
        resume_from = self.checkpoints.latest() if config.run.resume else None
        start_step = 0
        self.runtime = runtime or Runtime(
            config,
            total_optimizer_steps=self.optimizer_steps(),
            need_reference=self.needs_reference(),
            policy_path=str(resume_from) if resume_from else None,
        )
        if resume_from:
            state = CheckpointManager.trainer_state(resume_from)
            start_step = state["step"]
            self.sampler.load_state(state["sampler"])
            self.runtime.set_policy_version(state["policy_version"])
            restored = self.runtime.load_training_state(resume_from)
            log.info(
                "resumed from %s at step %d (optimizer state %s)",
                resume_from,
                start_step,
                "restored" if restored else "not saved, starting fresh",
            )
        self.metrics_log = MetricsLogger(
            self.run_dir, tensorboard=config.logging.tensorboard, wandb_project=config.logging.wandb_project
        )
        self.progress = PhaseProgress(
            self.total_steps(), self.phases, start_step=start_step, enabled=config.logging.progress
        )
        started = time.time()
        self.first_eval = self.last_eval = {}
        try:
            if config.eval.at_start and start_step == 0:
                self.first_eval = self.last_eval = self.evaluate()
                self.metrics_log.log(0, self.first_eval)
            self.train_loop(start_step)
        finally:
            self.progress.close()
            self.metrics_log.close()
            if runtime is None:
                self.runtime.shutdown()
        return self.finish(self.first_eval, self.last_eval, time.time() - started)

    def total_steps(self) -> int:
        return self.cfg.steps

    def train_loop(self, start_step: int) -> None:
        """Steps start_step+1 .. total_steps(). Algorithms with another rhythm (e.g. iterations) override this."""
        for step in range(start_step + 1, self.total_steps() + 1):
            self.end_step(step, self.step(step), final=step == self.total_steps())

    def end_step(
        self,
        step: int,
        metrics: dict[str, float],
        *,
        final: bool = False,
        evaluate: bool = False,
        checkpoint: bool = False,
    ) -> None:
        """Evaluation and checkpoint when due (or asked for), then progress and the metrics line of `step`."""
        every_eval, every_ckpt = self.config.eval.every_steps, self.config.checkpoint.every_steps
        if evaluate or (every_eval and (step % every_eval == 0 or final)):
            self.last_eval = self.evaluate()
            metrics.update(self.last_eval)
        if checkpoint or (every_ckpt and step % every_ckpt == 0) or (final and self.config.checkpoint.save_final):
            self.save_checkpoint(step)
        metrics.update(self.progress.advance(metrics))
        self.metrics_log.log(step, metrics)

    def finish(self, first_eval: dict[str, float], last_eval: dict[str, float], seconds: float) -> dict[str, Any]:
        """Plots, the summary table on the terminal and summary.json."""
        plots = []
        if self.config.logging.plots:
            plots = plot_metrics(
                self.run_dir / "metrics.jsonl",
                self.run_dir / "plots",
                {
                    "reward": ["reward/mean"],
                    "accuracy": ["eval/accuracy/"],
                    "response_length": ["response_length/mean"],
                    "loss": ["train/loss"],
                },
            )
        languages = sorted(k.rsplit("/", 1)[-1] for k in last_eval if k.startswith("eval/accuracy/"))
        languages = [lang for lang in languages if lang != "mean"] + ["mean"] * ("mean" in languages)
        rows = [
            [
                lang,
                _pct(first_eval.get(f"eval/accuracy/{lang}")),
                _pct(last_eval.get(f"eval/accuracy/{lang}")),
                _delta(first_eval.get(f"eval/accuracy/{lang}"), last_eval.get(f"eval/accuracy/{lang}")),
            ]
            for lang in languages
        ]
        if rows:
            summary_table(
                f"{self.config.run.name}: held-out accuracy, {self.total_steps()} steps in {seconds:.0f}s",
                ["language", "initial", "final", "change"],
                rows,
            )
        summary = {
            "initial": first_eval,
            "final": last_eval,
            "seconds": seconds,
            "plots": [str(p) for p in plots],
            "run_dir": str(self.run_dir),
        }
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _delta(before: float | None, after: float | None) -> str:
    return "-" if before is None or after is None else f"{100 * (after - before):+.1f} pts"


def build_algorithm(config: RunConfig) -> Algorithm:
    """The algorithm named by config.algorithm.name, ready to `.run()`."""
    return ALGORITHMS.get(config.algorithm.name)(config)
