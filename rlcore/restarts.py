"""Ray's side of replacing a dead worker: waiting for Ray to restart an actor, telling dead actors from busy ones, and
the error by which a restarted worker refuses work until it is up to date. The policy (budgets, redoing a call,
bringing a restarted worker up to date) is WorkerGroup's (rlcore.cluster)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError


class WorkerRestarted(RuntimeError):
    """Raised by a worker that Ray restarted when it is given work before its group brought it up to date (it died
    between calls, so no call failed: e.g. a rollout engine that still holds its start-up weights)."""

    def __init__(self, rank: int):
        super().__init__(rank)
        self.rank = rank

    def __str__(self) -> str:
        return f"worker {self.rank} was restarted by Ray and is not up to date yet"


def restarted_by_ray() -> bool:
    """Whether this process is an actor that Ray restarted after a death (False outside an actor)."""
    if not ray.is_initialized():
        return False
    context = ray.get_runtime_context()
    if context.get_actor_id() is None:
        return False
    with warnings.catch_warnings():  # the property reads a deprecated one inside Ray
        warnings.simplefilter("ignore", DeprecationWarning)
        return bool(context.was_current_actor_reconstructed)


def await_restart(actor: Any, timeout_s: float) -> str | None:
    """Wait until Ray has restarted `actor` and it answers; None then, else why not (for an error message).

    A call to an actor that is being restarted may fail as unavailable rather than wait, and one sent before Ray
    noticed the death (its node was lost, say) fails as died: either way it is asked again until Ray says the actor is
    dead for good."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            ray.get(actor.ready.remote(), timeout=max(0.0, deadline - time.monotonic()))
            return None
        except ActorUnavailableError:
            pass
        except GetTimeoutError:
            break
        except RayActorError as error:
            if actor_state(actor) == "DEAD":
                return f"Ray could not restart it ({first_line(error)})"
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return f"was not restarted within {timeout_s:g}s (cluster.start_timeout_s)"


def actor_state(actor: Any) -> str:
    """The GCS's state of `actor`: ALIVE, RESTARTING, DEAD (for good), ... (Ray's actor table; no public call gives
    it without the dashboard)."""
    return ray._private.state.actors(actor_id=actor._actor_id.hex())["State"]


def dead_ranks(actors: Sequence[Any], timeout_s: float = 10.0) -> list[int]:
    """The positions of the actors that are dead for good; one that does not answer within `timeout_s` (busy, e.g.
    waiting in a collective for a dead peer) counts as alive."""
    probes = [actor.ready.remote() for actor in actors]
    done, _ = ray.wait(probes, num_returns=len(probes), timeout=timeout_s)
    dead = []
    for rank, probe in enumerate(probes):
        if probe in done:
            try:
                ray.get(probe)
            except RayActorError:
                dead.append(rank)
    return dead


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
