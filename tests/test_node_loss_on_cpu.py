"""A lost node's workers are replaced: on a simulated three-node cluster (a loopback head and two worker nodes that
both offer the rollout role's custom resource), the node holding a restartable group's workers is stopped as `ray
stop` on it would; Ray moves the placement group's bundles to the other node and restarts the actors there, and the
group brings each one up to date before it redoes its call.

The driver runs in its own process (`python -m tests.test_node_loss_on_cpu ADDRESS`), as this test session's
process may already be connected to another cluster. It prints where the workers run and waits; the test stops that
node (LocalCluster.stop_node, as `ray stop` there) and tells the driver to go on, which prints the rest as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from subprocess import PIPE
from typing import Any, ClassVar

import pytest

from rlcore.cluster import Worker
from tests.conftest import ROOT
from tests.local_cluster import LocalCluster, join, node_names

pytestmark = pytest.mark.integration
WORKERS = 2


class Probe(Worker):
    """A torch-free stand-in for a rollout worker: it refuses work after a restart until brought up to date."""

    remote_methods: ClassVar[tuple[str, ...]] = ("where", "catch_up")

    def where(self) -> str:
        import ray

        self.require_up_to_date()
        return ray.get_runtime_context().get_node_id()

    def catch_up(self) -> None:
        self.restarted = False


def drive(address: str) -> dict[str, Any]:
    import ray

    from rlcore.cluster import WorkerGroup
    from rlcore.placement import RolePlacement

    join(address, nodes=3)
    names = node_names()
    brought_up: list[int] = []

    def bring_up(rank: int) -> str:
        ray.get(group.actors[rank].catch_up.remote())
        brought_up.append(rank)
        return "caught up"

    group = WorkerGroup(
        "rollout",
        Probe,
        WORKERS,
        num_cpus=1,
        placement=RolePlacement(resources={"rollout_node": 1}),
        start_timeout_s=90,
        call_timeout_s=90,
        max_restarts=1,
        on_restart=bring_up,
    )
    before = [names[node] for node in group.broadcast("where")]
    lost = before[0]
    print(json.dumps({"stop": lost}), flush=True)
    sys.stdin.readline()  # the node is stopped
    after = [names[node] for node in group.broadcast("where")]
    report = {"before": before, "lost": lost, "after": after, "brought_up": brought_up, "restarts": group.restarts}
    group.shutdown()
    ray.shutdown()
    return report


@pytest.mark.timeout(300)
def test_workers_of_a_stopped_node_are_replaced_on_another():
    cluster = LocalCluster()
    try:
        cluster.head(num_cpus=1)
        for name in ("rollout-a", "rollout-b"):
            cluster.node(name, WORKERS, resources={"rollout_node": WORKERS})
        env = {**cluster.env, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "tests.test_node_loss_on_cpu", cluster.address]
        driver = subprocess.Popen(command, env=env, cwd=ROOT, stdin=PIPE, stdout=PIPE, stderr=PIPE, text=True)
        assert driver.stdin and driver.stdout
        asked = driver.stdout.readline()
        if asked:
            cluster.stop_node(json.loads(asked)["stop"])
            driver.stdin.write("stopped\n")
            driver.stdin.flush()
        out, err = driver.communicate(timeout=180)
        assert driver.returncode == 0, f"{err[-3000:]}\n{cluster.logs()}"
        report = json.loads(out.strip().splitlines()[-1])
    finally:
        cluster.stop()
    lost = report["lost"]
    survivor = ({"rollout-a", "rollout-b"} - {lost}).pop()
    assert report["before"] == [lost] * WORKERS  # PACK: both on one node, the one stopped
    assert report["after"] == [survivor] * WORKERS  # both replaced on the other node, answering again
    assert sorted(report["brought_up"]) == list(range(WORKERS)) and report["restarts"] == [1] * WORKERS


if __name__ == "__main__":  # the driver, in its own process
    print(json.dumps(drive(sys.argv[1])), flush=True)
