"""What an algorithm's `run()` starts: the workers (Runtime), the prompt sampler, the metrics sinks and the progress
display. Each is typed as started; using one before `run()` (or `load_data`, for the sampler) starts it is an error
that says so, rather than an AttributeError on None in the middle of a step."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TypeVar

from actors.runtime import Runtime
from rlcore.data import Sampler
from rlcore.metrics.progress import PhaseProgress
from rlcore.metrics.sinks import MetricsLogger

T = TypeVar("T")


def started(value: T | None, name: str) -> T:
    if value is None:
        raise RuntimeError(f"the algorithm's {name} is used before run() starts it")
    return value


class RunState:
    def __init__(self) -> None:
        self._runtime: Runtime | None = None
        self._sampler: Sampler | None = None
        self._metrics_log: MetricsLogger | None = None
        self._progress: PhaseProgress | None = None

    @property
    def runtime(self) -> Runtime:
        return started(self._runtime, "runtime")

    @runtime.setter
    def runtime(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @property
    def sampler(self) -> Sampler:
        return started(self._sampler, "sampler")

    @sampler.setter
    def sampler(self, sampler: Sampler) -> None:
        self._sampler = sampler

    @property
    def metrics_log(self) -> MetricsLogger:
        return started(self._metrics_log, "metrics log")

    @metrics_log.setter
    def metrics_log(self, metrics_log: MetricsLogger) -> None:
        self._metrics_log = metrics_log

    @property
    def progress(self) -> PhaseProgress:
        return started(self._progress, "progress display")

    @progress.setter
    def progress(self, progress: PhaseProgress) -> None:
        self._progress = progress

    def phase(self, name: str) -> AbstractContextManager[None]:
        """Context manager timing one phase of the step (shown in the progress display and metrics)."""
        return self.progress.phase(name)
