"""Plots and tables of a run's metrics: PNGs made from metrics.jsonl, and summary tables on the terminal."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlcore.metrics.sinks import read_metrics

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def format_value(v: Any) -> str:
    """A table or progress cell: floats to 4 significant digits, None as '-'."""
    return f"{v:.4g}" if isinstance(v, float) else "-" if v is None else str(v)


LEGEND_OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "fontsize": "small"}
MEAN_STYLE: dict[str, Any] = {"color": "black", "linewidth": 2.5, "linestyle": "--", "zorder": 5}


def _figure(rows: int = 1, height: float = 4.5) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, height * rows), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def metric_series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one metric in step order; a resumed run's repeat of a step wins, nulls are skipped."""
    by_step: dict[int, float] = {}
    for row in rows:
        value = row.get(key)
        if isinstance(row.get("step"), int) and isinstance(value, (int, float)) and not isinstance(value, bool):
            by_step[row["step"]] = float(value)
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over the last `window` values (fewer at the start)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def smoothing_window(points: int) -> int:
    return max(1, min(25, round(points / 10)))


def plot_reward(rows: Sequence[Mapping[str, Any]], key: str = "reward/mean") -> Figure | None:
    """The training reward per step, faint, under its moving average."""
    steps, values = metric_series(rows, key)
    if not steps:
        return None
    window = smoothing_window(len(values))
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(steps, values, color="tab:blue", alpha=0.3, linewidth=1, label=f"{key} (per step)")
    ax.plot(steps, moving_average(values, window), color="tab:blue", linewidth=2, label=f"moving average ({window})")
    ax.set(title="training reward", xlabel="step", ylabel="reward")
    ax.grid(alpha=0.3)
    ax.legend(**LEGEND_OUTSIDE)
    return fig


def standard_error(p: float, n: int) -> float:
    """Binomial standard error of an accuracy p measured on n questions."""
    return math.sqrt(max(p * (1.0 - p), 0.0) / n) if n > 0 else 0.0


def plot_accuracy(rows: Sequence[Mapping[str, Any]], questions_per_language: int | None = None) -> Figure | None:
    """Held-out accuracy per language with a ±1 standard-error band (n from `eval/n/<lang>`, else the
    configured questions per language); the mean over languages drawn as a thick dashed black line."""
    prefix = "eval/accuracy/"
    languages = sorted({k[len(prefix) :] for row in rows for k in row if k.startswith(prefix)} - {"mean"})
    if not languages and not metric_series(rows, prefix + "mean")[0]:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for lang in languages:
        steps, values = metric_series(rows, prefix + lang)
        counts = dict(zip(*metric_series(rows, f"eval/n/{lang}"), strict=True))
        errors = [
            standard_error(p, int(counts.get(s, questions_per_language or 0)))
            for s, p in zip(steps, values, strict=True)
        ]
        (line,) = ax.plot(steps, values, marker="o", markersize=3, label=lang)
        ax.fill_between(
            steps,
            [p - e for p, e in zip(values, errors, strict=True)],
            [p + e for p, e in zip(values, errors, strict=True)],
            color=line.get_color(),
            alpha=0.15,
            linewidth=0,
            label=f"_{lang} ±1 SE",  # a leading underscore keeps it out of the legend
        )
    steps, values = metric_series(rows, prefix + "mean")
    if steps:
        ax.plot(steps, values, marker="s", markersize=4, label="mean", **MEAN_STYLE)
    ax.set(title="held-out accuracy per language (band: ±1 standard error)", xlabel="step", ylabel="accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(**LEGEND_OUTSIDE)
    return fig


POLICY_METRICS = (
    ("KL to reference", ("train/kl_ref",)),
    ("KL to rollout policy", ("train/approx_kl_old",)),
    ("entropy (nats/token)", ("train/entropy",)),
    ("clip fraction", ("train/clip_fraction",)),
)


def plot_policy(rows: Sequence[Mapping[str, Any]]) -> Figure | None:
    """How the policy moves: KL, entropy and clip fraction, one axis each (their scales differ by decades)."""
    present = [(title, key) for title, keys in POLICY_METRICS for key in keys if metric_series(rows, key)[0]]
    if not present:
        return None
    fig = _figure(rows=len(present), height=2.2)
    axes = fig.subplots(len(present), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (title, key) in zip(axes, present, strict=True):
        steps, values = metric_series(rows, key)
        ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=key)
        ax.set_ylabel(title, fontsize="small")
        ax.grid(alpha=0.3)
        ax.legend(**LEGEND_OUTSIDE)
    axes[0].set_title("policy: KL, entropy and clip fraction")
    axes[-1].set_xlabel("step")
    return fig


def plot_lines(rows: Sequence[Mapping[str, Any]], panel: str, prefixes: Sequence[str]) -> Figure | None:
    """Every metric whose name starts with one of `prefixes`, one line each."""
    keys = sorted({k for row in rows for k in row if k not in ("step", "time") and k.startswith(tuple(prefixes))})
    series = {k: metric_series(rows, k) for k in keys}
    series = {k: v for k, v in series.items() if v[0]}
    if not series:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for key, (steps, values) in series.items():
        ax.plot(steps, values, label=key, marker="o" if len(steps) < 30 else None, markersize=3)
    ax.set(title=panel, xlabel="step", ylabel=panel)
    ax.grid(alpha=0.3)
    ax.legend(**LEGEND_OUTSIDE)
    return fig


def save_figure(fig: Figure, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    fig.savefig(path)
    return path


def plot_metrics(metrics_path: Path, out_dir: Path, panels: Mapping[str, Sequence[str]]) -> list[Path]:
    """Write one PNG per panel (name -> metric-name prefixes); panels without data are skipped."""
    rows = read_metrics(metrics_path)
    figures = {panel: plot_lines(rows, panel, prefixes) for panel, prefixes in panels.items()}
    return [save_figure(fig, Path(out_dir), panel) for panel, fig in figures.items() if fig is not None]


def plot_run(
    metrics_path: Path, out_dir: Path, questions_per_language: int | None, panels: Mapping[str, Sequence[str]]
) -> list[Path]:
    """A run's plots: reward (with moving average), accuracy per language (with standard-error bands), the
    policy's KL / entropy / clip fraction, and one plot per entry of `panels`; those without data are skipped."""
    rows = read_metrics(metrics_path)
    figures = {
        "reward": plot_reward(rows),
        "accuracy": plot_accuracy(rows, questions_per_language),
        "policy": plot_policy(rows),
        **{panel: plot_lines(rows, panel, prefixes) for panel, prefixes in panels.items()},
    }
    return [save_figure(fig, Path(out_dir), name) for name, fig in figures.items() if fig is not None]


def summary_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Render a table (rich, else plain text), print it to stdout and return the text."""
    cells = [[format_value(v) for v in row] for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(str(c)), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        lines = [title, "  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
        text = "\n".join(lines) + "\n"
    else:
        table = Table(*map(str, columns), title=title)
        for r in cells:
            table.add_row(*r)
        buf = io.StringIO()
        Console(file=buf, width=1000, color_system=None, force_terminal=False).print(table)
        text = "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"
    print(text, end="", flush=True)
    return text
