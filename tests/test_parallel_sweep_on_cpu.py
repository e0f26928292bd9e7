"""A short real parallel scaling-law sweep (N = 1, 2 as Ray tasks) on the embedded world, its report, resuming a
finished sweep, and `rlcore eval` on a checkpoint with rollout workers only."""

from __future__ import annotations

import json

import pytest

from algorithms.parallel_sweep.runner import plan, run_sweep
from rlcore.cli import main
from rlcore.metrics import read_metrics
from tests.conftest import ROOT, tiny_run_config

pytestmark = pytest.mark.integration


def test_sweep_n1_n2_report_resume_and_eval(ray_cluster, tiny_model_path, tmp_path, capsys):
    config = tiny_run_config(
        tmp_path,
        tiny_model_path,
        "algorithm.name=parallel_rpt",
        "algorithm.steps=1",
        "algorithm.prompts_per_step=4",
        "algorithm.sweep.languages=[en, fr]",
        "algorithm.sweep.sizes=[1, 2]",
        "algorithm.sweep.max_concurrent=2",
        "data.eval_languages=[en, fr, it]",
        "logging.plots=false",
        "run.name=sweep",
    )  # the sweep turns on evaluation at the start and the end
    report = run_sweep(config)

    sweep_dir = tmp_path / "sweep"
    assert {p.name for p in sweep_dir.iterdir()} >= {"report.json", "report.md", "accuracy_vs_N.png", "runs"}
    assert (sweep_dir / "accuracy_vs_N.png").read_bytes()[:4] == b"\x89PNG"
    assert [(r["n"], r["languages"]) for r in report["runs"]] == [(1, ["en"]), (2, ["en", "fr"])]
    assert report["failures"] == {} and report["heldout_languages"] == ["it"]
    assert set(report["series"]["mean"]["perf"]) == {"1", "2"} and "leap" in report["series"]["mean"]
    assert "error" in report["series"]["mean"]["law"]  # one point at N >= 2: no law, said so
    n2 = report["runs"][1]
    assert set(n2["transferability"]["index"]) == {"it"} and n2["questions"] == 8
    assert set(n2["acc_at_k"]) == {"1", "2", "3"} and 0 <= n2["majority_vote"] <= 1
    markdown = (sweep_dir / "report.md").read_text()
    assert "First-Parallel Leap" in markdown and "| 2 | en fr |" in markdown
    rows = read_metrics(tmp_path / "sweep" / "runs" / "n2-en-fr" / "metrics.jsonl")
    assert {"accuracy/en", "accuracy/fr", "reward/en", "reward/fr"} <= set(rows[-1])  # per-language training metrics
    assert json.loads((tmp_path / "sweep" / "report.json").read_text())["runs"][0]["n"] == 1

    again = run_sweep(config)  # every run has its summary: nothing trains again, the report is rebuilt
    assert len(read_metrics(tmp_path / "sweep" / "runs" / "n2-en-fr" / "metrics.jsonl")) == len(rows)
    assert again["runs"] == report["runs"]

    assert "leap" in report["series"]["mean"]["intervals"]  # bootstrap over questions of the runs' final grades

    checkpoint = plan(config)[1].run_dir / "checkpoints" / "step_1"
    code = main(
        [
            "eval",
            str(ROOT / "configs" / "demo_parallel_rpt.yaml"),
            f"checkpoint={checkpoint}",
            f"run.output_dir={tmp_path / 'evals'}",
            "run.name=probe",
            "data.eval_languages=[en, fr, it]",
            "data.eval_questions_per_language=8",
            "rollout.max_tokens=40",
        ]
    )
    assert code == 0
    output = tmp_path / "evals" / "probe" / "eval" / "multilingual_eval_checkpoints_step_1.json"  # the run dir's
    assert not any(path.suffix == ".json" and "eval" in path.name for path in checkpoint.iterdir())
    result = json.loads(output.read_text())
    assert result["metrics"]["eval/n/it"] == 8 and set(result["graded"]) == {"en", "fr", "it"}
    assert result["languages"] == ["en", "fr", "it"] and result["questions"] == 8
    assert result["accuracy"]["en"] == pytest.approx(n2["after"]["en"])  # same greedy answers as in training
    out = capsys.readouterr().out
    assert "Acc@k over languages" in out and f"report: {output.resolve()}" in out
