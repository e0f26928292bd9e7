"""The Algorithm base class: a subclass sets `Config`, implements `step(step) -> metrics` with the Runtime's verbs
(generate, score, reference_logprobs, train, sync_weights) and registers itself: `@ALGORITHMS.register("name")`.
The base class runs the loop: resume (the round and step to start from), evaluation, checkpoints, metrics and the
final summary. An algorithm that iterates (make data with the policy, then train on it) splits its steps in rounds.
"""

from __future__ import annotations

import logging
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field

from actors.runtime import ROLES, Runtime
from algorithms.checkpoint_eval import evaluate_checkpoint
from algorithms.run_state import RunState
from algorithms.run_summary import load_eval_report, save_eval_report, write_summary
from rlcore.batch import Batch
from rlcore.chat import PromptFormatter
from rlcore.checkpoint import CheckpointManager
from rlcore.cluster import WorkerDied, WorkerError
from rlcore.config import ConfigError, NamedSection, RunConfig, save_config
from rlcore.data import PromptSampler, Sampler, load_eval_rows, load_rows
from rlcore.evaluation import evaluate
from rlcore.logging_setup import attach_log
from rlcore.metrics.progress import PhaseProgress
from rlcore.metrics.sinks import MetricsLogger
from rlcore.preflight import check_config, check_prompt_lengths
from rlcore.registry import ALGORITHMS
from rlcore.run_dir import forget_metrics_after, holds_a_run, put_back, set_aside_previous_run
from rlcore.run_storage import RunStorage, is_uri

__all__ = ["ALGORITHMS", "Algorithm", "AlgorithmConfig"]
log = logging.getLogger(__name__)


class AlgorithmConfig(NamedSection):
    steps: int = Field(100, ge=1, description="Training steps (one policy update and sync each).")


class Algorithm(RunState, ABC):
    Config: ClassVar[type[NamedSection]] = AlgorithmConfig
    cfg: NamedSection  # an instance of Config: a subclass declares its type next to its Config
    phases: ClassVar[tuple[str, ...]] = ("generate", "reward", "reference", "train", "sync")
    evaluate_each_round: ClassVar[bool] = False  # evaluate and checkpoint at the end of every round
    roles: ClassVar[tuple[str, ...]] = ROLES  # the worker groups a run starts (SFT: the learner only)
    async_rollout: ClassVar[bool] = False  # its steps take their samples from `rollout` (rollout.async_steps)

    def __init__(self, config: RunConfig):
        super().__init__()
        if not isinstance(config.algorithm, self.Config):  # e.g. a config made for another algorithm
            raise ConfigError(f"{type(self).__name__} needs a {self.Config.__name__}: {config.algorithm!r}")
        if config.rollout.async_steps and not self.async_rollout:
            raise ConfigError(
                f"rollout.async_steps: {type(self).__name__} generates with the current policy only; set "
                f"rollout.async_steps: 0 (asynchronous rollout is for GRPO and the algorithms built on it)"
            )
        if config.rollout.async_steps and config.learner.offload_during_generation:
            raise ConfigError(
                "rollout.async_steps > 0 and learner.offload_during_generation cannot be combined: the learner "
                "trains while the engines generate; turn one of them off"
            )
        self.config = config
        self.cfg = config.algorithm
        self.run_dir = config.run_dir
        self.checkpoints = CheckpointManager(self.run_dir, config.checkpoint.keep_last, config.checkpoint.verify)
        uri = config.run_location if is_uri(config.run.output_dir) else None
        self.storage = RunStorage(uri, self.run_dir) if uri else None  # the run directory's lasting copy
        self.eval_rows: list[dict[str, Any]] = []
        self.round, self.round_steps = 0, range(0)  # the current round (iteration) and the numbers of its steps
        self.first_eval: dict[str, float] = {}
        self.last_eval: dict[str, float] = {}
        self.first_report: dict[str, Any] | None = None  # with every question's grade, for paired intervals
        self.last_report: dict[str, Any] | None = None
        self.initial_sampler_state: dict[str, Any] = {}  # where a restart without a checkpoint starts again
        self.learner_restarts = 0  # of this run() (cluster.max_worker_restarts)
        self.unreported_restarts = 0  # learner restarts not yet in a step's metrics

    def needs_reference(self) -> bool:
        return False

    def worker_roles(self) -> tuple[str, ...]:
        """The worker groups this run starts (`roles`, or more where a setting of the run needs them)."""
        return self.roles

    def optimizer_steps(self) -> int:  # of the whole run, for learning-rate schedules
        return self.total_steps()

    def total_steps(self) -> int:
        assert isinstance(self.cfg, AlgorithmConfig), f"{type(self).__name__}: no fixed `steps`, so override this"
        return self.cfg.steps

    def num_rounds(self) -> int:
        return 1

    def start_round(self, round_: int, resuming: bool) -> int:
        """Get round `round_` ready (`resuming`: a checkpoint was taken after it began); returns its step count."""
        return self.total_steps()

    @abstractmethod
    def step(self, step: int) -> dict[str, float]:
        """One training step; returns its metrics."""

    def rollout(self, step: int, prompts: Callable[[int], Batch], n: int) -> Batch:
        """Step `step`'s samples, n per prompt of `prompts(step)` (drawn from the sampler in step order): generated
        now, or with rollout.async_steps started up to that many steps earlier while the learner trained."""
        last_step = self.round_steps.stop - 1
        return self.runtime.rollout(step, prompts, n, last_step=last_step, position=self.sampler.state)

    def load_data(self) -> None:
        """Training and held-out rows, each with the `prompt_ids` every worker uses (rlcore.chat formats them)."""
        data, seed = self.config.data, self.config.run.seed
        self.prompts = PromptFormatter.for_model(self.config.model.path, data.chat_template)
        rows = load_rows(data.source, "train", data, data.train_languages, seed, data.num_train_questions)
        rows = self.prompts.with_prompt_ids(rows)
        check_prompt_lengths(rows, self.config, data.source)
        self.sampler = self.make_sampler(rows)
        self.eval_rows = self.prompts.with_prompt_ids(load_eval_rows(data))
        check_prompt_lengths(self.eval_rows, self.config, data.eval_source or data.source)

    def make_sampler(self, rows: list[dict[str, Any]]) -> Sampler:  # an algorithm may choose or regroup the rows
        return PromptSampler(rows, self.config.run.seed, self.config.data.shuffle)

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics of the current policy; the full multilingual report is kept in `last_report`."""
        if not self.eval_rows:
            return {}
        config = self.config
        with self.phase("eval"):
            max_tokens = config.eval.max_tokens or config.rollout.max_tokens
            metrics, self.last_report = evaluate(self.runtime, self.eval_rows, max_tokens, config.data.eval_languages)
        return metrics

    evaluate_checkpoint = staticmethod(evaluate_checkpoint)  # `rlcore eval`: any checkpoint, rollout workers only

    def run(self, runtime: Runtime | None = None) -> dict[str, Any]:
        """Train every round (continuing from the newest checkpoint when run.resume is on); returns the summary."""
        start_step = self.start(runtime)
        started = time.time()
        try:
            while True:
                try:
                    self.train_from(start_step)
                    break
                except WorkerError as error:  # a dead learner rank: go on from the last checkpoint, else raised
                    start_step = self.restart_learner(error)
        finally:
            self.progress.close()
            self.metrics_log.close()
            self.mirror()  # also after a failure: what the run finished lasts
            if runtime is None:
                self.runtime.shutdown()
        summary = self.finish(self.first_eval, self.last_eval, time.time() - started)
        self.mirror()
        return summary

    def mirror(self) -> None:
        """Copy the run directory to its URI (run.output_dir), when it has one."""
        if self.storage is not None:
            self.storage.push()

    def train_from(self, start_step: int) -> None:
        """The initial evaluation (a run from step 0), then the training loop."""
        if self.config.eval.at_start and start_step == 0:
            self.first_eval = self.last_eval = self.evaluate()
            self.first_report = self.last_report
            save_eval_report(self.run_dir, "initial", self.first_eval, self.first_report)
            self.metrics_log.log(0, {**self.first_eval, **self.progress.restart_clock()})
        elif start_step and (saved := load_eval_report(self.run_dir, "initial")):  # saved before the resume
            self.first_eval, self.first_report = saved["metrics"], saved
        self.train_loop(start_step)

    def restart_learner(self, error: WorkerError) -> int:
        """After a learner rank died (it took its optimizer state with it): a fresh learner group from the newest
        checkpoint, or from the start without one, as a resume would do; returns the step to go on from. Any other
        failure, and a death once cluster.max_worker_restarts is spent, is raised."""
        runtime, budget = self.runtime, self.config.cluster.max_worker_restarts
        dead = runtime.group("learner").dead_ranks() if "learner" in runtime.groups else []
        if not dead:
            raise error
        where = f"learner rank(s) {', '.join(map(str, dead))} died"
        if self.learner_restarts >= budget:
            raise WorkerDied(
                f"{error}; {where} and the learner group was restarted {self.learner_restarts} time(s) already, the "
                f"budget of cluster.max_worker_restarts ({budget}), so the run stops here"
            ) from error
        self.learner_restarts += 1
        checkpoint = self.checkpoints.latest()
        log.warning(
            "%s (%s); restarting the learner group from %s (%d of %d restarts)",
            where,
            error,
            checkpoint or "the start (no checkpoint yet)",
            self.learner_restarts,
            budget,
        )
        runtime.restart_learner(str(checkpoint) if checkpoint else None)
        if checkpoint:
            step = CheckpointManager.restore(checkpoint, runtime, self.sampler)
        else:
            self.sampler.load_state(self.initial_sampler_state)
            runtime.set_policy_version(0)
            step = 0
        if "rollout" in runtime.groups:  # they may hold a newer policy than the one restored
            runtime.sync_weights(new_version=False)
        forget_metrics_after(self.run_dir, step)
        self.progress.close()
        logs = self.config.logging
        self.progress = PhaseProgress(self.total_steps(), self.phases, start_step=step, enabled=logs.progress)
        self.unreported_restarts += 1
        log.warning("the learner group restarted; training goes on after step %d", step)
        return step

    def start(self, runtime: Runtime | None) -> int:
        """Run directory, data, workers, resume, sinks; returns the step to resume from. A start that fails
        leaves no run directory behind unless one was there before (a previous run's is never touched). A fresh run
        (run.resume off) moves a previous run in its directory aside first, and back if the start fails."""
        config, logs = self.config, self.config.logging
        check_config(config)  # what is knowable before any worker starts (rlcore.preflight)
        if self.storage is not None and config.run.resume and not holds_a_run(self.run_dir):
            self.storage.pull()  # resume on any machine from the lasting copy
        elif self.storage is not None and not config.run.resume:
            self.storage.set_aside()
        previous = None if config.run.resume else set_aside_previous_run(self.run_dir)
        created = not self.run_dir.exists()
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, self.run_dir / "config.yaml")
            self.load_data()
            self.initial_sampler_state = self.sampler.state()
            resume_from = self.checkpoints.latest() if config.run.resume else None
            policy, need_reference = str(resume_from) if resume_from else None, self.needs_reference()
            self.runtime = runtime or Runtime(
                config,
                total_optimizer_steps=self.optimizer_steps(),
                need_reference=need_reference,
                policy_path=policy,
                roles=self.worker_roles(),
            )
            start_step = CheckpointManager.restore(resume_from, self.runtime, self.sampler) if resume_from else 0
            if config.run.resume:
                forget_metrics_after(self.run_dir, start_step)
            self.metrics_log = MetricsLogger.from_config(self.run_dir, logs)
        except BaseException:
            if runtime is None and self._runtime is not None:
                self.runtime.shutdown()
            if created:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            if previous:
                put_back(self.run_dir, previous)
            raise
        attach_log(self.run_dir)  # the terminal's full output, held in memory so far, now lives in the run directory
        self.progress = PhaseProgress(self.total_steps(), self.phases, start_step=start_step, enabled=logs.progress)
        return start_step

    def train_loop(self, start_step: int) -> None:
        """Every round's steps after `start_step` (the resumed checkpoint's); the steps before it are skipped."""
        rounds, step = self.num_rounds(), 0
        for self.round in range(1, rounds + 1):
            self.runtime.begin_step(step + 1)  # a round's start may generate (iterative DPO's pairs)
            self.round_steps = range(step + 1, step + 1 + self.start_round(self.round, resuming=step < start_step))
            step = self.round_steps.stop - 1
            if step > start_step:
                self.progress.set_total(self.total_steps())
            for current in range(max(self.round_steps.start, start_step + 1), step + 1):
                last = current == step
                self.runtime.begin_step(current)
                self.end_step(current, self.step(current), end_of_round=last, final=last and self.round == rounds)

    def end_step(self, step: int, metrics: dict[str, float], end_of_round: bool, final: bool) -> None:
        """Evaluation and checkpoint when due, then progress and the metrics line of `step`."""
        every_eval, every_ckpt = self.config.eval.every_steps, self.config.checkpoint.every_steps
        round_end = end_of_round and self.evaluate_each_round
        if round_end or (every_eval and (step % every_eval == 0 or final)):
            self.last_eval = self.evaluate()
            metrics.update(self.last_eval)
        if round_end or (every_ckpt and step % every_ckpt == 0) or (final and self.config.checkpoint.save_final):
            with self.phase("checkpoint"):
                sampler_state = self.runtime.resume_position(self.sampler.state())  # not past prompts in flight
                self.checkpoints.save(step, self.runtime, self.sampler, sampler_state)
                self.mirror()
        metrics["workers/restarts"] = self.runtime.take_restarts() + self.unreported_restarts
        self.unreported_restarts = 0
        if "rollout" in self.runtime.groups:
            metrics["rollout/workers"] = float(self.runtime.rollout_workers)
        metrics.update(self.progress.advance(metrics))
        if self.runtime.autoscaling and not final:  # counted in the next step's time, as time/scale_s
            with self.phase("scale"):
                self.runtime.autoscale(metrics)
        self.metrics_log.log(step, metrics)

    def finish(self, first_eval: dict[str, float], last_eval: dict[str, float], seconds: float) -> dict[str, Any]:
        """Plots, the summary table on the terminal and summary.json."""
        return write_summary(
            self.config,
            self.total_steps(),
            first_eval,
            last_eval,
            seconds,
            self.first_report,
            self.last_report,
            metric_changes=self.metric_changes(first_eval, last_eval),
        )

    def metric_changes(self, first_eval: dict[str, float], last_eval: dict[str, float]) -> dict[str, dict[str, Any]]:
        """Changes of scores without per-question grades, kept in summary.json beside the accuracy changes."""
        return {}
