"""Which worker a timed-out call really waits for: the process state of every actor of the group.

A rank blocked in a collective (all_reduce) is the one whose call times out, while the rank that stopped is another;
asking the actors is no use (a stopped or busy actor does not answer), so this reads each actor's process state
from the operating system: directly on this node, through a zero-CPU task pinned to the actor's node elsewhere."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psutil
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

log = logging.getLogger(__name__)
# Process states of a worker that will not make progress by itself: stopped (SIGSTOP, a debugger), or exited.
NOT_RUNNING = ("stopped", "tracing-stop", "zombie", "dead", "exited")
REMOTE_PROBE_TIMEOUT_S = 10.0


def stalled_ranks_message(name: str, actors: Sequence[Any], waiting_rank: int, method: str) -> str | None:
    """A sentence naming the ranks of group `name` whose process is not running (e.g. "learner[1] stopped
    responding (process state: stopped) during train; learner[0] waits for it"), or None when every rank runs."""
    states = {rank: actor_process_state(actor) for rank, actor in enumerate(actors)}
    stalled = {rank: state for rank, state in states.items() if state in NOT_RUNNING}
    if not stalled:
        return None
    if len(stalled) == 1:
        rank, state = next(iter(stalled.items()))
        who, it = f"{name}[{rank}] stopped responding (process state: {state})", "it"
    else:
        who = " and ".join(f"{name}[{rank}] (process state: {state})" for rank, state in stalled.items())
        who, it = f"{who} stopped responding", "them"
    waits = "" if waiting_rank in stalled else f"; {name}[{waiting_rank}] waits for {it}"
    return f"{who} during {method}{waits}"


def actor_process_state(actor: Any) -> str:
    """psutil's status of the actor's process ('running', 'sleeping', 'stopped', ...), 'exited' if it is gone,
    'unknown' if it cannot be read."""
    try:
        # The GCS actor table (the public state API needs the dashboard, which a local cluster does not start).
        info = ray._private.state.actors(actor._actor_id.hex())
        pid, node_id = int(info["Pid"]), info["Address"]["NodeID"]
        if node_id == ray.get_runtime_context().get_node_id():
            return process_state(pid)
        probe = ray.remote(num_cpus=0)(process_state).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)
        )
        return ray.get(probe.remote(pid), timeout=REMOTE_PROBE_TIMEOUT_S)
    except Exception as error:  # a diagnosis must never hide the timeout it explains
        log.debug("cannot read the process state of %s: %s", actor, error)
        return "unknown"


def process_state(pid: int) -> str:
    try:
        return str(psutil.Process(pid).status())
    except psutil.NoSuchProcess:
        return "exited"
