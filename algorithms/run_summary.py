"""The end of a run: plots of metrics.jsonl, the held-out accuracy table on the terminal, and summary.json."""

from __future__ import annotations

import json
from typing import Any

from rlcore.config import RunConfig
from rlcore.metrics.reports import plot_run, summary_table

PANELS = {"response_length": ["response_length/mean"], "loss": ["train/loss"]}  # besides reward, accuracy, policy


def write_summary(
    config: RunConfig, total_steps: int, first_eval: dict[str, float], last_eval: dict[str, float], seconds: float
) -> dict[str, Any]:
    """Plots, the accuracy per language before and after training, and summary.json; returns the summary."""
    run_dir = config.run_dir
    questions = config.data.eval_questions_per_language
    plots = plot_run(run_dir / "metrics.jsonl", run_dir / "plots", questions, PANELS) if config.logging.plots else []
    languages = sorted(k.rsplit("/", 1)[-1] for k in last_eval if k.startswith("eval/accuracy/"))
    languages = [lang for lang in languages if lang != "mean"] + ["mean"] * ("mean" in languages)
    rows = []
    for lang in languages:
        before, after = first_eval.get(f"eval/accuracy/{lang}"), last_eval.get(f"eval/accuracy/{lang}")
        rows.append([lang, _pct(before), _pct(after), _delta(before, after)])
    if rows:
        print(f"{config.run.name}: held-out accuracy, {total_steps} steps in {seconds:.0f}s")
        summary_table("", ["language", "initial", "final", "change"], rows)
    if plots:
        print(f"plots: {plots[0].parent.resolve()}")
    if config.logging.tensorboard:
        print(f"TensorBoard: tensorboard --logdir {(run_dir / 'tensorboard').resolve()}")
    summary = {
        "initial": first_eval,
        "final": last_eval,
        "seconds": seconds,
        "plots": [str(p) for p in plots],
        "run_dir": str(run_dir),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _delta(before: float | None, after: float | None) -> str:
    return "-" if before is None or after is None else f"{100 * (after - before):+.1f} pts"
