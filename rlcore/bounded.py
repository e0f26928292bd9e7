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
import importlib
import logging
import math
import multiprocessing
import pickle
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

log = logging.getLogger(__name__)

Call = tuple[Callable[..., Any], tuple[Any, ...]]
Item = TypeVar("Item")
Result = TypeVar("Result")
START_TIMEOUT_S = 300.0  # for a new process to import its modules (slow on a loaded machine)


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
        self._preload = tuple(preload)  # imported again in each process, in case the forkserver was started without
        self._lock = threading.Lock()
        self._workers = [self._start() for _ in range(processes)]
        self._ready = [False] * processes  # a process says when it has imported `preload`; deadlines start after
        atexit.register(self.close)

    def _start(self) -> tuple[BaseProcess, Connection]:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child_end, self._preload), daemon=True, name="rlcore-bounded"
        )
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
        idle = deque(worker for worker, ready in enumerate(self._ready) if ready)
        starting = {self._workers[w][1]: w for w, ready in enumerate(self._ready) if not ready}
        busy: dict[Connection, tuple[int, int, float]] = {}  # connection -> (worker, call, deadline)
        lost = 0  # processes that exited before they were ready
        while pending or busy:
            while pending and idle:
                worker, index = idle.popleft(), pending.popleft()
                connection = self._workers[worker][1]
                try:
                    connection.send(calls[index])
                except OSError:  # the idle process died (killed from outside): replace it, the call waits
                    pending.appendleft(index)
                    starting[self._replace(worker)] = worker
                    continue
                except Exception as error:  # an argument that does not pickle: this call fails, the worker is fine
                    outcomes[index] = CallFailed(f"cannot send the call: {type(error).__name__}: {error}")
                    idle.append(worker)
                    continue
                busy[connection] = (worker, index, time.monotonic() + timeout_s)
            if not busy and not pending:
                break
            next_deadline = min((deadline for _, _, deadline in busy.values()), default=math.inf)
            wait_s = min(next_deadline - time.monotonic(), START_TIMEOUT_S)
            ready = wait([*busy, *starting], timeout=max(0.0, wait_s))
            if not ready and not busy:
                raise RuntimeError(f"no worker process started within {START_TIMEOUT_S:g}s")
            for end in ready:
                assert isinstance(end, Connection)  # wait returns the objects it was given
                if end in starting:
                    worker = starting.pop(end)
                    if self._started(worker):
                        idle.append(worker)
                    else:  # killed from outside before it was ready
                        lost += 1
                        if lost > len(self._workers):
                            raise RuntimeError("worker processes keep exiting before they are ready")
                        starting[self._replace(worker)] = worker
                    continue
                worker, index, _ = busy.pop(end)
                try:
                    ok, value = end.recv()
                    outcomes[index] = value if ok else CallFailed(value)
                    idle.append(worker)
                except (EOFError, OSError):  # the process died (out of memory, a crash in C code)
                    outcomes[index] = CallFailed("the worker process died")
                    starting[self._replace(worker)] = worker
            now = time.monotonic()
            for connection, (worker, index, deadline) in list(busy.items()):
                if deadline <= now:
                    del busy[connection]
                    outcomes[index] = CallFailed(f"timed out after {timeout_s:g}s", timed_out=True)
                    starting[self._replace(worker)] = worker
        return outcomes

    def _started(self, worker: int) -> bool:
        """Reads a starting process's greeting: True when ready, False when it exited before; a process that could
        not import `preload` raises here."""
        try:
            ok, message = self._workers[worker][1].recv()
        except (EOFError, OSError):
            return False
        if not ok:
            raise RuntimeError(f"a worker process failed to start: {message}")
        self._ready[worker] = True
        return True

    def _replace(self, worker: int) -> Connection:
        process, connection = self._workers[worker]
        process.kill()
        process.join(5)
        connection.close()
        self._workers[worker] = self._start()
        self._ready[worker] = False
        return self._workers[worker][1]

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


def _serve(connection: Connection, preload: Sequence[str]) -> None:
    """A worker process: import `preload`, say so, then run calls until the parent closes the pipe."""
    try:
        for module in preload:
            importlib.import_module(module)
        greeting: tuple[bool, str] = (True, "ready")
    except Exception as error:
        greeting = (False, f"importing {module}: {type(error).__name__}: {error}")
    if not _reply(connection, greeting) or not greeting[0]:
        return
    while True:
        try:
            function, arguments = connection.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[bool, Any] = (True, function(*arguments))
        except Exception as error:
            reply = (False, f"{type(error).__name__}: {error}")
        if not _reply(connection, reply):
            return


def _reply(connection: Connection, reply: tuple[bool, Any]) -> bool:
    """Sends a reply; False when the parent has gone (closed the pool), so the process ends quietly."""
    try:
        connection.send(reply)
    except OSError:
        return False
    except Exception as error:  # a result that does not pickle
        return _reply(connection, (False, f"cannot return the result: {type(error).__name__}: {error}"))
    return True


_built: dict[tuple[type, bytes], Any] = {}  # per worker process: each object is built once


def call_built(cls: type, config: Any, method: str, *arguments: Any) -> Any:
    """`cls(config).method(*arguments)` in a worker process, the object built on first use (e.g. a reward, which
    the reward worker sends as its class and config: both pickle by reference and value, a loaded function not)."""
    key = (cls, pickle.dumps(config))
    if key not in _built:
        _built[key] = cls(config)
    return getattr(_built[key], method)(*arguments)


_AGAIN = object()  # an item whose group failed


def in_groups(
    run: Callable[[list[list[Item]]], Sequence[Sequence[Result] | BaseException]],
    items: Sequence[Item],
    per_call: int,
) -> list[Result | BaseException]:
    """Each item's result, or the error that kept it from one: `run` takes groups of up to per_call items (one
    call each, e.g. to BoundedPool.run) and gives each group's results or an error; the items of a group that failed
    go again one per call, so that one bad item costs only its own result (and a second deadline)."""
    starts = range(0, len(items), max(1, per_call))
    groups = [list(items[start : start + per_call]) for start in starts]
    results: list[Any] = []
    for group, outcome in zip(groups, run(groups), strict=True):
        results += [_AGAIN] * len(group) if isinstance(outcome, BaseException) else list(outcome)
    retry = [i for i, result in enumerate(results) if result is _AGAIN]
    for i, outcome in zip(retry, run([[items[i]] for i in retry]), strict=True):
        results[i] = outcome if isinstance(outcome, BaseException) else outcome[0]
    return results


_shared: BoundedPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> BoundedPool:
    """This process's pool for callers without their own (held-out evaluation in the driver); started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = BoundedPool()
        return _shared
