"""A simulated multi-node Ray cluster on this machine: a loopback, token-authenticated head (the command and
environment of `rlcore cluster start`) and worker nodes that join it on loopback too, each node its own
`ray start --block` process that `stop` ends (never `ray stop`, which would also stop the session's cluster)."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from rlcore.local_head import ensure_token, head_command, head_environment
from rlcore.ray_setup import LOOPBACK

# `ray start --address` refuses to start a worker node where RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, the setting that
# keeps a node on 127.0.0.1 (rlcore.ray_setup.loopback_node); with clusters enabled it swaps 127.0.0.1 for the
# machine's interface address, where the loopback head does not listen. So this node's `ray start` runs with the
# check passed and 127.0.0.1 kept as it is, and its processes (raylet, agents, workers) with the loopback setting.
JOIN_ON_LOOPBACK = """
import sys
import ray._private.ray_constants as constants
import ray._private.services as services
constants.ENABLE_RAY_CLUSTER = True
services.resolve_ip_for_localhost = lambda host: host
from ray.scripts.scripts import main
sys.argv[0] = "ray"
main()
"""
NODE_PORT_FLAGS = (
    "--node-manager-port",
    "--object-manager-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--metrics-export-port",
    "--runtime-env-agent-port",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def node_ports() -> list[str]:
    """Free ports of their own for one node's servers (the session's cluster may hold the defaults)."""
    return [part for flag in NODE_PORT_FLAGS for part in (flag, str(free_port()))]


def node_options(num_gpus: int, resources: dict[str, float], labels: dict[str, str]) -> list[str]:
    options = ["--num-gpus", str(num_gpus)] if num_gpus else []
    if resources:
        options += ["--resources", json.dumps(resources)]
    if labels:
        options += ["--labels", ",".join(f"{key}={value}" for key, value in labels.items())]
    return options


NODE_NAME = "rlcore/node"  # the label by which LocalCluster.node names each worker node


def join(address: str, nodes: int, timeout_s: float = 60.0) -> None:
    """Join the cluster at `address` from this process (on loopback, as every rlcore driver) and wait until `nodes`
    nodes are alive."""
    import ray

    from rlcore.cluster import init_ray
    from rlcore.config import ClusterSection

    init_ray(ClusterSection(address=address))
    deadline = time.monotonic() + timeout_s
    while sum(node["Alive"] for node in ray.nodes()) < nodes and time.monotonic() < deadline:
        time.sleep(0.2)


def node_names() -> dict[str, str]:
    """Node id -> the node's name: the one given to LocalCluster.node, or `head`."""
    import ray

    return {node["NodeID"]: (node.get("Labels") or {}).get(NODE_NAME, "head") for node in ray.nodes()}


class LocalCluster:
    """Start with `head()`, then `node(...)` per worker node; `address` is the head's GCS address."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rn", dir="/tmp"))  # short: Ray's socket paths have a length limit
        self.env = head_environment()
        self.port = free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        self.dashboard_port = free_port()  # the job API: http://127.0.0.1:{dashboard_port}
        self.processes: dict[str, subprocess.Popen] = {}

    def head(self, num_cpus: int, labels: dict[str, str] | None = None) -> None:
        ensure_token(self.env)
        extra = ["--temp-dir", str(self.root / "head"), "--block", "--ray-client-server-port", str(free_port())]
        command = head_command(num_cpus, self.port, self.dashboard_port, [*extra, *node_ports()])
        self._start("head", command + node_options(0, {}, labels or {}))
        self._wait_for_gcs(60.0)

    def node(
        self,
        name: str,
        num_cpus: int,
        num_gpus: int = 0,
        resources: dict[str, float] | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        """A worker node; `num_gpus` are declared only (Ray schedules them, nothing uses a device)."""
        command = [sys.executable, "-c", JOIN_ON_LOOPBACK, "start", "--address", self.address]
        command += ["--node-ip-address", LOOPBACK, "--temp-dir", str(self.root / name), "--block"]
        command += ["--num-cpus", str(num_cpus), "--disable-usage-stats", *node_ports()]
        command += node_options(num_gpus, resources or {}, {**(labels or {}), NODE_NAME: name})
        self._start(name, command)

    def _start(self, name: str, command: list[str]) -> None:
        log = (self.root / f"{name}.log").open("w")
        self.processes[name] = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def _wait_for_gcs(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in self.processes.values()):
                raise RuntimeError(f"a node of {self.root} exited: {self.logs()}")
            try:
                socket.create_connection((LOOPBACK, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"the head at {self.address} did not listen within {timeout_s:g}s: {self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text()[-2000:]}" for path in sorted(self.root.glob("*.log")))

    def stop_node(self, name: str) -> None:
        """Stop one node as `ray stop` on its machine does: SIGTERM to each of its processes (raylet, agents,
        workers, its `ray start`), SIGKILL to those left after a grace period."""
        marker = str(self.root / name)
        node = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
        for process in node:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.terminate()
        _, alive = psutil.wait_procs(node, timeout=15)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        self.processes[name].wait(timeout=30)

    def stop(self) -> None:
        """End each node's `ray start --block` (it stops its node's processes), then anything left of this cluster."""
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        marker = str(self.root)
        left = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
        for process in left:
            process.kill()
        shutil.rmtree(self.root, ignore_errors=True)
