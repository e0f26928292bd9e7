"""What a run shows and leaves: the terminal filter and the run's log file, the offline W&B and MLflow sinks read
back, no half-made run directory after a failed start, `rlcore --version` and the usage of `rlcore train`."""

from __future__ import annotations

import io
import struct
import sys
import time
from pathlib import Path

import pytest

from rlcore.cli import main
from rlcore.config import load_config
from rlcore.logging_setup import RunOutput, attach_log, strip_ansi
from rlcore.metrics import MetricsLogger

ROOT = Path(__file__).resolve().parents[1]
CYAN, RESET = "\x1b[36m", "\x1b[0m"


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_terminal_shows_the_driver_and_worker_errors_while_the_log_keeps_every_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, err = FakeTerminal(tty=False), FakeTerminal(tty=False)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    with RunOutput(verbose=False) as output:
        print(f"{CYAN}(RolloutWorker pid=42){RESET} WARNING 11-23 [cpu.py:224] Triton is not installed.")
        print("(LearnerWorker pid=43) [W1123 utils.cpp:68] Warning: NUMA binding: Using MEMBIND policy")
        sys.stderr.write("/x/vllm/dispatcher.py:138: FutureWarning: `reduce_op` is deprecated\n")
        sys.stderr.write("  if hasattr(value, '__dict__'):\n")
        print(f"{CYAN}(RolloutWorker pid=42){RESET} ERROR 11-23 engine died")
        sys.stdout.write("step 1/2 | generate 0.25s")
        sys.stdout.write(f" | {CYAN}reward=0.5{RESET}\n")
        attach_log(tmp_path / "run")  # the run directory exists now: lines held so far are written first
        print("(RolloutWorker pid=42) Loading weights 100%")
        print("run directory: /somewhere")
    assert sys.stdout is out and sys.stderr is err  # restored
    assert out.getvalue().splitlines() == [
        "(RolloutWorker pid=42) ERROR 11-23 engine died",
        "step 1/2 | generate 0.25s | reward=0.5",  # no colour codes on a terminal that is not a TTY
        "run directory: /somewhere",
    ]
    assert err.getvalue() == ""
    log = (tmp_path / "run" / "logs" / "run.log").read_text().splitlines()
    assert len(log) == 8 and "\x1b" not in "".join(log)
    assert log[0].endswith("Triton is not installed.") and "NUMA binding" in log[1] and "FutureWarning" in log[2]
    assert log[6] == "(RolloutWorker pid=42) Loading weights 100%"
    assert output.hidden == 5


def test_verbose_shows_everything_and_a_tty_keeps_its_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    out = FakeTerminal(tty=True)
    monkeypatch.setattr(sys, "stdout", out)
    with RunOutput(verbose=True) as output:
        print(f"{CYAN}(RolloutWorker pid=42){RESET} WARNING Triton is not installed.")
    assert out.getvalue() == f"{CYAN}(RolloutWorker pid=42){RESET} WARNING Triton is not installed.\n"
    assert output.hidden == 0


def read_wandb_history(run_file: Path) -> tuple[list[dict[str, str]], bool]:
    """The history records of an offline W&B run file, and whether its closing `exit` record is there yet: LevelDB-log
    framing (32 KiB blocks of records with a 7-byte header: crc32c, length, type) after W&B's 7-byte file header,
    each record a protobuf `Record`."""
    from wandb.proto import wandb_internal_pb2

    data, block = run_file.read_bytes(), 32768
    assert data[:4] == b":W&B"
    position, payload, history, closed = 7, b"", [], False
    while position + 7 <= len(data):
        if block - position % block < 7:  # a block's tail too short for a header is padding
            position += block - position % block
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        payload += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            payload = b""
            if record.WhichOneof("record_type") == "history":
                history.append({item.key or "/".join(item.nested_key): item.value_json for item in record.history.item})
            closed = closed or record.WhichOneof("record_type") == "exit"
    return history, closed


def test_wandb_offline_run_holds_the_logged_metrics(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    with MetricsLogger(tmp_path / "run", tensorboard=False, wandb_project="rlcore-test", wandb_mode="offline") as log:
        log.log(0, {"eval/accuracy/en": 0.25})
        log.log(1, {"reward/mean": 0.5, "train/entropy": 1.5})
    (run_file,) = (tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb")
    deadline = time.monotonic() + 30
    history, closed = read_wandb_history(run_file)
    while not closed and time.monotonic() < deadline:  # W&B's own service process writes the file after finish()
        time.sleep(0.2)
        history, closed = read_wandb_history(run_file)
    assert [(h["_step"], h.get("reward/mean")) for h in history] == [("0", None), ("1", "0.5")]
    assert history[0]["eval/accuracy/en"] == "0.25" and history[1]["train/entropy"] == "1.5"


def test_mlflow_file_store_run_holds_the_logged_metrics(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    store = str(tmp_path / "mlruns")
    with MetricsLogger(tmp_path / "run", tensorboard=False, mlflow_tracking_uri=store) as log:
        log.log(1, {"reward/mean": 0.5, "eval/n/en": 20})
        log.log(2, {"reward/mean": 0.75, "reward/failed": None})
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("rlcore").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    history = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "reward/mean")]
    assert sorted(history) == [(1, 0.5), (2, 0.75)]
    assert run.data.metrics["eval/n/en"] == 20 and "reward/failed" not in run.data.metrics


@pytest.mark.parametrize(
    "override", ["data.source=/nonexistent/questions.jsonl", "model.path=/nonexistent/model"], ids=["data", "model"]
)
def test_a_failed_start_leaves_no_run_directory(tmp_path: Path, override: str) -> None:
    from rlcore.registry import ALGORITHMS

    config = load_config(ROOT / "configs" / "demo_grpo.yaml", [f"run.output_dir={tmp_path}", "run.name=r", override])
    with pytest.raises((FileNotFoundError, ValueError)):
        ALGORITHMS.get("grpo")(config).run()
    assert not (tmp_path / "r").exists()
    earlier = tmp_path / "r"  # a previous run's directory is never removed
    (earlier / "checkpoints").mkdir(parents=True)
    with pytest.raises((FileNotFoundError, ValueError)):
        ALGORITHMS.get("grpo")(config).run()
    assert (earlier / "checkpoints").is_dir()


def test_version_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"rlcore {version('rlcore')}"
    with pytest.raises(SystemExit) as done:
        main(["train"])
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert "usage: rlcore train [--verbose] CONFIG [overrides ...]" in err
    assert "needs a CONFIG file (the overrides are optional)" in err


def test_on_a_terminal_the_live_display_keeps_worker_noise_out_and_the_log_gets_the_step_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rlcore.metrics import PhaseProgress

    terminal = FakeTerminal(tty=True)
    monkeypatch.setattr(sys, "stdout", terminal)
    with RunOutput() as output:
        attach_log(tmp_path)
        progress = PhaseProgress(total_steps=1, phases=["generate"])
        assert not progress.plain  # the rich live display
        with progress.phase("generate"):
            print("(RolloutWorker pid=7) WARNING libtcmalloc is not found in LD_PRELOAD")
            print("driver: weights synced")
            time.sleep(0.02)  # a phase shorter than 5 ms is left out of the step line
        progress.advance({"reward/mean": 0.5})
        progress.close()
    shown = strip_ansi(terminal.getvalue())
    assert "driver: weights synced" in shown and "libtcmalloc" not in shown and "generate" in shown
    log = (tmp_path / "logs" / "run.log").read_text().splitlines()
    assert log[0].endswith("libtcmalloc is not found in LD_PRELOAD") and log[1] == "driver: weights synced"
    assert log[2].startswith("step 1/1 | generate") and log[2].endswith("reward=0.5")
    assert output.hidden == 1
