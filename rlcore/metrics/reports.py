"""Plots and tables of a run's metrics: one PNG per panel of metrics.jsonl, and summary tables on the terminal."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlcore.metrics.sinks import read_metrics


def format_value(v: Any) -> str:
    """A table or progress cell: floats to 4 significant digits, None as '-'."""
    return f"{v:.4g}" if isinstance(v, float) else "-" if v is None else str(v)


def plot_metrics(metrics_path: Path, out_dir: Path, panels: Mapping[str, Sequence[str]]) -> list[Path]:
    """Write one PNG per panel (name -> metric-name prefixes); panels without data are skipped."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = read_metrics(metrics_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for panel, prefixes in panels.items():
        series: dict[str, dict[int, float]] = {}
        for row in rows:
            if not isinstance(row.get("step"), int):
                continue
            for key, value in row.items():
                if key in ("step", "time") or not any(key.startswith(p) for p in prefixes):
                    continue
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    series.setdefault(key, {})[row["step"]] = value  # a resumed run's repeat wins
        if not series:
            continue
        fig = Figure(figsize=(8, 4.5), dpi=110, layout="tight")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for key in sorted(series):
            steps = sorted(series[key])
            ax.plot(
                steps, [series[key][s] for s in steps], label=key, marker="o" if len(steps) < 30 else None, markersize=3
            )
        ax.set(title=panel, xlabel="step", ylabel=panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        path = out_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', panel)}.png"
        fig.savefig(path)
        written.append(path)
    return written


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
