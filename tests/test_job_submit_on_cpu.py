"""`ray job submit` of a short training run to the head `rlcore cluster start` starts: loopback only, token required."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import ROOT
from tests.sockets import SocketWatch

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The head's gcs_server, raylet and autoscaler monitor ignore SIGTERM (still up 30 s after it), while its Python
# processes end within 2 s: a longer grace period is only waited out.
STOP_GRACE_S = 5


def stop_cluster(marker: str) -> None:
    """Stop only the processes of this test's cluster (`ray stop` would also stop the session's cluster)."""
    processes = cluster_processes(marker)
    for process in processes:
        process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=STOP_GRACE_S)
    for process in alive:
        process.kill()


def cluster_processes(marker: str) -> list[psutil.Process]:
    """The head's processes (their command lines name its temp dir); workers, the job and its actors descend."""
    return [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]


def submit_without_token(dashboard_port: int, token: str | None) -> int:
    """The HTTP status of a job submission with no (or a wrong) bearer token: the job API must refuse it."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{dashboard_port}/api/jobs/",
        data=json.dumps({"entrypoint": "echo unauthenticated"}).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_ray_job_submit_to_the_documented_head(tiny_model_path, tmp_path):
    """`rlcore cluster start` (the README's recipe): the documented `ray job submit` and a training job through
    `rlcore submit` run, nothing listens beyond loopback while they run, and a submission without the token is
    refused."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    gcs_port, dashboard_port = free_port(), free_port()
    temp_dir = tempfile.mkdtemp(prefix="rj", dir="/tmp")  # short: Ray's socket paths have a length limit
    start = [
        sys.executable,
        "-m",
        "rlcore.cli",
        "cluster",
        "start",
        "--num-cpus",
        "8",
        "--port",
        str(gcs_port),
        "--dashboard-port",
        str(dashboard_port),
        "--",
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
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120, cwd=ROOT)
    try:
        with SocketWatch(lambda: cluster_processes(temp_dir)) as watch:
            address = f"http://127.0.0.1:{dashboard_port}"
            token_env = {**env, "RAY_AUTH_MODE": "token"}
            # The documented command (its entrypoint kept short), then the training job through `rlcore submit`,
            # which uploads the working dir (the project) and reports where the run went.
            documented = [str(bin_dir / "ray"), "job", "submit", "--address", address, "--"]
            documented += [sys.executable, "-m", "rlcore.cli", "--version"]
            for _ in range(12):  # right after `ray start` the job agent may not be up yet ("No available agent")
                result = subprocess.run(documented, env=token_env, capture_output=True, text=True, timeout=300)
                if "No available agent" not in result.stdout + result.stderr:
                    break
                time.sleep(5)
            train = [sys.executable, "-m", "rlcore.cli", "submit", "--address", address, "configs/demo_grpo.yaml"]
            train += [
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
            done = subprocess.run(train, env=token_env, capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert result.returncode == 0 and "succeeded" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"SUCCEEDED; run directory: {tmp_path / 'job'}" in done.stdout
        assert (tmp_path / "job" / "checkpoints" / "step_2" / "model.safetensors").exists()
        assert submit_without_token(dashboard_port, None) == 401
        assert submit_without_token(dashboard_port, "not-the-token") in (401, 403)
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
    print("listening sockets:", *sorted(watch.seen), sep="\n  ")
    assert watch.exposed() == [], f"listening beyond loopback: {watch.exposed()}"
    for role in ("gcs_server", "raylet", "dashboard", "LearnerWorker", "RolloutWorker"):  # the watch saw them all
        assert any(role in listener.process for listener in watch.seen), (role, sorted(watch.seen))
    run_dir = tmp_path / "job"
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and (run_dir / "config.yaml").exists()
    assert (run_dir / "checkpoints" / "step_2" / "model.safetensors").exists()
