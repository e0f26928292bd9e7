"""`ray job submit` of a short training run to a cluster started with `ray start --head` on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_cluster(marker: str) -> None:
    """Stop only the processes of this test's cluster (`ray stop` would also stop the session's cluster)."""
    import psutil

    processes = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    for process in processes:
        process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=30)
    for process in alive:
        process.kill()


def test_ray_job_submit_writes_the_run_directory(tiny_model_path, tmp_path):
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "PYTHONPATH": str(ROOT),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("RAY_ADDRESS", None)
    gcs_port, dashboard_port = free_port(), free_port()
    temp_dir = tempfile.mkdtemp(prefix="rj", dir="/tmp")  # short: Ray's socket paths have a length limit
    start = [
        str(bin_dir / "ray"),
        "start",
        "--head",
        "--node-ip-address",
        "127.0.0.1",
        "--port",
        str(gcs_port),
        "--num-cpus",
        "8",
        "--dashboard-host",
        "127.0.0.1",
        "--dashboard-port",
        str(dashboard_port),
        "--disable-usage-stats",
        "--temp-dir",
        temp_dir,
    ]
    # The session's own cluster may hold the agents' default ports: give this one free ports of its own.
    for flag in (
        "--dashboard-agent-listen-port",
        "--dashboard-agent-grpc-port",
        "--metrics-export-port",
        "--runtime-env-agent-port",
        "--ray-client-server-port",
        "--node-manager-port",
        "--object-manager-port",
    ):
        start += [flag, str(free_port())]
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    try:
        submit = [
            str(bin_dir / "ray"),
            "job",
            "submit",
            "--address",
            f"http://127.0.0.1:{dashboard_port}",
            "--",
            sys.executable,
            "-m",
            "rlcore.cli",
            "train",
            str(ROOT / "configs" / "demo_grpo.yaml"),
            f"model.path={tiny_model_path}",
            f"run.output_dir={tmp_path}",
            "run.name=job",
            "algorithm.steps=2",
            "algorithm.prompts_per_step=4",
            "algorithm.group_size=4",
            "data.eval_questions_per_language=4",
            "eval.every_steps=2",
            "checkpoint.every_steps=0",
        ]
        for _ in range(12):  # right after `ray start` the job agent may not be up yet ("No available agent")
            result = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
            if "No available agent" not in result.stdout + result.stderr:
                break
            time.sleep(5)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "succeeded" in result.stdout
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
    run_dir = tmp_path / "job"
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and (run_dir / "config.yaml").exists()
    assert (run_dir / "checkpoints" / "step_2" / "model.safetensors").exists()
