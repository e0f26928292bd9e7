"""Tests for rlcore.metrics: JSONL logging, TensorBoard, progress lines, plots and tables."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from rlcore.metrics import MetricsLogger, PhaseProgress, plot_metrics, read_metrics, summary_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_jsonl_lines_have_step_time_and_nan_as_null(tmp_path: Path) -> None:
    before = time.time()
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        logger.log(0, {"loss": 1.5, "count": 3})
        logger.log(1, {"loss": math.nan, "reward/mean": math.inf, "count": 4})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]  # strict JSON: no NaN/Infinity tokens
    assert [r["step"] for r in rows] == [0, 1]
    assert all(before - 1 <= r["time"] <= time.time() + 1 for r in rows)
    assert rows[0]["loss"] == 1.5 and rows[0]["count"] == 3
    assert rows[1]["loss"] is None and rows[1]["reward/mean"] is None
    assert "NaN" not in lines[1] and "Infinity" not in lines[1]


def test_lines_are_flushed_before_close(tmp_path: Path) -> None:
    logger = MetricsLogger(tmp_path, tensorboard=False)
    logger.log(5, {"x": 1.0})
    assert read_metrics(tmp_path / "metrics.jsonl")[0]["x"] == 1.0  # visible without close()
    logger.close()
    logger.close()  # idempotent


def test_numpy_and_tensor_values_are_accepted(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        logger.log(0, {"a": np.float32(0.5), "b": torch.tensor(2.0), "c": np.int64(7)})
        with pytest.raises(TypeError, match="'bad'"):
            logger.log(1, {"bad": "text"})
    assert read_metrics(tmp_path / "metrics.jsonl") == [
        {"step": 0, "time": pytest.approx(time.time(), abs=60), "a": 0.5, "b": 2.0, "c": 7}
    ]


def test_truncated_last_line_is_tolerated_and_resume_appends(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        logger.log(0, {"x": 1.0})
        logger.log(1, {"x": 2.0})
    path = tmp_path / "metrics.jsonl"
    with open(path, "a") as f:
        f.write('{"step": 2, "x": 3.')  # crash mid-write
    assert [r["step"] for r in read_metrics(path)] == [0, 1]
    with MetricsLogger(tmp_path, tensorboard=False) as logger:  # a resumed run appends
        logger.log(2, {"x": 3.0})
    with pytest.warns(UserWarning, match="unparsable"):
        rows = read_metrics(path)
    assert [r["step"] for r in rows] == [0, 1, 2]


def test_tensorboard_event_file_created(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    with MetricsLogger(tmp_path) as logger:
        logger.log(0, {"loss": 0.5, "nan": math.nan})
        logger.log(1, {"loss": 0.25})
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_missing_tracker_package_is_a_config_error_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    from rlcore.config import ConfigError

    real_import = builtins.__import__

    def no_trackers(name, *args, **kwargs):
        if name in ("wandb", "mlflow"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_trackers)
    with pytest.raises(
        ConfigError, match=r"logging.wandb_project: wandb is not installed: pip install 'rlcore\[tracking\]'"
    ):
        MetricsLogger(tmp_path, tensorboard=False, wandb_project="proj")
    with pytest.raises(ConfigError, match=r"logging.mlflow_tracking_uri: mlflow is not installed.*rlcore\[tracking\]"):
        MetricsLogger(tmp_path, tensorboard=False, mlflow_tracking_uri=str(tmp_path / "mlruns"))


def test_phase_progress_plain_mode(capsys: pytest.CaptureFixture[str]) -> None:
    phases = ["generate", "reward", "train"]
    progress = PhaseProgress(total_steps=3, phases=phases, start_step=1)
    results = []
    for step in range(2):
        for name in phases:
            with progress.phase(name):
                time.sleep(0.01)
        results.append(progress.advance({"reward/mean": 0.5 + step, "train/loss": 0.1234567, "other": 1.0}))
    progress.close()
    for timings in results:
        assert set(timings) == {f"time/{p}_s" for p in phases} | {"time/step_s"}
        assert all(timings[f"time/{p}_s"] >= 0.009 for p in phases)
        assert timings["time/step_s"] >= sum(timings[f"time/{p}_s"] for p in phases)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("step 2/3") and lines[1].startswith("step 3/3")
    assert "generate" in lines[0] and "reward=0.5" in lines[0] and "loss=0.1235" in lines[0]
    assert "other" not in lines[0]  # the line shows the watched metrics only
    assert "\x1b[" not in "".join(lines)  # no terminal escape codes in logs


def test_phase_progress_disabled_and_unknown_phase(capsys: pytest.CaptureFixture[str]) -> None:
    with PhaseProgress(total_steps=1, phases=["a"], enabled=False) as progress:
        with progress.phase("b"):  # phases may be added on the fly
            pass
        timings = progress.advance()
    assert set(timings) == {"time/a_s", "time/b_s", "time/step_s"}
    assert timings["time/a_s"] == 0.0
    assert capsys.readouterr().out == ""


def write_rows(path: Path, rows: list[dict]) -> None:
    with MetricsLogger(path, tensorboard=False) as logger:
        for row in rows:
            logger.log(row.pop("step"), row)


def test_plot_metrics_writes_pngs_and_skips_empty(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    write_rows(
        tmp_path,
        [{"step": s, "reward/mean": 0.1 * s, "reward/std": 0.5, "loss": 1.0 / (s + 1)} for s in range(10)]
        + [{"step": 10, "eval/accuracy/gsm8k": 0.4, "reward/mean": math.nan}],
    )
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"no_step": 1, "reward/mean": 9}\n')
    out = tmp_path / "plots"
    written = plot_metrics(
        tmp_path / "metrics.jsonl",
        out,
        {"reward": ["reward/"], "accuracy": ["eval/accuracy/"], "loss": ["loss"], "kl": ["kl/"]},
    )
    assert [p.name for p in written] == ["reward.png", "accuracy.png", "loss.png"]
    for p in written:
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert not (out / "kl.png").exists()


def test_summary_table_contains_values(capsys: pytest.CaptureFixture[str]) -> None:
    text = summary_table(
        "Eval results", ["benchmark", "accuracy", "n"], [["gsm8k", 0.41234, 1319], ["math500", 0.25, None]]
    )
    for value in ("Eval results", "benchmark", "gsm8k", "0.4123", "1319", "math500", "0.25"):
        assert value in text
    assert capsys.readouterr().out == text
