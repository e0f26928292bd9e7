"""How rlcore starts and joins Ray: nodes that stay on loopback, a bounded wait for the head, and the one cache of
DeepSpeed's JIT-built ops that every process of a run (and every job) uses."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import sys
from collections.abc import Iterator

LOOPBACK = "127.0.0.1"


def is_loopback_address(address: str) -> bool:
    """Whether a Ray address (host:port, ray://host:port, http://host:port) names this machine's loopback."""
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def loopback_node(loopback: bool) -> Iterator[None]:
    """Keep a loopback node on loopback. Ray 2.60 swaps 127.0.0.1 (as a node address or in a bootstrap address) for
    the machine's interface address (ray/_private/services.py: resolve_ip_for_localhost -> get_node_ip_address)
    unless ray_constants.ENABLE_RAY_CLUSTER is false, a constant read from RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER when ray
    is first imported, which is too late to set here. Ray's servers listen on every interface unless their node
    address is exactly 127.0.0.1 (GcsServer, NodeManager and CoreWorker pass `node_ip_address == "127.0.0.1"` as
    listen_to_localhost_only to their GrpcServer; the dashboard and runtime-env agents bind the node address)."""
    if not loopback:
        yield
        return
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        with environment({ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR: "0"}):  # for the processes ray.init starts
            yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved


@contextlib.contextmanager
def gcs_connect_budget(timeout_s: float) -> Iterator[None]:
    """Bound ray.init's wait for a GCS that accepts TCP but does not answer (not Ray, or hung) by `timeout_s`.

    Each of Ray's attempts waits for the channel (RAY_gcs_rpc_server_connect_timeout_s), then for the pubsub
    channel (the same), then for the cluster id (RAY_py_gcs_connect_timeout_s), and ray.init makes
    RAY_gcs_server_port_wait_time_s attempts (ray/_private/node.py, _init_gcs_client): one attempt, its three
    waits summing to the budget. RayConfig reads these when it is initialised, so it is re-read here."""
    from ray._raylet import Config  # type: ignore[attr-defined]  # compiled; its stub omits Config

    channel_s = max(1, int(timeout_s // 6))
    budget = {
        "RAY_gcs_server_port_wait_time_s": "1",
        "RAY_gcs_rpc_server_connect_timeout_s": str(channel_s),
        "RAY_py_gcs_connect_timeout_s": str(max(1, int(timeout_s) - 2 * channel_s)),
    }
    with environment(budget):
        Config.initialize("")
        yield


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Environment variables set for the length of the block (ones the user set are left alone)."""
    added = {key: value for key, value in values.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def torch_extensions_dir() -> str:
    """Where DeepSpeed's JIT-built ops live: $TORCH_EXTENSIONS_DIR, else beside the environment that built them
    (`make install` builds them into .venv/torch_extensions), so a job whose environment names no cache reuses the
    same build, and two environments (two clones) never rebuild over each other's."""
    configured = os.environ.get("TORCH_EXTENSIONS_DIR")
    if configured:
        return configured
    if sys.prefix != sys.base_prefix:  # a virtual environment: its own directory
        return os.path.join(sys.prefix, "torch_extensions")
    return os.path.join(os.path.expanduser("~"), ".cache", "torch_extensions")


def interface_of(address: str) -> str | None:
    """The network interface holding `address` ('lo' for 127.0.0.1 on Linux), or None if no interface holds it."""
    import psutil

    for name, addresses in psutil.net_if_addrs().items():
        if any(entry.address.split("%")[0] == address for entry in addresses):
            return name
    return None


def tool_path(path: str | None = None) -> str:
    """$PATH with this environment's bin directory first: torch builds DeepSpeed's ops with the first `ninja` on the
    PATH, and the environment's ninja (1.13, log format v7) and a system one (1.11, v5) each discard the other's build
    log, so processes that found different ninjas rebuilt the shared ops over each other for minutes."""
    bin_dir = os.path.dirname(sys.executable)
    rest = (os.environ.get("PATH", "") if path is None else path).split(os.pathsep)
    return os.pathsep.join([bin_dir, *[part for part in rest if part and part != bin_dir]])
