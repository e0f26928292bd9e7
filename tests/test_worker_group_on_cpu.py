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
    remote_methods = ("double", "crash", "sleep", "fail", "double_once_dying", "pid", "checked_double", "catch_up")

    def double(self, batch: Batch) -> Batch:
        return Batch(tensors={"x": batch["x"] * 2}, columns={"rank": [self.rank] * len(batch)})

    def double_once_dying(self, batch: Batch, marker_dir: str) -> Batch:
        """The first call of each rank (per marker_dir) kills its process; the call redone on the restart doubles."""
        marker = os.path.join(marker_dir, f"died-{self.rank}")
        if not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), 9)
        return Batch(tensors={"x": batch["x"] * 2}, columns={"pid": [os.getpid()] * len(batch)})

    def pid(self) -> int:
        return os.getpid()

    def checked_double(self, batch: Batch) -> Batch:
        self.require_up_to_date()
        return self.double(batch)

    def catch_up(self) -> None:
        self.restarted = False

    def crash(self) -> None:
        os._exit(1)

    def sleep(self, seconds: float) -> str:
        time.sleep(seconds)
        return "done"

    def fail(self) -> None:
        raise ValueError("bad input 42")


def echo_group() -> WorkerGroup:
    return WorkerGroup("echo", Echo, 3, num_cpus=0.1, call_timeout_s=30)


@pytest.fixture
def group(ray_cluster):
    """A group of its own, for a test that stops or crashes its workers."""
    workers = echo_group()
    yield workers
    workers.shutdown()


@pytest.fixture(scope="module")
def shared_group(ray_cluster):
    """One group for the tests that leave every worker as it was (a start is seconds on a loaded machine)."""
    workers = echo_group()
    yield workers
    workers.shutdown()


def test_call_shards_in_order(shared_group):
    result = shared_group.call("double", Batch(tensors={"x": np.arange(7)}))
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
            group.broadcast("sleep", seconds=2, timeout=1)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert str(raised.value) == (
        "echo[1] stopped responding (process state: stopped) during sleep; echo[0] waits for it (no result within 1s)"
    )
    with pytest.raises(WorkerTimeout, match=r"echo\[0\]\.sleep did not finish within 1s"):
        group.broadcast("sleep", seconds=2, timeout=1)  # the next call waits for what is left of it
    with pytest.raises(WorkerDied, match=r"echo\[\d\]\.crash: the worker process died"):
        group.broadcast("crash")


def test_a_dead_or_hung_worker_is_restarted_by_ray_and_only_its_shard_redone(ray_cluster, tmp_path, caplog):
    """Rank 1 dies in a call, rank 0 hangs in one (SIGSTOP), rank 2 dies between calls: Ray restarts each (a new
    process), the hook brings it up to date, its shard alone is redone, in order. Rank 1 dying again once its
    budget (1) is spent ends in one error naming the worker and the budget."""
    restarted: list[int] = []

    def catch_up(rank: int) -> None:
        restarted.append(rank)
        ray.get(workers.actors[rank].catch_up.remote())

    workers = WorkerGroup("echo", Echo, 3, num_cpus=0.1, call_timeout_s=60, max_restarts=1, on_restart=catch_up)
    try:
        pids = workers.broadcast("pid")
        for attempt in ("first", "second"):  # only rank 1 dies: the others' markers are there
            (tmp_path / attempt).mkdir()
            (tmp_path / attempt / "died-0").touch()
            (tmp_path / attempt / "died-2").touch()
        six = Batch(tensors={"x": np.arange(6)})
        with caplog.at_level("WARNING", logger="rlcore.cluster"):
            result = workers.call("double_once_dying", six, marker_dir=f"{tmp_path}/first")
            assert result["x"].tolist() == [0, 2, 4, 6, 8, 10]  # nothing lost, nothing twice
            assert restarted == [1] and workers.restarts == [0, 1, 0]
            new_pids = workers.broadcast("pid")
            assert [new == old for new, old in zip(new_pids, pids, strict=True)] == [True, False, True]
            assert result["pid"] == [pids[0]] * 2 + [new_pids[1]] * 2 + [pids[2]] * 2

            # Hung: killed and restarted once the call's timeout passes, which the test waits out (the others'
            # shards of this call take milliseconds, and the redo goes to the restarted worker once it answers).
            os.kill(pids[0], signal.SIGSTOP)
            assert workers.call("double", six, timeout=3)["x"].tolist() == [0, 2, 4, 6, 8, 10]
            os.kill(pids[2], signal.SIGKILL)  # between calls: the restarted worker refuses work until caught up
            assert workers.call("checked_double", six)["x"].tolist() == [0, 2, 4, 6, 8, 10]
        assert restarted == [1, 0, 2] and workers.restarts == [1, 1, 1] and workers.dead_ranks() == []
        text = caplog.text
        assert "echo[1] died during double_once_dying; Ray restarted it (1 of 1 restarts); its call is redone" in text
        assert "echo[0] hung in double; Ray restarted it (1 of 1 restarts); its call is redone" in text
        assert "echo[2] died " in text  # before checked_double, or during it: whichever Ray noticed first

        with pytest.raises(WorkerDied, match=r"echo\[1\]\.double_once_dying: the worker process died .*restarted 1 "):
            workers.call("double_once_dying", six, marker_dir=f"{tmp_path}/second")
        assert workers.dead_ranks() == [1]  # Ray gave up on it: no restarts left
    finally:
        workers.shutdown()


def test_calls_are_checked_against_the_declared_methods(shared_group):
    with pytest.raises(
        WorkerError, match=r"'dubble' is not a remote method of its workers \(did you mean 'double'\?\)"
    ):
        shared_group.call("dubble", Batch(tensors={"x": np.arange(3)}))
    with pytest.raises(WorkerError, match="'ready_check' is not a remote method"):
        WorkerGroup("misspelt", Echo, 1, num_cpus=0.1, uses=("ready_check",))


def test_a_declared_method_must_exist():
    class Broken(Worker):
        remote_methods = ("double", "tripple")

        def double(self) -> None: ...

    with pytest.raises(TypeError, match=r"Broken declares remote methods it does not define: \['tripple'\]"):
        declared_methods(Broken)
    assert declared_methods(Echo) == {"ready", "node_address", "double", "crash", "sleep", "fail", "pid"} | {
        "double_once_dying",
        "checked_double",
        "catch_up",
    }
