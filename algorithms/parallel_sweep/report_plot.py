"""The sweep report's figure: held-out accuracy against the number of training languages N, with the fitted laws."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot(report: dict[str, Any], path: Path) -> None:
    """Accuracy against N: each language (thin), the mean and held-out mean (markers) with their fitted laws."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), dpi=110, layout="tight")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    runs = report["runs"]
    for lang in report["eval_languages"]:
        points = sorted((r["n"], r["after"][lang]) for r in runs)
        ax.plot(*zip(*points, strict=True), lw=0.8, alpha=0.45, marker=".", label=lang)
    grid = np.linspace(1, max(r["n"] for r in runs), 100)
    for (name, series), color in zip(report["series"].items(), ("black", "tab:red"), strict=True):
        perf = {int(n): v for n, v in series["perf"].items()}
        bounds = [series.get("intervals", {}).get(f"perf_{n}") for n in perf]
        label = f"{name} (measured)"
        if all(bounds):  # 95% bootstrap intervals over questions
            errors = np.array([[v - b[0], b[1] - v] for v, b in zip(perf.values(), bounds, strict=True)]).T
            ax.errorbar(list(perf), list(perf.values()), yerr=errors, fmt="none", ecolor=color, capsize=3)
            label = f"{name} (measured, 95% interval)"
        ax.plot(list(perf), list(perf.values()), "o", color=color, ms=7, label=label)
        law = series["law"]
        if "error" not in law:
            ax.plot(
                grid,
                law["a"] * grid ** law["b"],
                "--",
                color=color,
                label=f"{name}: {law['a']:.3f}·N^{law['b']:.3f} (fit on N>=2)",
            )
    base = np.mean([runs[0]["before"][lang] for lang in report["eval_languages"]])
    ax.axhline(base, color="grey", ls=":", label="mean before training")
    ax.set(
        title=f"{report['sweep']}: held-out accuracy against the number of training languages N",
        xlabel="N (training languages)",
        ylabel="accuracy",
        xticks=sorted({r["n"] for r in runs}),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    fig.savefig(path)
