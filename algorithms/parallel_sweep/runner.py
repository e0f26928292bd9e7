"""The parallel scaling-law sweep: one independent parallel_rpt run per training language set (N = 1..K), as Ray
tasks (or in this process), resumable, then one report (algorithms/parallel_sweep/report.py).

Layout: <run.output_dir>/<run.name>/ holds runs/n<N>-<languages>/ (ordinary run directories) and report.json,
report.md, accuracy_vs_N.png. A run whose summary.json exists is done and skipped; a run with checkpoints but
no summary continues from its newest checkpoint (run.resume). Every run has the same steps and prompts per step,
so the comparison across N is at an equal training budget."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcore.config import ConfigError, RunConfig, load_config

log = logging.getLogger(__name__)


@dataclass
class SweepRun:
    n: int
    languages: list[str]
    run_dir: Path

    @property
    def done(self) -> bool:
        return (self.run_dir / "summary.json").exists()


def plan(config: RunConfig) -> list[SweepRun]:
    """The runs of the sweep, in order of N (explicit language sets, or prefixes of the ordered languages)."""
    spec = _spec(config)
    if spec.language_sets is not None:
        sets = [list(s) for s in spec.language_sets]
    else:
        ordered = spec.languages or config.data.train_languages
        too_big = [n for n in spec.sizes if n > len(ordered)]
        if too_big:
            raise ConfigError(f"sweep sizes {too_big} exceed the {len(ordered)} languages {ordered}")
        sets = [ordered[:n] for n in sorted(spec.sizes)]
    root = sweep_dir(config) / "runs"
    return [SweepRun(len(s), s, root / f"n{len(s)}-{'-'.join(s)}") for s in sets]


def sweep_dir(config: RunConfig) -> Path:
    return (Path(config.run.output_dir) / config.run.name).resolve()


def _spec(config: RunConfig):
    spec = getattr(config.algorithm, "sweep", None)
    if spec is None:
        raise ConfigError(f"algorithm {config.algorithm.name!r} has no sweep section; use algorithm.name=parallel_rpt")
    return spec


def run_config(config: RunConfig, run: SweepRun, progress: bool) -> dict[str, Any]:
    """The resolved config of one run, as a plain dict (what a Ray task receives). Local paths become absolute
    because a task's working directory is not the driver's; evaluation runs at the start and at the last step."""
    data = config.model_dump(mode="json")
    data["run"].update(output_dir=str(run.run_dir.parent), name=run.run_dir.name, resume=True)
    data["data"]["train_languages"] = run.languages
    data["logging"]["progress"] = progress
    # The report needs the accuracy before training and after the last step.
    data["eval"]["at_start"] = True
    data["eval"]["every_steps"] = data["eval"]["every_steps"] or data["algorithm"]["steps"]
    for section, key in (("model", "path"), ("data", "source"), ("data", "eval_source")):
        value = data[section].get(key)
        if value and not value.startswith("builtin:") and Path(value).exists():
            data[section][key] = str(Path(value).resolve())
    return data


def train_run(config_data: dict[str, Any]) -> dict[str, Any]:
    """Train one run from its config dict; its summary.json gets the wall time of this call."""
    from algorithms import build_algorithm

    started = time.time()
    summary = build_algorithm(load_config(config_data)).run()
    summary["wall_seconds"] = time.time() - started
    path = Path(summary["run_dir"]) / "summary.json"
    path.write_text(json.dumps(summary, indent=2))
    return summary


def run_sweep(config: RunConfig, train: bool = True) -> dict[str, Any]:
    """Run what is not done yet (train=False: nothing), then write the report from the finished runs. Failed runs
    are reported and left out of the fits."""
    from algorithms.parallel_sweep.report import build_report, write_report

    spec = _spec(config)
    if config.run.seeds:
        raise ConfigError("run.seeds: the sweep trains one seed per N (run.seed); its intervals are over questions")
    runs = plan(config)
    todo = [run for run in runs if not run.done] if train else []
    for run in runs:
        if run.done:
            log.info("sweep: N=%d %s already finished, skipped", run.n, run.languages)
    started = time.time()
    failures: dict[str, str] = {}
    if spec.execution == "inline":
        for run in todo:
            try:
                train_run(run_config(config, run, progress=config.logging.progress))
            except Exception as error:
                failures[run.run_dir.name] = f"{type(error).__name__}: {error}"
                log.exception("sweep: N=%d %s failed", run.n, run.languages)
    elif todo:
        failures = _run_as_tasks(config, todo, spec.max_concurrent)
    report = build_report(config, runs, failures, time.time() - started, trained=len(todo))
    write_report(report, sweep_dir(config))
    report["report_path"] = str((sweep_dir(config) / "report.md").resolve())
    return report


def _run_as_tasks(config: RunConfig, todo: list[SweepRun], max_concurrent: int) -> dict[str, str]:
    """Each run a Ray task (0 CPUs itself: its actors hold the resources), at most max_concurrent at a time."""
    import ray

    from rlcore.cluster import init_ray

    init_ray(config.cluster)
    task = ray.remote(num_cpus=0, max_retries=0)(train_run)
    pending: dict[Any, SweepRun] = {}
    failures: dict[str, str] = {}
    queue = list(todo)
    while queue or pending:
        while queue and len(pending) < max_concurrent:
            run = queue.pop(0)
            log.info("sweep: starting N=%d %s -> %s", run.n, run.languages, run.run_dir)
            pending[task.remote(run_config(config, run, progress=False))] = run
        ready, _ = ray.wait(list(pending), num_returns=1)
        run = pending.pop(ready[0])
        try:
            summary = ray.get(ready[0])
            log.info("sweep: N=%d %s finished in %.0fs", run.n, run.languages, summary["wall_seconds"])
        except Exception as error:
            cause = getattr(error, "cause", None) or error  # a RayTaskError wraps the run's own exception
            failures[run.run_dir.name] = f"{type(cause).__name__}: {cause}"
            log.error("sweep: N=%d %s failed: %s", run.n, run.languages, failures[run.run_dir.name])
    return failures
