"""Calls that really end at their deadline: a small pool of long-lived worker processes.

A thread cannot be stopped, and sympy can spend minutes in one big-integer operation (`9^{9^{9^{9}}}`) that no
signal interrupts, so a hung grading call in a thread pool holds its thread forever and, a few pathological answers
later, every call waits behind them. Here each call runs in a worker process; one that overruns its deadline has its
process killed and replaced, so the pool keeps its full capacity. The processes live across calls (start-up and
imports are paid once; replacements fork from a forkserver that has already imported `preload`), and inside them
math-verify runs in the main thread, where its own signal timeouts are on as the first line of defence.
As with any multiprocessing pool, the calling program's main script must guard its entry point with
`if __name__ == "__main__":` (the `rlcore` command and Ray's workers do).

The reward worker (rule and function rewards) and held-out evaluation (rlcore.grading.grade_answers) both use it.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)

Call = tuple[Callable[..., Any], tuple[Any, ...]]


class CallFailed(Exception):
    """The outcome of a call that raised in its worker process, overran its deadline or lost its process."""

    def __init__(self, message: str, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


class BoundedPool:
    """`processes` worker processes running picklable calls (a module-level function and its arguments)."""

    def __init__(self, processes: int = 2, preload: Sequence[str] = ("rlcore.grading",)):
        # forkserver, not fork: the reward worker is a Ray actor with threads, and forking a threaded process can
        # copy a held lock into the child; spawn would re-import sympy for every replacement.
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(preload))
        self._lock = threading.Lock()
        self._workers = [self._start() for _ in range(processes)]
        atexit.register(self.close)

    def _start(self) -> tuple[BaseProcess, Connection]:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(child_end,), daemon=True, name="rlcore-bounded")
        process.start()
        child_end.close()  # the child's end lives in the child only: its death reads as EOF here
        return process, parent_end

    @property
    def processes(self) -> list[BaseProcess]:
        return [process for process, _ in self._workers]

    def run(self, calls: Sequence[Call], timeout_s: float) -> list[Any]:
        """Each call's return value, or a CallFailed in its place; a call gets timeout_s from when a process
        takes it up (waiting for a free process does not count)."""
        with self._lock:
            if not self._workers:
                raise RuntimeError("the pool is closed")
            return self._run(calls, timeout_s)

    def _run(self, calls: Sequence[Call], timeout_s: float) -> list[Any]:
        outcomes: list[Any] = [None] * len(calls)
        pending = deque(range(len(calls)))
        idle = deque(range(len(self._workers)))
        busy: dict[Connection, tuple[int, int, float]] = {}  # connection -> (worker, call, deadline)
        while pending or busy:
            while pending and idle:
                worker, index = idle.popleft(), pending.popleft()
                connection = self._workers[worker][1]
                try:
                    connection.send(calls[index])
                except Exception as error:  # an argument that does not pickle: this call fails, the worker is fine
                    outcomes[index] = CallFailed(f"cannot send the call: {type(error).__name__}: {error}")
                    idle.append(worker)
                    continue
                busy[connection] = (worker, index, time.monotonic() + timeout_s)
            if not busy:
                continue
            next_deadline = min(deadline for _, _, deadline in busy.values())
            for connection in wait(list(busy), timeout=max(0.0, next_deadline - time.monotonic())):
                worker, index, _ = busy.pop(connection)  # type: ignore[call-overload]
                try:
                    ok, value = connection.recv()  # type: ignore[union-attr]
                    outcomes[index] = value if ok else CallFailed(value)
                except (EOFError, OSError):  # the process died (out of memory, a crash in C code)
                    outcomes[index] = CallFailed("the worker process died")
                    self._replace(worker)
                idle.append(worker)
            now = time.monotonic()
            for connection, (worker, index, deadline) in list(busy.items()):
                if deadline <= now:
                    del busy[connection]
                    outcomes[index] = CallFailed(f"timed out after {timeout_s:g}s", timed_out=True)
                    self._replace(worker)
                    idle.append(worker)
        return outcomes

    def _replace(self, worker: int) -> None:
        process, connection = self._workers[worker]
        process.kill()
        process.join(5)
        connection.close()
        self._workers[worker] = self._start()

    def close(self) -> None:
        """Ends the worker processes (idle ones exit on their own when their pipe closes)."""
        workers, self._workers = self._workers, []
        for _, connection in workers:
            connection.close()
        for process, _ in workers:
            process.join(2)
            if process.is_alive():
                process.kill()
                process.join(2)
        atexit.unregister(self.close)


def _serve(connection: Connection) -> None:
    """A worker process: run calls until the parent closes the pipe."""
    while True:
        try:
            function, arguments = connection.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[bool, Any] = (True, function(*arguments))
        except Exception as error:
            reply = (False, f"{type(error).__name__}: {error}")
        try:
            connection.send(reply)
        except Exception as error:  # a result that does not pickle
            connection.send((False, f"cannot return the result: {type(error).__name__}: {error}"))


_shared: BoundedPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> BoundedPool:
    """This process's pool for callers without their own (held-out evaluation in the driver); started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = BoundedPool()
        return _shared
