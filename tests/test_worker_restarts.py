"""The bookkeeping of surviving worker death, without a cluster: which failures replace a worker, the restart budget
of a worker group, and the decisions of the loop-level learner restart (the real runs are in
test_fault_injection_on_cpu.py and test_worker_group_on_cpu.py)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from unittest import mock

import pytest

from algorithms import build_algorithm
from rlcore.cluster import WorkerDied, WorkerError, WorkerGroup, _casualties
from rlcore.config import load_config
from rlcore.restarts import WorkerRestarted

ROOT = Path(__file__).resolve().parents[1]


def test_a_dead_or_restarted_worker_is_replaced_any_other_failure_is_not():
    assert _casualties(WorkerDied("rollout[2].generate: the worker process died (x)", 2), {}) == [(2, "died during")]
    try:
        raise WorkerError("rollout[1].generate raised WorkerRestarted") from WorkerRestarted(1)
    except WorkerError as error:
        assert _casualties(error, {}) == [(1, "died before")]
    try:
        raise WorkerError("reward[0].score raised ValueError: bad") from ValueError("bad")
    except WorkerError as error:
        assert _casualties(error, {}) is None
    assert _casualties(WorkerDied("died, rank unknown"), {}) is None


def test_worker_restarted_survives_pickling_as_ray_ships_it():
    error = pickle.loads(pickle.dumps(WorkerRestarted(3)))
    assert error.rank == 3 and str(error) == "worker 3 was restarted by Ray and is not up to date yet"


def group_with(restarts: list[int], budget: int | None) -> WorkerGroup:
    group = WorkerGroup.__new__(WorkerGroup)  # the budget bookkeeping only: no placement group, no actors
    group.name, group.restarts, group.max_restarts = "rollout", restarts, budget
    return group


@pytest.mark.parametrize("budget", [0, 2])
def test_a_worker_past_its_budget_is_one_error_naming_it_and_the_budget(budget):
    group = group_with([budget, 0], budget)
    died = WorkerDied("rollout[0].generate: the worker process died (killed)", 0)
    with pytest.raises(
        WorkerDied, match=r"^rollout\[0\]\.generate: the worker process died \(killed\); it was "
    ) as error:
        group.replace(0, "generate", died)
    assert str(error.value).endswith(f"the budget of cluster.max_worker_restarts ({budget}), so the run stops here")
    assert error.value.rank == 0
    assert group.restarts == [budget, 0]  # nothing counted for a restart that did not happen


def algorithm_with_dead_learner(tmp_path: Path, dead: list[int], *overrides: str):
    config = load_config(
        ROOT / "configs" / "demo_grpo.yaml", [f"run.output_dir={tmp_path}", "run.name=run", *overrides]
    )
    algorithm = build_algorithm(config)
    runtime = mock.MagicMock(groups={"learner": None, "rollout": None})
    runtime.group.return_value.dead_ranks.return_value = dead
    algorithm.runtime, algorithm.sampler, algorithm.progress = runtime, mock.MagicMock(), mock.MagicMock()
    algorithm.initial_sampler_state = {"epoch": 0, "index": 0}
    return algorithm, runtime


def test_a_failure_that_killed_no_learner_rank_is_raised_again(tmp_path):
    algorithm, runtime = algorithm_with_dead_learner(tmp_path, [])
    error = WorkerError("learner[0].train raised ValueError: bad batch")
    with pytest.raises(WorkerError) as raised:
        algorithm.restart_learner(error)
    assert raised.value is error and not runtime.restart_learner.called


def test_a_dead_learner_rank_without_a_checkpoint_restarts_the_group_from_the_start(tmp_path, caplog):
    algorithm, runtime = algorithm_with_dead_learner(tmp_path, [1])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in (0, 1, 2)))
    with caplog.at_level("WARNING"):
        assert algorithm.restart_learner(WorkerDied("learner[1].train: the worker process died (x)", 1)) == 0
    assert "learner rank(s) 1 died" in caplog.text
    assert "restarting the learner group from the start (no checkpoint yet) (1 of 3 restarts)" in caplog.text
    runtime.restart_learner.assert_called_once_with(None)
    algorithm.sampler.load_state.assert_called_once_with({"epoch": 0, "index": 0})
    runtime.set_policy_version.assert_called_once_with(0)
    runtime.sync_weights.assert_called_once_with(new_version=False)  # the rollout workers get the base weights back
    assert (run_dir / "metrics.jsonl").read_text() == ""  # the run starts over: its rows are logged again
    assert algorithm.unreported_restarts == 1


def test_learner_restarts_past_the_budget_stop_the_run(tmp_path):
    algorithm, runtime = algorithm_with_dead_learner(tmp_path, [0, 1], "cluster.max_worker_restarts=1")
    algorithm.learner_restarts = 1
    with pytest.raises(WorkerDied, match=r"learner rank\(s\) 0, 1 died and the learner group was restarted 1 time"):
        algorithm.restart_learner(WorkerError("learner[0].train raised RuntimeError: Connection closed by peer"))
    assert not runtime.restart_learner.called
