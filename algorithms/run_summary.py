"""The end of a run: plots of metrics.jsonl, the held-out accuracy table on the terminal, and summary.json.

Every accuracy comes with its 95% Wilson interval, every change with its paired 95% interval on the same questions
(rlcore.evaluation.accuracy_changes); a change is marked significant only when its interval excludes zero."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlcore.config import RunConfig
from rlcore.evaluation import accuracy_changes
from rlcore.metrics.reports import plot_run, summary_table

PANELS = {"response_length": ["response_length/mean"], "loss": ["train/loss"]}  # besides reward, accuracy, policy
CHANGE_COLUMNS = ["language", "initial [95%]", "final [95%]", "change [95%]", "significant"]


def eval_report_path(run_dir: Path, name: str) -> Path:
    """Where a run keeps an evaluation (metrics and every question's grade): <run_dir>/eval/<name>.json."""
    return run_dir / "eval" / f"{name}.json"


def save_eval_report(run_dir: Path, name: str, metrics: dict[str, float], report: dict[str, Any] | None) -> None:
    path = eval_report_path(run_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": metrics, **(report or {})}, indent=2))


def load_eval_report(run_dir: Path, name: str) -> dict[str, Any] | None:
    path = eval_report_path(run_dir, name)
    return json.loads(path.read_text()) if path.exists() else None


def write_summary(
    config: RunConfig,
    total_steps: int,
    first_eval: dict[str, float],
    last_eval: dict[str, float],
    seconds: float,
    first_report: dict[str, Any] | None = None,
    last_report: dict[str, Any] | None = None,
    metric_changes: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Plots, the accuracy per language before and after training with intervals, and summary.json (with
    `changes`: per language the paired change and its interval, plus the algorithm's `metric_changes`, which
    `run.seeds` aggregates alike); returns the summary."""
    run_dir = config.run_dir
    questions = config.data.eval_questions_per_language
    plots = plot_run(run_dir / "metrics.jsonl", run_dir / "plots", questions, PANELS) if config.logging.plots else []
    if last_report is not None:
        save_eval_report(run_dir, "final", last_eval, last_report)
    before, after = ((report or {}).get("graded") for report in (first_report, last_report))
    changes = accuracy_changes(before, after) if before and after else {}
    rows = change_rows(first_eval, last_eval, changes)
    changes |= metric_changes or {}
    if rows:
        print(f"{config.run.name}: held-out accuracy, {total_steps} steps in {seconds:.0f}s")
        summary_table("", CHANGE_COLUMNS, rows)
    if plots:
        print(f"plots: {plots[0].parent.resolve()}")
    if config.logging.tensorboard:
        print(f"TensorBoard: tensorboard --logdir {(run_dir / 'tensorboard').resolve()}")
    summary = {
        "initial": first_eval,
        "final": last_eval,
        "changes": changes,
        "seconds": seconds,
        "plots": [str(p) for p in plots],
        "run_dir": str(run_dir),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def change_rows(
    first_eval: dict[str, float], last_eval: dict[str, float], changes: dict[str, dict[str, Any]]
) -> list[list[str]]:
    """One table row per language (then the means): accuracies with Wilson intervals, the change with its paired
    interval and `yes` when that interval excludes zero."""
    languages = sorted(k.rsplit("/", 1)[-1] for k in last_eval if k.startswith("eval/accuracy/"))
    languages = [lang for lang in languages if lang != "mean"] + ["mean"] * ("mean" in languages)
    languages += [name for name in changes if name.startswith("mean_")]
    rows = []
    for lang in languages:
        change = changes.get(lang)
        before, after = first_eval.get(f"eval/accuracy/{lang}"), last_eval.get(f"eval/accuracy/{lang}")
        if change is not None and before is None:  # a group mean only the paired comparison defines
            before, after = change["before"], change["after"]
        rows.append(
            [
                lang,
                _pct(before, first_eval, lang),
                _pct(after, last_eval, lang),
                format_change(change) if change else _delta(before, after),
                ("yes" if change["significant"] else "no") if change else "-",
            ]
        )
    return rows


def format_change(change: dict[str, Any]) -> str:
    """`+12.5 pts [+3.1, +21.0]`."""
    low, high = 100 * change["low"], 100 * change["high"]
    return f"{100 * change['estimate']:+.1f} pts [{low:+.1f}, {high:+.1f}]"


def _pct(value: float | None, metrics: dict[str, float] | None = None, lang: str = "") -> str:
    if value is None:
        return "-"
    low, high = (metrics or {}).get(f"eval/accuracy_low/{lang}"), (metrics or {}).get(f"eval/accuracy_high/{lang}")
    interval = f" [{100 * low:.1f}, {100 * high:.1f}]" if low is not None and high is not None else ""
    return f"{100 * value:.1f}%{interval}"


def _delta(before: float | None, after: float | None) -> str:
    return "-" if before is None or after is None else f"{100 * (after - before):+.1f} pts"


def score_changes(
    first_eval: dict[str, float], last_eval: dict[str, float], prefixes: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Per metric `eval/<prefix>/<name>` in both evaluations, its change as `<prefix>/<name>`: before, after and
    the estimate (a corpus score has no per-question grades to pair, so no interval)."""
    keys = sorted(k for k in last_eval if k.startswith(tuple(f"eval/{p}/" for p in prefixes)) and k in first_eval)
    return {
        key[len("eval/") :]: {
            "before": first_eval[key],
            "after": last_eval[key],
            "estimate": last_eval[key] - first_eval[key],
        }
        for key in keys
    }
