"""`rlcore cluster start`'s command, environment and token; loopback addresses; a bounded join; the DeepSpeed ops
directory."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

import pytest

from rlcore import cli, local_head
from rlcore.ray_setup import interface_of, is_loopback_address, torch_extensions_dir
from tests.conftest import ROOT
from tests.sockets import is_loopback


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:6379", True),
        ("ray://127.0.0.1:10001", True),
        ("http://localhost:8265", True),
        ("[::1]:6379", True),
        ("10.0.0.5:6379", False),
        ("head.example:6379", False),
        ("auto", False),
    ],
)
def test_loopback_addresses(address, loopback):
    assert is_loopback_address(address) is loopback


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True), ("0.0.0.0", False), ("::", False)],
)
def test_socket_addresses(address, loopback):
    assert is_loopback(address) is loopback


def test_the_head_listens_on_loopback_and_passes_options_on():
    command = local_head.head_command(4, 7000, 7001, ["--temp-dir", "/tmp/r"])
    assert command[1:3] == ["start", "--head"]
    for flag, value in [("--node-ip-address", "127.0.0.1"), ("--dashboard-host", "127.0.0.1"), ("--port", "7000")]:
        assert command[command.index(flag) + 1] == value
    assert command[-2:] == ["--temp-dir", "/tmp/r"]


def test_the_head_environment_requires_the_token_whatever_the_shell_says():
    env = local_head.head_environment({"RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": "10.0.0.5:6379", "PATH": "/bin"})
    assert env["RAY_AUTH_MODE"] == "token"
    assert env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"  # else Ray swaps 127.0.0.1 for the interface address
    assert "RAY_ADDRESS" not in env and env["TORCH_EXTENSIONS_DIR"]
    assert str(local_head.PROJECT_ROOT) in env["PYTHONPATH"].split(":")
    assert env["PATH"].split(":") == [os.path.dirname(sys.executable), "/bin"]  # this environment's ninja first


def test_a_machine_without_a_token_gets_one_only_its_owner_reads(tmp_path):
    env = local_head.head_environment({"HOME": str(tmp_path), "PATH": "/bin"})
    local_head.ensure_token(env)
    token_file = tmp_path / ".ray" / "auth_token"
    assert len(token_file.read_text()) >= 32 and stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_cluster_start_passes_what_follows_the_double_dash_to_ray_start(monkeypatch):
    calls = []
    monkeypatch.setattr(local_head, "start_head", lambda *args: calls.append(args) or 0)
    assert cli.main(["cluster", "start", "--port", "7000", "--", "--temp-dir", "/tmp/r", "--block"]) == 0
    assert calls == [(8, 7000, 8265, ["--temp-dir", "/tmp/r", "--block"])]


def test_deepspeed_ops_live_beside_the_environment_unless_configured(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    assert torch_extensions_dir() == str(tmp_path)
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR")
    monkeypatch.setattr(sys, "prefix", "/opt/env")
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    assert torch_extensions_dir() == "/opt/env/torch_extensions"


def test_the_interface_of_loopback_is_found_and_a_foreign_address_has_none():
    assert interface_of("127.0.0.1") is not None
    assert interface_of("203.0.113.7") is None  # TEST-NET-3: no machine's own address


def test_an_address_that_accepts_tcp_but_is_not_ray_fails_within_the_connect_timeout():
    """Ray's own wait was ~35 s per retry; rlcore bounds the whole join by cluster.connect_timeout_s."""
    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts connections (the backlog), never answers
        join = (
            "import time\n"
            "from rlcore.cluster import ClusterError, init_ray\n"
            "from rlcore.config import ClusterSection\n"
            "started = time.monotonic()\n"
            "try:\n"
            f"    init_ray(ClusterSection(address='127.0.0.1:{server.getsockname()[1]}', connect_timeout_s=3))\n"
            "except ClusterError as error:\n"
            "    print(error)\n"
            "print(f'joining took {time.monotonic() - started:.1f}s')\n"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("RAY_ADDRESS", None)
        result = subprocess.run([sys.executable, "-c", join], env=env, capture_output=True, text=True, timeout=300)
    assert "cluster.address: cannot join the Ray cluster at 127.0.0.1:" in result.stdout, result.stderr[-2000:]
    joined_s = float(result.stdout.rsplit("joining took ", 1)[1].rstrip("s\n"))
    assert joined_s < 15, joined_s  # 3 s of Ray's waits, with slack for a busy machine (unbounded: ~40 s per try)
