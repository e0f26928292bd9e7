"""The sweep report in words: one-line findings and the Markdown report (accuracy, gains, transferability, laws)."""

from __future__ import annotations

from typing import Any

import numpy as np


def findings(report: dict[str, Any]) -> list[str]:
    """Honest one-line statements of what the sweep shows."""
    lines = []
    main = report["series"]["mean"]
    intervals = main.get("intervals", {})
    leap = main.get("leap")
    if leap:
        noise = "noise unknown" if leap["two_sigma"] is None else f"2σ eval noise {100 * leap['two_sigma']:.1f} pts"
        later = (
            f"mean later step {100 * leap['later_mean_step']:+.1f} pts"
            if leap["later_mean_step"] is not None
            else "no later steps"
        )
        verdict = "a First-Parallel Leap" if leap["detected"] else "no First-Parallel Leap distinguishable from noise"
        lines.append(
            f"N=1 -> N=2 changes mean accuracy by {100 * leap['leap']:+.1f} pts{_ci(intervals.get('leap'), 100)} "
            f"({noise}; {later}): {verdict} (one seed per N)."
        )
    law = main["law"]
    if "error" in law:
        lines.append(f"No power law fitted: {law['error']}.")
    else:
        quality = f"R² = {law['r2']:.3f}" if law["r2"] is not None else "exact through two points, no R²"
        lines.append(
            f"Parallel scaling law on N >= 2: Perf(N) = {law['a']:.4f}·N^{law['b']:.4f} ({quality}; "
            f"a{_ci(intervals.get('a'))}, b{_ci(intervals.get('b'))})."
        )
        if "mgg" in main:
            lines.append(
                f"Monolingual Generalization Gap: {100 * main['mgg']:+.2f} pts{_ci(intervals.get('mgg'), 100)} "
                "(actual N=1 minus the law)."
            )
    if intervals:
        lines.append(f"Intervals: 95%, {intervals['method']} of the {intervals['questions']} held-out questions.")
    for r in report["runs"]:
        improved = r["unseen_improved"]
        if improved:
            strong = r["unseen_improved_beyond_2sigma"]
            listed = ", ".join(f"{lang} {100 * g:+.1f}{'*' if lang in strong else ''}" for lang, g in improved.items())
            lines.append(
                f"N={r['n']} ({'+'.join(r['languages'])}) improved languages it did not train on: {listed} "
                f"pts (* = beyond 2σ of the two evaluations)."
            )
        else:
            lines.append(f"N={r['n']} ({'+'.join(r['languages'])}) improved no language it did not train on.")
    if report["failures"]:
        lines.append(f"Failed runs (left out): {', '.join(report['failures'])}.")
    return lines


def _ci(interval: list[float] | None, scale: float = 1.0) -> str:
    """` 95% [low, high]` (scaled, e.g. to points), or nothing when there is no interval."""
    if not interval:
        return ""
    low, high = (scale * v for v in interval)
    return f" 95% [{low:+.2f}, {high:+.2f}]" if scale != 1.0 else f" 95% [{low:.4f}, {high:.4f}]"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def markdown(report: dict[str, Any]) -> str:
    out = [
        f"# Parallel scaling-law sweep: {report['sweep']}",
        "",
        f"{report.get('steps')} steps x {report.get('prompts_per_step')} prompts x {report.get('group_size')} "
        f"samples per run (equal budget for every N), batching by {report.get('batching')}; "
        f"this invocation trained {report.get('trained_now', 0)} run(s) in {report['seconds']:.0f} s.",
        "",
    ]
    out += [f"- {line}" for line in report["findings"]] + [""]
    runs = report["runs"]
    if not runs:
        return "\n".join(out)
    languages = report["eval_languages"]
    out += [
        "## Held-out accuracy (%) per N and language (after training; change in brackets)",
        "",
        "| N | trained on | " + " | ".join(languages) + " | mean | steps s | wall s |",
        "|---" * (len(languages) + 5) + "|",
        "| base | - | "
        + " | ".join(_pct(runs[0]["before"].get(lang)) for lang in languages)
        + " | "
        + _pct(np.mean([runs[0]["before"][lang] for lang in languages]))
        + " | - | - |",
    ]
    for r in runs:
        cells = [f"{_pct(r['after'][lang])} ({100 * r['gain'][lang]:+.1f})" for lang in languages]
        wall = f"{r['wall_seconds']:.0f}" if r.get("wall_seconds") else "-"
        out.append(
            f"| {r['n']} | {' '.join(r['languages'])} | "
            + " | ".join(cells)
            + f" | {_pct(r['mean_after'])} | {r['loop_seconds']:.0f} | {wall} |"
        )
    out += [
        "",
        "steps s: time in training steps (with evaluations and checkpoints), all segments of a resumed run; "
        "wall s: the run's last `rlcore sweep` segment, worker start-up included.",
    ]
    out += [
        "",
        "## Transferability index per unseen language: TI(l) = gain(l) / mean gain of trained languages",
        "",
        "| N | trained gain (pts) | " + " | ".join(languages) + " | mean TI |",
        "|---" * (len(languages) + 3) + "|",
    ]
    for r in runs:
        ti = r["transferability"] or {"index": {}, "trained_gain": None, "mean": None}
        cells = [
            ("-" if lang not in ti["index"] else "undef." if ti["index"][lang] is None else f"{ti['index'][lang]:.2f}")
            for lang in languages
        ]
        mean = "-" if ti["mean"] is None else f"{ti['mean']:.2f}"
        out.append(f"| {r['n']} | {_pct(ti['trained_gain'])} | " + " | ".join(cells) + f" | {mean} |")
    ks = sorted({k for r in runs for k in r["acc_at_k"]}, key=int)
    out += [
        "",
        "## Acc@k over languages (best k-language subset) and majority vote across languages (%)",
        "",
        "| N | " + " | ".join(f"Acc@{k}" for k in ks) + " | majority vote |",
        "|---" * (len(ks) + 2) + "|",
    ]
    out += [
        f"| {r['n']} | " + " | ".join(_pct(r["acc_at_k"].get(k)) for k in ks) + f" | {_pct(r['majority_vote'])} |"
        for r in runs
    ]
    out += [
        "",
        "## Fits: Perf(N) = a·N^b on N >= 2",
        "",
        "| series | languages | a | b | R² | R² (log) | MGG (pts) | leap (pts) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, series in report["series"].items():
        law, ci = series["law"], series.get("intervals", {})
        leap = series["leap"]["leap"] if "leap" in series else None
        leap_cell = f"{_pct(leap)}{_ci(ci.get('leap'), 100)}"
        if "error" in law:
            out.append(f"| {name} | {' '.join(series['languages'])} | {law['error']} | | | | | {leap_cell} |")
            continue
        r2 = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        out.append(
            f"| {name} | {' '.join(series['languages'])} | {law['a']:.4f}{_ci(ci.get('a'))} "
            f"| {law['b']:.4f}{_ci(ci.get('b'))} | {r2(law['r2'])} | {r2(law['r2_log'])} "
            f"| {_pct(series.get('mgg'))}{_ci(ci.get('mgg'), 100)} | {leap_cell} |"
        )
    if any("intervals" in series for series in report["series"].values()):
        out += ["", "95% intervals: percentile bootstrap over the held-out questions (the same for every N)."]
    if report["failures"]:
        out += ["", "## Failed runs", ""] + [f"- {name}: {why}" for name, why in report["failures"].items()]
    return "\n".join(out) + "\n"
