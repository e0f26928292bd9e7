"""A GRPO run whose run.output_dir is an fsspec URI (file://, the same code path as s3:// or gs://): mirrored after
every checkpoint, then resumed on a "new machine" (no local copy) from the lasting one."""

from __future__ import annotations

import shutil

import pytest

import rlcore.run_storage as run_storage
from algorithms import build_algorithm
from rlcore.metrics import read_metrics
from tests.conftest import tiny_run_config

pytestmark = pytest.mark.integration


def test_a_run_mirrored_to_a_uri_resumes_from_it_without_its_local_copy(
    ray_cluster, tiny_model_path, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(run_storage, "STAGING_ROOT", tmp_path / "staging")
    uri = f"file://{tmp_path}/bucket/runs"
    overrides = [f"run.output_dir={uri}", "checkpoint.every_steps=1", "checkpoint.keep_last=1"]
    first = tiny_run_config(tmp_path, tiny_model_path, "algorithm.steps=1", *overrides)
    assert first.run_dir.is_relative_to(tmp_path / "staging")
    build_algorithm(first).run()
    remote = tmp_path / "bucket" / "runs" / "run"
    assert sorted(p.name for p in (remote / "checkpoints").iterdir()) == ["step_1"]
    assert (remote / "summary.json").exists() and (remote / "config.yaml").exists()
    assert (remote / "checkpoints" / "step_1" / "model.safetensors").stat().st_size > 0

    shutil.rmtree(first.run_dir)  # the machine that ran it is gone
    resumed = tiny_run_config(tmp_path, tiny_model_path, "algorithm.steps=2", "run.resume=true", *overrides)
    with caplog.at_level("INFO", logger="rlcore"):
        build_algorithm(resumed).run()
    assert "pulled" in caplog.text and "resumed from" in caplog.text
    assert sorted(p.name for p in (remote / "checkpoints").iterdir()) == ["step_2"]  # step_1 pruned there too
    assert [row["step"] for row in read_metrics(remote / "metrics.jsonl")] == [1, 2]
