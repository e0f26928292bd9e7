"""`rlcore serve-reward` as a real server process: token, size and schema checks, loopback binding, and the remote
reward client against it (scores, batches, a server that is gone)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests

from rlcore.config import ConfigError, load_config
from rlcore.reward_server import Limits, resolve_token, serve

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "test-token-0123456789abcdef"
SAMPLES = [
    {"prompt": "2+2?", "response_text": "The answer is 4", "answer": "4", "language": "en", "id": "a"},
    {"prompt": "2+3?", "response_text": "The answer is 6", "answer": "5", "language": "en", "id": "b"},
]


def start_server(tmp: Path, *options: str) -> tuple[subprocess.Popen, str, Path]:
    """`rlcore serve-reward` of the demo config (math reward) on a free loopback port; (process, url, log file)."""
    token_file = tmp / "token"
    token_file.write_text(TOKEN + "\n")
    log = tmp / "server.log"  # its output (the address, uvicorn's access log, rejections) goes to a file
    command = [sys.executable, "-m", "rlcore.cli", "serve-reward", str(ROOT / "configs" / "demo_grpo.yaml")]
    command += ["--port", "0", "--token-file", str(token_file), *options]
    with log.open("w") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=os.environ.copy())
    deadline = time.monotonic() + 120
    while not (found := re.search(r"serving reward math on (\S+)", log.read_text())):
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    url = found.group(1)
    for _ in range(200):  # bound before uvicorn starts accepting: wait for /health
        try:
            requests.get(f"{url}/health", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    return server, url, log


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, url, log = start_server(tmp_path_factory.mktemp("server"), "--max-batch", "4", "--max-body-bytes", "4096")
    yield process, url, log
    process.terminate()
    process.wait(timeout=30)


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_scores_an_authenticated_batch(server):
    _, url, _ = server
    response = requests.post(f"{url}/score", json={"samples": SAMPLES}, headers=auth(), timeout=10)
    assert response.status_code == 200, response.text
    assert response.json() == {"scores": [1.0, 0.0]}


def test_health_needs_no_token_and_tells_only_liveness_and_max_batch(server):
    _, url, _ = server
    assert requests.get(f"{url}/health", timeout=10).json() == {"status": "ok", "max_batch": 4}


@pytest.mark.parametrize(
    ("headers", "reason"),
    [({}, "no bearer token"), (auth("wrong-token-0123456789"), "wrong bearer token"), ({"Authorization": TOKEN}, "no")],
)
def test_requests_without_the_token_get_401_and_are_logged(server, headers, reason):
    _, url, log = server
    # Malformed and oversized too: the token is checked before anything else is read.
    for body in ({"samples": SAMPLES}, {"nonsense": 1}):
        response = requests.post(f"{url}/score", json=body, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert requests.get(f"{url}/docs", headers=headers, timeout=10).status_code == 401
    time.sleep(0.2)
    assert "POST /score from 127.0.0.1:" in log.read_text() and f"401 {reason}" in log.read_text()


def test_oversized_bodies_and_batches_get_413(server):
    _, url, log = server
    big = [{**SAMPLES[0], "response_text": "x" * 5000}]
    response = requests.post(f"{url}/score", json={"samples": big}, headers=auth(), timeout=10)
    assert response.status_code == 413
    # Without Content-Length (chunked): the bytes are counted as they arrive.
    chunks = (part.encode() for part in ['{"samples": [{"response_text": "', "y" * 5000, '"}]}'])
    response = requests.post(f"{url}/score", data=chunks, headers=auth(), timeout=10)
    assert response.status_code == 413
    response = requests.post(f"{url}/score", json={"samples": SAMPLES * 3}, headers=auth(), timeout=10)
    assert response.status_code == 413 and "max_batch=4" in response.json()["detail"]
    time.sleep(0.2)
    assert "413 body over 4096 bytes" in log.read_text() and "413 batch of 6 > max_batch 4" in log.read_text()


@pytest.mark.parametrize(
    "body", ['{"samples": "not a list"}', '{"samples": []}', '{"samples": [1, 2]}', "{not json", '{"extra": 1}']
)
def test_malformed_requests_get_422_and_are_logged(server, body):
    _, url, log = server
    headers = {**auth(), "Content-Type": "application/json"}
    response = requests.post(f"{url}/score", data=body, headers=headers, timeout=10)
    assert response.status_code == 422, response.text
    time.sleep(0.2)
    assert "422 " in log.read_text()


def test_a_reward_error_is_a_500_with_its_message(server):
    _, url, _ = server
    response = requests.post(f"{url}/score", json={"samples": [{"prompt": "no response"}]}, headers=auth(), timeout=10)
    assert response.status_code == 500 and "KeyError" in response.json()["detail"]


def test_listens_only_on_127_0_0_1_by_default(server):
    process, url, _ = server
    port = int(url.rsplit(":", 1)[1])
    listening = [c for c in psutil.Process(process.pid).net_connections("inet") if c.status == psutil.CONN_LISTEN]
    assert [(c.laddr.ip, c.laddr.port) for c in listening] == [("127.0.0.1", port)]
    if shutil.which("ss"):  # the same, as `ss` (iproute2) lists every listening TCP socket of the machine
        ss = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
        local = [line.split()[3] for line in ss.splitlines()]
        assert [address for address in local if address.endswith(f":{port}")] == [f"127.0.0.1:{port}"]


def test_refuses_a_non_loopback_address_without_a_token(monkeypatch):
    monkeypatch.delenv("RLCORE_REWARD_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"refusing to serve on 0\.0\.0\.0 without a token"):
        serve(load_config({}), "0.0.0.0", 0, None, Limits())
    monkeypatch.setenv("RLCORE_REWARD_TOKEN", "short")
    with pytest.raises(ConfigError, match="shorter than 16 characters"):
        resolve_token(None, "0.0.0.0")


def test_a_loopback_server_without_a_token_makes_one_only_its_user_can_read(tmp_path, monkeypatch):
    monkeypatch.delenv("RLCORE_REWARD_TOKEN", raising=False)
    monkeypatch.setenv("RLCORE_CACHE", str(tmp_path))
    token = resolve_token(None, "localhost")
    path = tmp_path / "reward_server.token"
    assert path.read_text().strip() == token and len(token) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert resolve_token(None, "127.0.0.1") != token  # a fresh one per start


def remote_reward(url: str, token_file: Path, **options):
    from rewards.remote import RemoteReward

    config = {"name": "remote", "url": url, "token_file": str(token_file), **options}
    return RemoteReward(RemoteReward.Config.model_validate(config))


def test_the_remote_reward_scores_in_server_sized_batches(server, tmp_path):
    from rewards.math_rule import MathReward

    _, url, _ = server
    (tmp_path / "token").write_text(TOKEN)
    samples = [{**sample, "response_ids": np.arange(3)} for sample in SAMPLES * 5]  # numpy values travel as JSON
    local = MathReward(MathReward.Config(name="math")).score(samples)
    assert remote_reward(url, tmp_path / "token", batch_size=64).score(samples) == local  # 10 samples, max_batch 4
    (tmp_path / "token").write_text("wrong-token-0123456789")
    with pytest.raises(RuntimeError, match="HTTP 401"):
        remote_reward(url, tmp_path / "token").score(samples)


def test_a_dead_server_costs_samples_their_scores_not_the_worker(tmp_path):
    from actors.reward import RewardWorker
    from rlcore.batch import Batch

    with socket.create_server(("127.0.0.1", 0)) as gone:  # a port nothing listens on any more
        url = f"http://127.0.0.1:{gone.getsockname()[1]}"
    (tmp_path / "token").write_text(TOKEN)
    config = {"name": "remote", "url": url, "token_file": str(tmp_path / "token"), "failure_score": -1.0}
    worker = RewardWorker(0, 1, reward=config | {"retries": 2, "backoff_s": 0.05})
    started = time.perf_counter()
    scored = worker.score(Batch.from_rows(SAMPLES * 4))
    assert scored["rewards"].tolist() == [-1.0] * 8 and scored["reward_failed"].tolist() == [1.0] * 8
    assert time.perf_counter() - started < 5  # the one-by-one fallback does not wait out the retries each time
