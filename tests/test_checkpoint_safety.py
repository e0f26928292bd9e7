"""Run directories never lose or mix data: checkpoints are written aside and renamed when complete, verified against
their manifest on resume (falling back to the newest valid one), and a fresh run moves a previous run aside."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from algorithms import build_algorithm
from rlcore.checkpoint import MANIFEST, TRAINER_STATE, CheckpointManager, NoValidCheckpoint, problem
from rlcore.modeling import resolve_model_path
from rlcore.run_dir import forget_metrics_after, put_back, set_aside_previous_run
from tests.conftest import ROOT, tiny_run_config

MODEL_FILE = "model.safetensors"


class FilesRuntime:
    """Writes a checkpoint's files like the learners do (a model file and one rank's training state)."""

    def __init__(self) -> None:
        self.policy_version = 0
        self.restored: list[Path] = []

    def save_checkpoint(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / MODEL_FILE).write_bytes(bytes(range(256)) * 40)
        (path / "training_state").mkdir(exist_ok=True)
        (path / "training_state" / "learner_rank0.json").write_text(json.dumps({"world_size": 1}))

    def set_policy_version(self, version: int) -> None:
        self.policy_version = version

    def load_training_state(self, path: Path) -> bool:
        self.restored.append(Path(path))
        return True

    def shutdown(self) -> None:
        pass


class Position:
    def __init__(self) -> None:
        self.index = 0

    def state(self) -> dict[str, int]:
        return {"epoch": 0, "index": self.index}

    def load_state(self, state: dict[str, int]) -> None:
        self.index = state["index"]


def save_steps(manager: CheckpointManager, *steps: int) -> FilesRuntime:
    runtime, sampler = FilesRuntime(), Position()
    for step in steps:
        runtime.policy_version, sampler.index = step, 8 * step
        manager.save(step, runtime, sampler)
    return runtime


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def test_manifest_round_trip(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=2)
    save_steps(manager, 1)
    step_1 = manager.path(1)
    files = json.loads((step_1 / MANIFEST).read_text())["files"]
    assert set(files) == {MODEL_FILE, TRAINER_STATE, "training_state/learner_rank0.json"}
    assert files[MODEL_FILE]["size"] == (step_1 / MODEL_FILE).stat().st_size and len(files[MODEL_FILE]["sha256"]) == 64
    assert problem(step_1) is None and manager.latest() == step_1
    assert [p.name for p in manager.root.iterdir()] == ["step_1"]  # the staging folder was renamed, not copied
    assert CheckpointManager.trainer_state(step_1) == {
        "step": 1,
        "sampler": {"epoch": 0, "index": 8},
        "policy_version": 1,
    }


def test_size_only_manifest_catches_truncation_but_not_same_size_corruption(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=2, verify="size")
    save_steps(manager, 1)
    model = manager.path(1) / MODEL_FILE
    assert "sha256" not in json.loads((manager.path(1) / MANIFEST).read_text())["files"][MODEL_FILE]
    model.write_bytes(bytes(model.stat().st_size))
    assert problem(manager.path(1)) is None
    truncate(model)
    assert "model.safetensors has 100 bytes" in (problem(manager.path(1)) or "")


def test_truncated_newest_checkpoint_falls_back_and_says_why(tmp_path, caplog):
    manager = CheckpointManager(tmp_path, keep_last=3)
    save_steps(manager, 1, 2, 3)
    truncate(manager.path(3) / MODEL_FILE)
    with caplog.at_level(logging.WARNING, logger="rlcore.checkpoint"):
        assert manager.latest() == manager.path(2)
        assert resolve_model_path(str(tmp_path)) == str(manager.path(2))  # evaluation and serving skip it too
    (warning, *_) = [r.getMessage() for r in caplog.records]
    assert warning.startswith(f"skipping checkpoint {manager.path(3)}: model.safetensors has 100 bytes")


def test_corrupted_or_missing_files_are_reported(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=3)
    save_steps(manager, 1, 2)
    model = manager.path(2) / MODEL_FILE
    model.write_bytes(bytes(model.stat().st_size))  # same size, other bytes
    assert "does not match its sha256" in (problem(manager.path(2)) or "")
    (manager.path(1) / "training_state" / "learner_rank0.json").unlink()
    assert problem(manager.path(1)) == "training_state/learner_rank0.json is missing"
    (manager.path(1) / MANIFEST).write_text("{not json")
    assert (problem(manager.path(1)) or "").startswith(f"unreadable {MANIFEST}")


def test_no_valid_checkpoint_is_one_clear_error(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=2)
    save_steps(manager, 1, 2)
    truncate(manager.path(1) / MODEL_FILE)
    (manager.path(2) / TRAINER_STATE).unlink()
    with pytest.raises(NoValidCheckpoint) as error:
        manager.latest()
    assert str(error.value) == (
        f"no valid checkpoint in {manager.root}: step_2: no {TRAINER_STATE} (an incomplete write); "
        f"step_1: model.safetensors has 100 bytes, the manifest says 10240 (truncated or overwritten)"
    )
    with pytest.raises(FileNotFoundError, match="no valid checkpoint"):  # the CLI prints it as one line
        resolve_model_path(str(tmp_path))
    with pytest.raises(NoValidCheckpoint, match=f"checkpoint {manager.path(1)} is damaged: model.safetensors has 100"):
        resolve_model_path(str(manager.path(1)))  # `rlcore eval checkpoint=<run>/checkpoints/step_1`
    assert CheckpointManager(tmp_path / "elsewhere", keep_last=2).latest() is None  # no checkpoints: not an error


KILLED_MID_SAVE = """
import sys, time
from pathlib import Path
from rlcore.checkpoint import CheckpointManager
from tests.test_checkpoint_safety import FilesRuntime, Position

class StopsAfterTheModelFile(FilesRuntime):
    def save_checkpoint(self, path):
        super().save_checkpoint(path)  # the model file is written...
        print("model written", flush=True)
        time.sleep(600)  # ...and the process is killed before the rest

CheckpointManager(Path(sys.argv[1]), keep_last=2).save(2, StopsAfterTheModelFile(), Position())
"""


def test_kill_9_during_a_checkpoint_write_loses_nothing(tmp_path, caplog):
    """A process SIGKILLed while it writes step 2 leaves step 1 the newest checkpoint; the next save clears the
    leftover and says so."""
    manager = CheckpointManager(tmp_path, keep_last=2)
    save_steps(manager, 1)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_SAVE, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "model written"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    (leftover,) = manager.root.glob("step_2.tmp-*")
    assert (leftover / MODEL_FILE).exists()
    assert not manager.path(2).exists() and manager.latest() == manager.path(1)
    with caplog.at_level(logging.WARNING, logger="rlcore.checkpoint"):
        save_steps(manager, 2)
    assert f"removing {leftover}, left by an interrupted checkpoint write" in caplog.text
    assert sorted(p.name for p in manager.root.iterdir()) == ["step_1", "step_2"]


def test_checkpoint_without_manifest_is_used_with_a_warning(tmp_path, caplog):
    manager = CheckpointManager(tmp_path, keep_last=2)
    save_steps(manager, 1)
    (manager.path(1) / MANIFEST).unlink()  # as written before manifests existed
    with caplog.at_level(logging.WARNING, logger="rlcore.checkpoint"):
        assert manager.latest() == manager.path(1)
    assert "has no manifest.json (written by an older rlcore): used unverified" in caplog.text


def test_pruning_keeps_the_newest_up_to_the_saved_step(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=2)
    save_steps(manager, 1, 2, 3)
    truncate(manager.path(3) / MODEL_FILE)
    assert manager.latest() == manager.path(2)
    save_steps(manager, 3)  # the resumed run writes step 3 again: the truncated one is replaced
    assert sorted(p.name for p in manager.root.iterdir()) == ["step_2", "step_3"] and problem(manager.path(3)) is None
    save_steps(manager, 5, 8)
    (manager.path(8) / TRAINER_STATE).unlink()  # skipped on resume, which continues from step 5
    assert manager.latest() == manager.path(5)
    save_steps(manager, 6, 7)  # the invalid step 8 never pushes the resumed run's new checkpoints out
    assert sorted(p.name for p in manager.root.iterdir()) == ["step_6", "step_7", "step_8"]


def test_previous_run_is_moved_aside_whole_and_put_back(tmp_path, caplog):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("not a run")
    assert set_aside_previous_run(run_dir) is None and (run_dir / "notes.txt").exists()  # nothing of a run in it
    (run_dir / "metrics.jsonl").write_text('{"step": 1}\n')
    with caplog.at_level(logging.WARNING, logger="rlcore.run_dir"):
        kept = set_aside_previous_run(run_dir)
    assert kept is not None and kept.name.startswith("run.replaced-") and not run_dir.exists()
    assert (kept / "metrics.jsonl").exists() and f"moved {run_dir} to {kept}" in caplog.text
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("{}")
    again = set_aside_previous_run(run_dir)  # within the same second: a name of its own
    assert again is not None and again != kept and (again / "config.yaml").exists()
    put_back(run_dir, again)
    assert (run_dir / "config.yaml").exists() and not again.exists()


def test_a_fresh_run_never_resumes_prunes_or_appends_across_runs(tmp_path, tiny_model_path, caplog):
    """Algorithm.start on real files (a runtime that writes files instead of starting workers)."""
    config = tiny_run_config(tmp_path, tiny_model_path, "run.resume=false", "checkpoint.keep_last=1")
    first = build_algorithm(config)
    first.start(FilesRuntime())
    first.metrics_log.log(1, {"x": 1.0})
    first.metrics_log.close()
    save_steps(first.checkpoints, 5)
    run_dir = config.run_dir

    second = build_algorithm(config)
    assert second.start(FilesRuntime()) == 0  # not resumed from the old run's step 5
    second.metrics_log.close()
    (old,) = tmp_path.glob("run.replaced-*")
    assert (old / "checkpoints" / "step_5").is_dir() and (old / "metrics.jsonl").read_text().count("\n") == 1
    assert not (run_dir / "metrics.jsonl").exists() or not (run_dir / "metrics.jsonl").read_text()
    save_steps(second.checkpoints, 1)
    (run_dir / "metrics.jsonl").write_text('{"step": 1, "x": 2}\n{"step": 2, "x": 3}\n{"step": 3, "x"')
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["step_1"]  # kept, not pruned by step 5

    resumed = build_algorithm(tiny_run_config(tmp_path, tiny_model_path, "run.resume=true"))
    save_steps(resumed.checkpoints, 2)
    truncate(run_dir / "checkpoints" / "step_2" / MODEL_FILE)
    runtime = FilesRuntime()
    with caplog.at_level(logging.WARNING, logger="rlcore.checkpoint"):
        assert resumed.start(runtime) == 1 and runtime.restored == [run_dir / "checkpoints" / "step_1"]
    resumed.metrics_log.close()
    assert f"skipping checkpoint {run_dir / 'checkpoints' / 'step_2'}: model.safetensors" in caplog.text
    assert (run_dir / "metrics.jsonl").read_text() == '{"step": 1, "x": 2}\n'  # step 2 is trained and logged again


def test_a_failed_fresh_start_puts_the_previous_run_back(tmp_path, tiny_model_path):
    config = tiny_run_config(tmp_path, tiny_model_path, "run.resume=false")
    (config.run_dir / "checkpoints").mkdir(parents=True)
    (config.run_dir / "summary.json").write_text("{}")
    broken = build_algorithm(config)
    broken.load_data = lambda: (_ for _ in ()).throw(ValueError("bad data"))  # type: ignore[method-assign]
    with pytest.raises(ValueError, match="bad data"):
        broken.start(FilesRuntime())
    assert (config.run_dir / "summary.json").exists() and not list(tmp_path.glob("run.replaced-*"))


def test_a_resume_from_scratch_forgets_every_metrics_row(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 0}\n{"step": 1}\n')
    forget_metrics_after(tmp_path, 1)
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 0}\n{"step": 1}\n'
    forget_metrics_after(tmp_path, 0)  # no checkpoint to resume from: the run starts over
    assert (tmp_path / "metrics.jsonl").read_text() == ""
