"""Worker groups on a real Ray cluster: sharded calls keep order; a dead or hung actor is named in the error."""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np
import pytest
import ray

from rlcore.batch import Batch
from rlcore.cluster import Worker, WorkerDied, WorkerError, WorkerGroup, WorkerTimeout, declared_methods

pytestmark = pytest.mark.integration
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Echo(Worker):
    remote_methods = ("double", "crash", "sleep", "fail", "pid")

    def double(self, batch: Batch) -> Batch:
        return Batch(tensors={"x": batch["x"] * 2}, columns={"rank": [self.rank] * len(batch)})

    def crash(self) -> None:
        os._exit(1)

    def sleep(self, seconds: float) -> str:
        time.sleep(seconds)
        return "done"

    def fail(self) -> None:
        raise ValueError("bad input 42")

    def pid(self) -> int:
        return os.getpid()


@pytest.fixture
def group(ray_cluster):
    workers = WorkerGroup("echo", Echo, 3, num_cpus=0.1, call_timeout_s=30)
    yield workers
    workers.shutdown()


def test_call_shards_in_order(group):
    result = group.call("double", Batch(tensors={"x": np.arange(7)}))
    assert result["x"].tolist() == [2 * i for i in range(7)]
    assert result["rank"] == [0, 0, 0, 1, 1, 2, 2]


def test_errors_name_the_actor_and_method(group):
    with pytest.raises(WorkerError, match=r"echo\[0\]\.fail raised ValueError: bad input 42"):
        group.broadcast("fail")
    # Rank 1 stopped (SIGSTOP) while every rank runs the call: the timeout of rank 0's result names rank 1.
    pid = group.broadcast("pid")[1]
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(WorkerTimeout) as raised:
            group.broadcast("sleep", seconds=3, timeout=1)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert str(raised.value) == (
        "echo[1] stopped responding (process state: stopped) during sleep; echo[0] waits for it (no result within 1s)"
    )
    with pytest.raises(WorkerTimeout, match=r"echo\[0\]\.sleep did not finish within 1s"):
        group.broadcast("sleep", seconds=5, timeout=1)
    with pytest.raises(WorkerDied, match=r"echo\[\d\]\.crash: the worker process died"):
        group.broadcast("crash")


def test_calls_are_checked_against_the_declared_methods(group):
    with pytest.raises(
        WorkerError, match=r"'dubble' is not a remote method of its workers \(did you mean 'double'\?\)"
    ):
        group.call("dubble", Batch(tensors={"x": np.arange(3)}))
    with pytest.raises(WorkerError, match="'ready_check' is not a remote method"):
        WorkerGroup("misspelt", Echo, 1, num_cpus=0.1, uses=("ready_check",))


def test_a_declared_method_must_exist():
    class Broken(Worker):
        remote_methods = ("double", "tripple")

        def double(self) -> None: ...

    with pytest.raises(TypeError, match=r"Broken declares remote methods it does not define: \['tripple'\]"):
        declared_methods(Broken)
    assert declared_methods(Echo) == {"ready", "node_address", "double", "crash", "sleep", "fail", "pid"}
