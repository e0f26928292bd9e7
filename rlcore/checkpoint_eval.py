"""`rlcore eval CONFIG checkpoint=PATH`: the multilingual evaluation of any checkpoint (or base model) with vLLM
rollout workers only — no learner, reference or reward workers are started."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from actors.rollout import RolloutWorker, rollout_env
from rlcore.batch import Batch
from rlcore.cluster import WorkerGroup, actor_env, init_ray
from rlcore.config import RunConfig
from rlcore.data import DataError, load_eval_rows
from rlcore.modeling import resolve_model_path
from rlcore.multilingual import evaluate_parallel, report_tables

log = logging.getLogger(__name__)


class RolloutWorkers:
    """The rollout worker group of a config, serving `model_path`; speaks the Runtime's `generate` verb."""

    def __init__(self, config: RunConfig, model_path: str):
        init_ray(config.cluster)
        cluster, rollout = config.cluster, config.rollout
        self.group = WorkerGroup("rollout", RolloutWorker, rollout.num_workers, num_cpus=rollout.num_cpus,
                                 num_gpus=rollout.num_gpus, env=actor_env(cluster.torch_threads, rollout_env(rollout)),
                                 strategy=cluster.placement_strategy, call_timeout_s=cluster.call_timeout_s,
                                 init_kwargs={"model_path": model_path, "rollout": rollout.model_dump(),
                                              "dtype": config.model.dtype, "seed": config.run.seed})

    def generate(self, prompts: Batch, n: int, sampling: dict[str, Any] | None = None) -> Batch:
        return self.group.call("generate", prompts.with_columns(group=list(range(len(prompts)))), n=n,
                               sampling=sampling)

    def shutdown(self) -> None:
        self.group.shutdown()


def default_output(config: RunConfig, checkpoint: str) -> Path:
    """multilingual_eval.json inside the checkpoint directory when it is writable, else in the run directory."""
    directory = Path(checkpoint)
    if directory.is_dir() and os.access(directory, os.W_OK):
        return directory / "multilingual_eval.json"
    return config.run_dir / f"multilingual_eval_{Path(checkpoint).name.replace(':', '_')}.json"


def evaluate_checkpoint(config: RunConfig, checkpoint: str, output: str | Path | None = None) -> dict[str, Any]:
    """Greedy held-out evaluation of `checkpoint` on the config's eval set; prints tables, writes the JSON."""
    rows = load_eval_rows(config.data, config.run.seed)
    if not rows:
        raise DataError("no held-out rows: set data.eval_source (or use data.source=builtin:arith)")
    workers = RolloutWorkers(config, resolve_model_path(checkpoint))
    try:
        max_tokens = config.eval.max_tokens or config.rollout.max_tokens
        metrics, report = evaluate_parallel(workers, rows, max_tokens, config.data.eval_languages)
    finally:
        workers.shutdown()
    report = {"checkpoint": checkpoint, "metrics": metrics, **report}
    path = Path(output) if output else default_output(config, checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    report_tables(report, Path(checkpoint).name)
    print(f"report: {path}")
    return report
