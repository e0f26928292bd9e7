"""The sweep report from hand-made run directories: per-N series, the fitted law, leap, MGG, TI, files."""

from __future__ import annotations

import json

import pytest

from algorithms.parallel_sweep.report import build_report
from algorithms.parallel_sweep.runner import plan, run_sweep
from tests.conftest import ROOT

LANGS = ["en", "fr", "de", "es", "it", "pt"]
BEFORE = {lang: 0.30 for lang in LANGS}


def fake_run(run, after: dict[str, float]) -> None:
    """A finished run directory: step-0 evaluation in metrics.jsonl, final evaluation in summary.json."""
    run.run_dir.mkdir(parents=True)
    initial = {f"eval/accuracy/{lang}": v for lang, v in BEFORE.items()}
    final = {f"eval/accuracy/{lang}": v for lang, v in after.items()}
    final |= {
        "eval/accuracy/mean": sum(after.values()) / len(after),
        "eval/parallel_questions": 300,
        "eval/acc_at_k/1": 0.5,
        "eval/majority_vote": 0.45,
    }
    (run.run_dir / "metrics.jsonl").write_text(json.dumps({"step": 0, **initial}) + "\n")
    (run.run_dir / "summary.json").write_text(
        json.dumps({"initial": {}, "final": final, "seconds": 10.0, "wall_seconds": 12.0})
    )


def test_report_recovers_the_law_and_states_the_leap(tmp_path):
    from rlcore.config import load_config

    config = load_config(ROOT / "configs" / "demo_parallel_rpt.yaml", [f"run.output_dir={tmp_path}"])
    runs = plan(config)
    assert [(r.n, r.languages) for r in runs] == [
        (1, ["en"]),
        (2, ["en", "fr"]),
        (3, ["en", "fr", "de"]),
        (4, ["en", "fr", "de", "es"]),
    ]
    a, b = 0.40, 0.10
    for run in runs:  # every language at a·N^b, except N = 1 which falls short by 3 points (MGG = -0.03)
        value = a * run.n**b - (0.03 if run.n == 1 else 0.0)
        fake_run(run, {lang: value for lang in LANGS})
    report = build_report(config, runs, {}, 1.0)
    series = report["series"]["mean"]
    assert series["law"]["a"] == pytest.approx(a) and series["law"]["b"] == pytest.approx(b)
    assert series["law"]["r2"] == pytest.approx(1.0) and series["mgg"] == pytest.approx(-0.03)
    assert report["heldout_languages"] == ["it", "pt"] and "heldout_mean" in report["series"]
    leap = series["leap"]
    assert leap["leap"] == pytest.approx(a * 2**b - a + 0.03) and leap["detected"]  # 5.9 pts > 2σ ≈ 3.3 pts
    n2 = report["runs"][1]
    assert n2["transferability"]["index"]["it"] == pytest.approx(1.0)  # every language gained the same
    assert n2["unseen_improved"].keys() == {"de", "es", "it", "pt"}
    assert any("a First-Parallel Leap" in line for line in report["findings"])

    assert run_sweep(config, train=False)["series"] == report["series"]  # `rlcore sweep --report-only`: no Ray
    out = tmp_path / "demo_parallel_rpt"
    assert (out / "accuracy_vs_N.png").read_bytes()[:4] == b"\x89PNG"
    markdown = (out / "report.md").read_text()
    assert "| mean | en fr de es it pt | 0.4000 | 0.1000 | 1.000 |" in markdown
    assert json.loads((out / "report.json").read_text())["series"]["mean"]["mgg"] == pytest.approx(-0.03)


def test_report_gives_bootstrap_intervals_when_runs_kept_their_grades(tmp_path):
    from algorithms.parallel_sweep.report_text import markdown
    from rlcore.config import load_config

    config = load_config(ROOT / "configs" / "demo_parallel_rpt.yaml", [f"run.output_dir={tmp_path}"])
    runs = plan(config)
    questions = 300
    for run in runs:
        value = 0.40 * run.n**0.10 - (0.03 if run.n == 1 else 0.0)
        right = round(value * questions)
        fake_run(run, {lang: right / questions for lang in LANGS})
        graded = {lang: {f"q{i}": int(i < right) for i in range(questions)} for lang in LANGS}
        (run.run_dir / "eval").mkdir()
        (run.run_dir / "eval" / "final.json").write_text(json.dumps({"graded": graded}))
    report = build_report(config, runs, {}, 1.0)
    series = report["series"]["mean"]
    intervals = series["intervals"]
    assert intervals["questions"] == questions and intervals["method"].startswith("bootstrap over questions")
    for name, estimate in [
        ("a", series["law"]["a"]),
        ("b", series["law"]["b"]),
        ("mgg", series["mgg"]),
        ("leap", series["leap"]["leap"]),
        ("perf_3", series["perf"]["3"]),
    ]:
        low, high = intervals[name]
        assert low < estimate < high, name
    assert intervals["leap"][0] > 0  # a 6-point jump on 300 paired questions stands out of the noise
    assert intervals["perf_1"][1] - intervals["perf_1"][0] < 0.12  # about 2·1.96·sqrt(.37·.63/300)
    assert "95% intervals: percentile bootstrap over the held-out questions" in markdown(report)
    assert any(line.startswith("Intervals: 95%, bootstrap over questions") for line in report["findings"])
    assert any("First-Parallel Leap" in line and "95% [+" in line for line in report["findings"])


def test_sweep_refuses_several_seeds(tmp_path):
    from rlcore.config import ConfigError, load_config

    config = load_config(ROOT / "configs" / "demo_parallel_rpt.yaml", [f"run.output_dir={tmp_path}", "run.seeds=[1,2]"])
    with pytest.raises(ConfigError, match=r"run\.seeds: the sweep trains one seed per N"):
        run_sweep(config, train=False)
