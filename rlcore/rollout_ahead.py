"""Rollouts started ahead of the training step that uses them (rollout.async_steps = k > 0): while the driver
trains step t, a background thread generates the samples of steps t+1 .. t+k, in step order, with the policy the
rollout engines hold. A step's samples therefore come from a policy at most k versions older than the learner's.

The thread only waits on remote calls; the driver keeps every other worker group. Whoever pushes new weights
calls `wait_all` first, so that on every rollout engine the weights land after the generations already started."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rlcore.batch import Batch

log = logging.getLogger(__name__)


@dataclass
class InFlight:
    future: Future[Batch]
    position: Any  # where the prompt source stood before this step's prompts were drawn (for checkpoints)


class RolloutAhead:
    def __init__(self, ahead: int):
        if ahead < 1:
            raise ValueError(f"rollouts ahead must be >= 1, got {ahead}")
        self.ahead = ahead
        self.pending: dict[int, InFlight] = {}  # by step, in the order started
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="rollout-ahead")  # one: generations stay in order

    def take(
        self, step: int, last_step: int, start: Callable[[int], Callable[[], Batch]], position: Callable[[], Any]
    ) -> Batch:
        """The samples of `step`, after starting those of the steps up to `step + ahead` (and `last_step`) not yet
        started. `start(s)` runs here, in the driver (it draws step s's prompts), and returns the generation to run in
        the background; `position()` says where the prompt source stands before each draw."""
        if self.pending and min(self.pending) != step:  # e.g. a loop gone back to a checkpoint: start again
            self.discard()
        first = max(self.pending, default=step - 1) + 1
        for ahead in range(first, min(step + self.ahead, last_step) + 1):
            where = position()
            self.pending[ahead] = InFlight(self.executor.submit(start(ahead)), where)
        return self.pending.pop(step).future.result()

    def wait_all(self) -> None:
        """Block until every started generation has finished (its result is kept for its step; errors raise)."""
        for flight in self.pending.values():
            flight.future.result()

    def position(self, current: Any) -> Any:
        """Where the prompt source should resume from to redraw the prompts of steps not yet trained: before the
        earliest pending step's draw (`current` when none is pending)."""
        return self.pending[min(self.pending)].position if self.pending else current

    def discard(self) -> None:
        """Drop every pending step's samples (after waiting for its generation: the engines finish it anyway)."""
        for step, flight in self.pending.items():
            if (error := flight.future.exception()) is not None:
                log.warning("the generation started for step %d failed and is dropped: %s", step, error)
        self.pending.clear()

    def close(self) -> None:
        self.discard()
        self.executor.shutdown(wait=True)
