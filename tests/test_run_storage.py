"""Run directories that last: fsspec URIs mirrored from a local staging copy, and relative output dirs of Ray jobs
(whose working dir Ray deletes) moved under the user's home."""

from __future__ import annotations

import logging
from pathlib import Path

import fsspec
import pytest

import rlcore.run_storage as run_storage
from rlcore.config import ConfigError, load_config
from rlcore.preflight import check_filesystem
from rlcore.run_storage import JOB_HOME, RunStorage, is_uri, resolve_output_dir


def test_uris_are_told_from_paths():
    assert is_uri("s3://bucket/runs") and is_uri("file:///tmp/runs") and is_uri("memory://b/r")
    assert not any(is_uri(p) for p in ("runs", "/shared/runs", "~/runs", "C:/runs", "1a://b"))


def test_a_relative_output_dir_of_a_ray_job_lands_under_home_and_says_so(caplog):
    job_dir = Path("/tmp/ray/session_1/runtime_resources/working_dir_files/_ray_pkg_0123abcd")
    with caplog.at_level(logging.WARNING, logger="rlcore.run_storage"):
        assert resolve_output_dir("runs", cwd=job_dir) == str(JOB_HOME / "runs")
    assert "Ray deletes with the job" in caplog.text and str(JOB_HOME / "runs") in caplog.text
    assert resolve_output_dir("/shared/runs", cwd=job_dir) == "/shared/runs"
    assert resolve_output_dir("runs", cwd=Path("/home/me/project")) == "runs"  # not a job: as given
    assert resolve_output_dir("~/runs") == str(Path.home() / "runs")
    assert resolve_output_dir("s3://bucket/runs/") == "s3://bucket/runs"


def test_a_uri_output_dir_runs_in_a_staging_copy_that_nests_like_the_uri(tmp_path, monkeypatch):
    monkeypatch.setattr(run_storage, "STAGING_ROOT", tmp_path / "staging")
    config = load_config({"run": {"output_dir": "s3://bucket/runs", "name": "grpo"}})
    assert config.run_dir == tmp_path / "staging" / "s3" / "bucket" / "runs" / "grpo"
    assert config.run_location == "s3://bucket/runs/grpo"
    seed_run = load_config({"run": {"output_dir": config.run_location, "name": "seed_1"}})
    assert seed_run.run_dir == config.run_dir / "seed_1"  # a multi-seed run's aggregate finds its seeds here
    local = load_config({"run": {"output_dir": str(tmp_path), "name": "grpo"}})
    assert local.run_location == str(local.run_dir) == str(tmp_path / "grpo")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_push_mirrors_new_changed_and_removed_files_and_pull_brings_them_back(tmp_path):
    local, uri = tmp_path / "run", f"file://{tmp_path}/remote/run"
    write(local / "metrics.jsonl", '{"step": 1}\n')
    write(local / "checkpoints" / "step_1" / "model.safetensors", "weights 1")
    storage = RunStorage(uri, local)
    assert storage.push() == 2
    assert storage.push() == 0  # nothing changed
    write(local / "metrics.jsonl", '{"step": 1}\n{"step": 2}\n')
    write(local / "checkpoints" / "step_2" / "model.safetensors", "weights 2")
    (local / "checkpoints" / "step_1" / "model.safetensors").unlink()  # pruned by keep_last
    assert storage.push() == 2
    remote = tmp_path / "remote" / "run"
    assert sorted(p.relative_to(remote).as_posix() for p in remote.rglob("*") if p.is_file()) == [
        "checkpoints/step_2/model.safetensors",
        "metrics.jsonl",
    ]
    assert (remote / "metrics.jsonl").read_text().count("step") == 2
    assert not (remote / "checkpoints" / "step_1").exists()  # no empty folder left behind

    elsewhere = RunStorage(uri, tmp_path / "other_machine")
    assert elsewhere.pull() == 2
    assert (tmp_path / "other_machine" / "checkpoints" / "step_2" / "model.safetensors").read_text() == "weights 2"
    assert elsewhere.push() == 0  # what it pulled is what the remote holds


def test_a_fresh_run_sets_a_previous_remote_run_aside_and_a_failed_push_loses_nothing(tmp_path, caplog):
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/runs/a/metrics.jsonl", b'{"step": 1}\n')
    storage = RunStorage("memory://bucket/runs/a", tmp_path / "a")
    kept = storage.set_aside()
    assert kept is not None and kept.startswith("memory://bucket/runs/a.replaced-")
    assert not storage.exists() and fs.cat(kept.removeprefix("memory:/") + "/metrics.jsonl") == b'{"step": 1}\n'
    assert storage.set_aside() is None

    write(tmp_path / "a" / "summary.json", "{}")

    def unreachable(*args, **kwargs):
        raise ConnectionError("the object store is unreachable")

    storage.fs.put_file = unreachable
    with caplog.at_level(logging.WARNING, logger="rlcore.run_storage"):
        assert storage.push() == 0
    assert "the object store is unreachable" in caplog.text and (tmp_path / "a" / "summary.json").exists()


def test_an_output_dir_on_a_filesystem_that_is_not_installed_is_a_config_error():
    with pytest.raises(ConfigError, match=r"run\.output_dir: nosuchfs://bucket/runs: no fsspec filesystem handles"):
        check_filesystem("nosuchfs://bucket/runs")
