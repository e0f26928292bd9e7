"""GRPO end to end on a real Ray cluster with vLLM rollout, a DeepSpeed learner and the math reward."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from algorithms import build_algorithm
from rlcore.checkpoint import CheckpointManager
from rlcore.config import RunConfig, save_config
from rlcore.metrics import read_metrics
from tests.conftest import ROOT, tiny_run_config

pytestmark = pytest.mark.integration


def test_one_grpo_step_changes_every_parameter(ray_cluster, tiny_model_path, tmp_path):
    config = tiny_run_config(tmp_path, tiny_model_path, "algorithm.prompts_per_step=16", "learner.lr=1e-3")
    build_algorithm(config).run()
    before = load_file(f"{tiny_model_path}/model.safetensors")
    after = load_file(str(tmp_path / "run" / "checkpoints" / "step_1" / "model.safetensors"))
    unchanged = [name for name, tensor in before.items() if name in after and torch.equal(tensor, after[name])]
    assert set(after) >= set(before) - {"lm_head.weight"}
    assert unchanged == []
    row = read_metrics(tmp_path / "run" / "metrics.jsonl")[-1]
    assert row["step"] == 1 and 0 < row["reward/mean"] < 1 and row["train/grad_norm"] > 0


def test_driver_killed_at_a_random_step_resumes_the_same_run(ray_cluster, tiny_model_path, tmp_path, caplog):
    """`rlcore train` (a subprocess driver on this session's cluster) of three steps, each checkpointed, is killed
    with SIGKILL at a random point after step 1 or 2; when two checkpoints survive, the newest loses the end of its
    model file (a kill mid-write of an older rlcore). The same run resumed skips it, says why, trains the remaining
    steps and ends with the weights of an uninterrupted run without evaluations (CPU fp32), to float32 rounding."""
    overrides = ["checkpoint.every_steps=1", "eval.every_steps=2", "eval.at_start=true", "logging.tensorboard=true"]
    config = tiny_run_config(tmp_path / "killed", tiny_model_path, "algorithm.steps=3", *overrides)
    run_dir = config.run_dir
    uninterrupted = tiny_run_config(tmp_path / "whole", tiny_model_path, "algorithm.steps=3")
    killed_after = random.choice([1, 2])
    with driver_killed_after(config, killed_after, tmp_path / "driver.log"):
        build_algorithm(uninterrupted).run()  # beside the driver, to be killed
    survivors = CheckpointManager(run_dir, keep_last=2).complete()
    truncated = survivors[-1][1] if len(survivors) >= 2 else None
    if truncated:
        model_file = truncated / "model.safetensors"
        model_file.write_bytes(model_file.read_bytes()[:-1000])

    resumed = tiny_run_config(tmp_path / "killed", tiny_model_path, "algorithm.steps=3", "run.resume=true", *overrides)
    with caplog.at_level("INFO", logger="rlcore.checkpoint"):
        summary = build_algorithm(resumed).run()
    if truncated:
        assert f"skipping checkpoint {truncated}: model.safetensors has" in caplog.text
    assert "resumed from" in caplog.text
    final, expected = (
        load_file(str(d / "checkpoints" / "step_3" / "model.safetensors")) for d in (run_dir, uninterrupted.run_dir)
    )
    assert set(final) == set(expected)
    worst = max((final[name] - expected[name]).abs().max().item() for name in expected)
    # Bit for bit in nearly every run; one CI run in many ended 1 ulp (1.2e-7) apart, from a CPU kernel's summation
    # order. A resume that restored anything wrongly (optimizer, scheduler, data, sampling) is >= 1e-5 apart.
    assert worst <= 5e-7, f"killed after step {killed_after}, resumed: max abs diff {worst} from the uninterrupted run"

    rows = read_metrics(run_dir / "metrics.jsonl")
    assert [row["step"] for row in rows] == [0, 1, 2, 3]  # the killed run's rows after its checkpoint gave way
    assert [trained(row) for row in rows[1:]] == [
        trained(row) for row in read_metrics(uninterrupted.run_dir / "metrics.jsonl")
    ]
    assert all("time" in row for row in rows)
    assert "eval/accuracy/en" in rows[0] and "eval/accuracy/fr" in rows[-1]
    assert [row["rollout/policy_version"] for row in rows[1:]] == [0, 1, 2]  # each step samples the previous policy
    assert CheckpointManager.trainer_state(run_dir / "checkpoints" / "step_3")["sampler"]["index"] == 24
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step_2", "step_3"]  # keep_last=2
    assert (run_dir / "config.yaml").exists() and any((run_dir / "tensorboard").iterdir())
    assert {p.name for p in (run_dir / "plots").glob("*.png")} >= {"reward.png", "accuracy.png"}
    assert json.loads((run_dir / "summary.json").read_text())["final"] == summary["final"]
    first = rows[0]  # per-language n and 95% Wilson bounds beside each accuracy
    assert first["eval/n/en"] > 0 and first["eval/accuracy_low/en"] <= first["eval/accuracy/en"]
    assert first["eval/accuracy/en"] <= first["eval/accuracy_high/en"]
    # The resumed run restores its step-0 evaluation (eval/initial.json) and pairs it with the final one.
    assert summary["initial"]["eval/accuracy/en"] == first["eval/accuracy/en"]
    saved = json.loads((run_dir / "eval" / "initial.json").read_text())
    assert len(saved["graded"]["en"]) == first["eval/n/en"]
    assert (run_dir / "eval" / "final.json").exists()
    change = summary["changes"]["en"]
    assert change["method"] == "newcombe-paired" and change["low"] <= change["estimate"] <= change["high"]
    assert change["estimate"] == pytest.approx(rows[-1]["eval/accuracy/en"] - first["eval/accuracy/en"])


def trained(row: dict) -> dict:
    """A metrics row without its clock readings and evaluations (what the training step itself measured)."""
    return {k: v for k, v in row.items() if not (k.startswith(("time", "eval/")) or k.endswith("seconds"))}


@contextmanager
def driver_killed_after(config: RunConfig, step: int, log_path: Path) -> Iterator[None]:
    """Run `rlcore train` on this session's Ray cluster while the block runs, and SIGKILL it at a random moment (up
    to 1 s) after the metrics line of `step` appears, while it is still running; on leaving, wait for the kill and
    for Ray to end the killed driver's actors."""
    import ray

    config_file = log_path.with_suffix(".yaml")
    save_config(config, config_file)
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address, "PYTHONPATH": str(ROOT)}
    with log_path.open("w") as log, ThreadPoolExecutor(1) as watcher:
        command = [sys.executable, "-m", "rlcore.cli", "train", str(config_file)]
        driver = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        try:
            killed = watcher.submit(kill_after, driver, config.run_dir / "metrics.jsonl", step, log_path)
            yield
            killed.result()
        finally:
            driver.kill()
            driver.wait()
    # Ray ends the actors of a job whose driver died; none of them may linger beside the resumed run.
    jobs = {job["JobID"] for job in ray._private.state.jobs() if job["DriverPid"] == driver.pid}
    assert jobs, "the driver never joined this session's cluster"
    deadline = time.monotonic() + 60
    while alive := [a for a in ray._private.state.actors().values() if a["JobID"] in jobs and a["State"] != "DEAD"]:
        assert time.monotonic() < deadline, f"the killed driver's actors still run: {alive}"
        time.sleep(0.5)


def kill_after(driver: subprocess.Popen, metrics: Path, step: int, log_path: Path) -> None:
    deadline = time.monotonic() + 900
    while not (metrics.exists() and any(row["step"] >= step for row in read_metrics(metrics))):
        assert driver.poll() is None, f"the driver ended before step {step}: {log_path.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no step {step} within 900 s"
        time.sleep(0.2)
    time.sleep(random.uniform(0, 1))
    assert driver.poll() is None, f"the driver finished before it was killed (after step {step})"
    driver.send_signal(signal.SIGKILL)
