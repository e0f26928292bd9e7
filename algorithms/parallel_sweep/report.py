"""The sweep's report: accuracy per N and language, gains, transferability per unseen language, the First-Parallel
Leap, the parallel scaling law Perf(N) = a·N^b fitted on N >= 2, the Monolingual Generalization Gap, Acc@k and
majority vote per N, with 95% intervals of Perf(N), the law, the leap and the MGG by a bootstrap over questions
(from each run's eval/final.json); written as report.json, report.md (report_text.py) and accuracy_vs_N.png
(report_plot.py)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.parallel_sweep.report_plot import plot
from algorithms.parallel_sweep.report_text import findings, markdown
from algorithms.parallel_sweep.transfer import (
    accuracy_stderr,
    bootstrap_law,
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


def final_grades(run) -> dict[str, dict[str, int]] | None:
    """Every question's grade at the end of a run (its eval/final.json), for the bootstrap over questions."""
    path = run.run_dir / "eval" / "final.json"
    return json.loads(path.read_text()).get("graded") if path.exists() else None


def _per_question(
    results: Sequence[dict[str, Any]], grades: Sequence[dict[str, dict[str, int]]], languages: Sequence[str]
) -> dict[int, np.ndarray] | None:
    """Per N, each question's accuracy after training averaged over `languages` and the runs with that N, on the
    questions every run graded in every language (None when a run kept no grades)."""
    if not grades or not all(lang in g for g in grades for lang in languages):
        return None
    questions = [q for q in grades[0][languages[0]] if all(q in g[lang] for g in grades for lang in languages)]
    if not questions:
        return None
    by_n: dict[int, list[np.ndarray]] = defaultdict(list)
    for result, graded in zip(results, grades, strict=True):
        by_n[result["n"]].append(np.mean([[graded[lang][q] for q in questions] for lang in languages], axis=0))
    return {n: np.mean(rows, axis=0) for n, rows in sorted(by_n.items())}


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
    done = [run for run in runs if run.done]
    results = [run_result(run, spec.min_trained_gain) for run in done]
    grades = [final_grades(run) for run in done]
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
            kept = [g for g in grades if g]
            per_question = _per_question(results, kept, langs) if len(kept) == len(grades) else None
            if per_question is not None:
                report["series"][name]["intervals"] = bootstrap_law(per_question)
    report["findings"] = findings(report)
    return report


def write_report(report: dict[str, Any], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(report, indent=2))
    (directory / "report.md").write_text(markdown(report))
    if report["runs"]:
        plot(report, directory / "accuracy_vs_N.png")
    print(markdown(report), flush=True)
