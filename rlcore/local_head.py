"""`rlcore cluster start`: a Ray head for `ray job submit` that listens on 127.0.0.1 only and refuses any request
without Ray's token (created, readable by its owner only, when the machine has none)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rlcore.cluster import PROJECT_ROOT
from rlcore.ray_setup import LOOPBACK, tool_path, torch_extensions_dir


class HeadError(RuntimeError):
    """The head could not be started; the message says which step failed."""


def ray_executable() -> str:
    """The `ray` command of this environment (beside this Python), else the one on PATH."""
    beside = Path(sys.executable).with_name("ray")
    found = str(beside) if beside.exists() else shutil.which("ray")
    if not found:
        raise HeadError("cannot find the `ray` command (install rlcore's environment: make install)")
    return found


def head_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """What every process of the head, and so every job submitted to it, runs with: token authentication, a loopback
    node address that Ray keeps (see ray_setup.loopback_node), rlcore importable and the one DeepSpeed ops cache
    (built by this environment's ninja)."""
    env = dict(os.environ if base is None else base)
    env.update(RAY_AUTH_MODE="token", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    env["TORCH_EXTENSIONS_DIR"] = env.get("TORCH_EXTENSIONS_DIR") or torch_extensions_dir()
    env["PATH"] = tool_path(env.get("PATH", ""))
    paths = [str(PROJECT_ROOT), *[part for part in env.get("PYTHONPATH", "").split(os.pathsep) if part]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.pop("RAY_ADDRESS", None)
    return env


def ensure_token(env: dict[str, str]) -> None:
    """Make sure Ray finds a token ($RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token): Ray's own
    `ray get-auth-token --generate` creates ~/.ray/auth_token if there is none; here it is created mode 0600."""
    result = subprocess.run(
        [ray_executable(), "get-auth-token", "--generate"],
        env=env,
        stdout=subprocess.DEVNULL,  # the token itself: never printed
        stderr=subprocess.PIPE,
        text=True,
        umask=0o077,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise HeadError(f"cannot create or read Ray's authentication token: {last}")
    default = Path(env.get("HOME", str(Path.home()))) / ".ray" / "auth_token"
    if "RAY_AUTH_TOKEN" not in env and "RAY_AUTH_TOKEN_PATH" not in env and default.stat().st_mode & 0o077:
        print(f"warning: {default} is readable by other users of this machine; `chmod 600` it", file=sys.stderr)


def head_command(num_cpus: int, port: int, dashboard_port: int, extra: Sequence[str] = ()) -> list[str]:
    """`ray start --head` on loopback: GCS, raylet, workers, agents and the dashboard (the job API) all on
    127.0.0.1; `extra` is passed on to `ray start` as given."""
    return [
        ray_executable(),
        "start",
        "--head",
        "--node-ip-address",
        LOOPBACK,
        "--port",
        str(port),
        "--dashboard-host",
        LOOPBACK,
        "--dashboard-port",
        str(dashboard_port),
        "--num-cpus",
        str(num_cpus),
        "--disable-usage-stats",
        *extra,
    ]


def start_head(num_cpus: int, port: int, dashboard_port: int, extra: Sequence[str] = ()) -> int:
    """Start the head (the token first) and say how to submit to it; `ray start`'s exit code."""
    env = head_environment()
    ensure_token(env)
    started = subprocess.run(head_command(num_cpus, port, dashboard_port, extra), env=env, check=False)
    if started.returncode == 0:
        print(
            f"\nRay head on {LOOPBACK} only, token required. Submit with the same token:\n"
            f"  RAY_AUTH_MODE=token ray job submit --address http://{LOOPBACK}:{dashboard_port} -- "
            f"rlcore train configs/demo_grpo.yaml\n"
            f"Stop it with `ray stop` (which stops every Ray cluster of this user on this machine)."
        )
    return started.returncode
