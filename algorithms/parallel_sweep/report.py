"""The sweep's report: accuracy per N and language, gains, transferability per unseen language, the First-Parallel
Leap, the parallel scaling law Perf(N) = a·N^b fitted on N >= 2, the Monolingual Generalization Gap, Acc@k and
majority vote per N; written as report.json, report.md and accuracy_vs_N.png."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.parallel_sweep.transfer import (
    accuracy_stderr,
    first_parallel_leap,
    fit_power_law,
    gains,
    monolingual_generalization_gap,
    transferability,
)
from rlcore.metrics import read_metrics

PREFIX = "eval/accuracy/"


def per_language(metrics: dict[str, float]) -> dict[str, float]:
    return {k[len(PREFIX) :]: v for k, v in metrics.items() if k.startswith(PREFIX) and k != PREFIX + "mean"}


def _initial_eval(rows: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, float]:
    """The step-0 evaluation; read from metrics.jsonl because a resumed run's summary has no `initial`."""
    for row in rows:
        if row.get("step") == 0 and any(k.startswith(PREFIX) for k in row):
            return row
    return summary.get("initial") or {}


def _loop_seconds(rows: list[dict[str, Any]]) -> float:
    """Time spent in training steps (with their evaluations and checkpoints) over every segment of a resumed
    run; a step repeated after a resume counts once (the later one)."""
    return float(sum({row["step"]: row.get("time/step_s", 0.0) for row in rows if "step" in row}.values()))


def run_result(run, min_trained_gain: float) -> dict[str, Any]:
    """Before/after accuracy, gains and transferability of one finished run."""
    summary = json.loads((run.run_dir / "summary.json").read_text())
    path = run.run_dir / "metrics.jsonl"
    rows = read_metrics(path) if path.exists() else []
    final, initial = summary["final"], _initial_eval(rows, summary)
    before, after = per_language(initial), per_language(final)
    questions = int(final.get("eval/parallel_questions", 0))
    result = {
        "n": run.n,
        "languages": run.languages,
        "run_dir": str(run.run_dir),
        "before": before,
        "after": after,
        "gain": gains(before, after),
        "questions": questions,
        "mean_after": final.get(PREFIX + "mean"),
        "loop_seconds": _loop_seconds(rows),
        "wall_seconds": summary.get("wall_seconds"),
        "acc_at_k": {k.rsplit("/", 1)[-1]: v for k, v in final.items() if k.startswith("eval/acc_at_k/")},
        "majority_vote": final.get("eval/majority_vote"),
    }
    result["transferability"] = transferability(before, after, run.languages, min_trained_gain) if before else None
    two_sigma = (
        {
            lang: 2 * math.hypot(accuracy_stderr(before[lang], questions), accuracy_stderr(after[lang], questions))
            for lang in result["gain"]
        }
        if questions
        else {}
    )
    result["unseen_improved"] = {lang: g for lang, g in result["gain"].items() if lang not in run.languages and g > 0}
    result["unseen_improved_beyond_2sigma"] = {
        lang: g for lang, g in result["unseen_improved"].items() if two_sigma and g > two_sigma[lang]
    }
    return result


def _series(results: Sequence[dict[str, Any]], languages: Sequence[str]) -> dict[int, float]:
    """Mean accuracy after training over `languages`, per N (runs with the same N are averaged)."""
    by_n: dict[int, list[float]] = defaultdict(list)
    for r in results:
        by_n[r["n"]].append(float(np.mean([r["after"][lang] for lang in languages])))
    return {n: float(np.mean(v)) for n, v in sorted(by_n.items())}


def _law(perf: dict[int, float], stderr: dict[int, float] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"perf": {str(n): v for n, v in perf.items()}}
    try:
        law = fit_power_law(perf)
    except ValueError as error:
        out["law"] = {"error": str(error)}
    else:
        out["law"] = law.to_dict()
        if 1 in perf:
            out["mgg"] = monolingual_generalization_gap(perf, law)
    if 1 in perf and 2 in perf:
        out["leap"] = first_parallel_leap(perf, stderr)
    return out


def build_report(config, runs, failures: dict[str, str], seconds: float, trained: int = 0) -> dict[str, Any]:
    """Everything the sweep measured, JSON-able, with plain-language findings. `seconds`: this invocation, which
    trained `trained` runs."""
    spec = config.algorithm.sweep
    results = [run_result(run, spec.min_trained_gain) for run in runs if run.done]
    report: dict[str, Any] = {
        "sweep": config.run.name,
        "seconds": seconds,
        "trained_now": trained,
        "failures": failures,
        "runs": results,
        "steps": config.algorithm.steps,
        "prompts_per_step": config.algorithm.prompts_per_step,
        "group_size": config.algorithm.group_size,
        "batching": config.algorithm.batching,
    }
    if not results:
        report["findings"] = ["no run finished"]
        return report
    order = config.data.eval_languages or sorted(results[0]["after"])  # the config's order: English first
    languages = [lang for lang in order if all(lang in r["after"] for r in results)]
    heldout = [lang for lang in languages if not any(lang in r["languages"] for r in results)]
    report |= {"eval_languages": languages, "heldout_languages": heldout, "series": {}}
    questions = min(r["questions"] for r in results)
    for name, langs in (("mean", languages), ("heldout_mean", heldout)):
        if langs:
            perf = _series(results, langs)
            stderr = {n: accuracy_stderr(v, questions * len(langs)) for n, v in perf.items()} if questions else None
            report["series"][name] = {"languages": langs, **_law(perf, stderr)}
    report["findings"] = findings(report)
    return report


def findings(report: dict[str, Any]) -> list[str]:
    """Honest one-line statements of what the sweep shows."""
    lines = []
    main = report["series"]["mean"]
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
            f"N=1 -> N=2 changes mean accuracy by {100 * leap['leap']:+.1f} pts ({noise}; {later}): "
            f"{verdict} (one seed per N)."
        )
    law = main["law"]
    if "error" in law:
        lines.append(f"No power law fitted: {law['error']}.")
    else:
        quality = f"R² = {law['r2']:.3f}" if law["r2"] is not None else "exact through two points, no R²"
        lines.append(f"Parallel scaling law on N >= 2: Perf(N) = {law['a']:.4f}·N^{law['b']:.4f} ({quality}).")
        if "mgg" in main:
            lines.append(f"Monolingual Generalization Gap: {100 * main['mgg']:+.2f} pts (actual N=1 minus the law).")
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


def write_report(report: dict[str, Any], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(report, indent=2))
    (directory / "report.md").write_text(markdown(report))
    if report["runs"]:
        plot(report, directory / "accuracy_vs_N.png")
    print(markdown(report), flush=True)


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
        "| series | languages | a | b | R² | R² (log) | MGG (pts) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, series in report["series"].items():
        law = series["law"]
        if "error" in law:
            out.append(f"| {name} | {' '.join(series['languages'])} | {law['error']} | | | | |")
            continue
        r2 = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        out.append(
            f"| {name} | {' '.join(series['languages'])} | {law['a']:.4f} | {law['b']:.4f} | {r2(law['r2'])} "
            f"| {r2(law['r2_log'])} | {_pct(series.get('mgg'))} |"
        )
    if report["failures"]:
        out += ["", "## Failed runs", ""] + [f"- {name}: {why}" for name, why in report["failures"].items()]
    return "\n".join(out) + "\n"


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
        ax.plot(list(perf), list(perf.values()), "o", color=color, ms=7, label=f"{name} (measured)")
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
