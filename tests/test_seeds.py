"""The aggregate across seeds (rlcore.seeds) over fabricated seed runs; the multi-seed runs themselves belong to the
demos (`make demo`), not to the test suite."""

from __future__ import annotations

import json

import pytest

from rlcore.config import ConfigError, load_config
from rlcore.evaluation import accuracy_changes
from rlcore.seeds import aggregate_rows, seed_config, write_aggregate


def _grades(values):
    return {lang: {f"q{i}": v for i, v in enumerate(grades)} for lang, grades in values.items()}


def _fake_seed_run(root, seed, english_gain, french_gain, questions=40):
    """A finished seed run: English goes from 0 to right on `english_gain` questions, French on `french_gain`."""
    before = _grades({"en": [0] * questions, "fr": [0] * questions, "de": [0] * questions})
    after = _grades(
        {
            "en": [1] * english_gain + [0] * (questions - english_gain),
            "fr": [0] * (questions - french_gain) + [1] * french_gain,
            "de": [0] * questions,
        }
    )
    run_dir = root / f"seed_{seed}"
    (run_dir / "eval").mkdir(parents=True)
    (run_dir / "eval" / "initial.json").write_text(json.dumps({"graded": before}))
    (run_dir / "eval" / "final.json").write_text(json.dumps({"graded": after}))
    (run_dir / "summary.json").write_text(json.dumps({"changes": accuracy_changes(before, after)}))


def test_aggregate_over_seeds(tmp_path, capsys):
    for seed, en, fr in ((1, 20, 1), (2, 24, 0), (3, 22, 2)):
        _fake_seed_run(tmp_path, seed, en, fr)
    aggregate = write_aggregate(tmp_path, [1, 2, 3], "demo")
    saved = json.loads((tmp_path / "aggregate.json").read_text())
    assert saved["seeds"] == [1, 2, 3] and set(saved["changes"]) == {"en", "fr", "de", "mean", "mean_non_en"}
    en = aggregate["changes"]["en"]
    assert en["mean"] == pytest.approx(22 / 40) and en["minimum"] == 0.5 and en["maximum"] == 0.6
    assert en["per_seed"] == {"1": 0.5, "2": 0.6, "3": 0.55}
    assert en["seeds_low"] > 0 and en["seeds_significant"]
    assert en["questions"] == 40 and en["questions_low"] > 0.3 and en["significant"]
    fr = aggregate["changes"]["fr"]
    assert fr["mean"] == pytest.approx(0.025) and not fr["seeds_significant"]
    assert fr["questions_low"] <= 0 and not fr["significant"]
    de = aggregate["changes"]["de"]
    assert de["mean"] == 0 and de["std"] == 0 and not de["significant"]
    assert aggregate["changes"]["mean"]["mean"] == pytest.approx((22 / 40 + 0.025) / 3)
    rows = {row[0]: row for row in aggregate_rows(aggregate["changes"])}
    assert rows["en"][1] == "+55.0 pts" and rows["en"][2] == "+50.0..+60.0" and rows["en"][5] == "yes / yes"
    assert rows["fr"][5] == "no / no"
    out = capsys.readouterr().out
    assert "over 3 seeds [1, 2, 3]" in out and f"aggregate: {(tmp_path / 'aggregate.json').resolve()}" in out


def test_aggregate_without_grades_reports_only_the_spread(tmp_path):
    _fake_seed_run(tmp_path, 5, 10, 0)
    _fake_seed_run(tmp_path, 6, 12, 0)
    (tmp_path / "seed_6" / "eval" / "final.json").unlink()
    changes = write_aggregate(tmp_path, [5, 6], "two")["changes"]
    assert changes["en"]["significant"] is None and "questions_low" not in changes["en"]
    assert changes["en"]["seeds_low"] is not None


def test_seed_config_and_seeds_validation(tmp_path):
    config = load_config({"run": {"name": "demo", "output_dir": str(tmp_path), "seeds": [3, 4]}})
    run = seed_config(config, 4)
    assert run.run_dir == tmp_path / "demo" / "seed_4" and run.run.seed == 4 and run.run.seeds is None
    with pytest.raises(ConfigError, match="distinct"):
        load_config({"run": {"seeds": [1, 1]}})
    with pytest.raises(ConfigError, match="seeds"):
        load_config({"run": {"seeds": []}})
