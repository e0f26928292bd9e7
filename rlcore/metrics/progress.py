"""Live progress of a run: one row per phase of the step (generate, reward, train, sync, ...) with timings."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rlcore.logging_setup import log_only, show_through, terminal_console
from rlcore.metrics.reports import format_value

if TYPE_CHECKING:
    from rich.live import Live
    from rich.progress import Progress


# What a person watches, in this order, under a short label: the first metric present of each row.
WATCHED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reward", ("reward/mean",)),
    ("loss", ("train/loss",)),
    ("kl", ("train/kl_ref",)),
    ("kl_old", ("train/approx_kl_old",)),  # to the rollout policy: 0 by construction on-policy, then left out
    ("entropy", ("train/entropy",)),
    ("accuracy", ("eval/accuracy/mean",)),
)


def _fmt_seconds(s: float) -> str:
    return f"{s:.2f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


def watched_metrics(metrics: Mapping[str, Any], fallback: int = 6) -> dict[str, Any]:
    """The metrics of WATCHED under their labels; with none of them, the first `fallback` metrics as they are."""
    shown = {}
    for label, keys in WATCHED:
        key = next((k for k in keys if metrics.get(k) is not None), None)
        if label == "kl_old" and not metrics.get(key or ""):
            continue
        if key is not None:
            shown[label] = metrics[key]
    if not shown:
        shown = {k: v for k, v in list(metrics.items())[:fallback] if not k.startswith("time/")}
    if isinstance(shown.get("accuracy"), float):
        shown["accuracy"] = f"{100 * shown['accuracy']:.1f}%"
    return shown


class PhaseProgress:
    """Progress over training steps with one row per phase (generate, reward, train, sync, ...).

    Rich live display on a terminal; otherwise one plain line per step (readable in job logs).
    """

    def __init__(
        self,
        total_steps: int,
        phases: Sequence[str],
        *,
        start_step: int = 0,
        enabled: bool = True,
        max_metrics: int = 6,
    ) -> None:
        self.total_steps, self.step, self._start_step = total_steps, start_step, start_step
        self.phases = list(phases)
        self.max_metrics = max_metrics
        self._current: dict[str, float] = {}
        self._sums, self._counts = {p: 0.0 for p in phases}, {p: 0 for p in phases}
        self._last: dict[str, float] = {}
        self._metrics: Mapping[str, float] = {}
        self._running: tuple[str, float] | None = None
        self._t0 = time.perf_counter()
        self._step_start: float | None = None
        self._live: Live | None = None
        self._progress: Progress | None = None
        if enabled and sys.stdout.isatty():
            self._start_rich()
        self.plain = enabled and self._live is None

    def _start_rich(self) -> None:
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
        )
        self._task = self._progress.add_task("train", total=self.total_steps, completed=self.step)
        # Lines printed meanwhile (forwarded worker output, logging) go through this console, above the display.
        console = terminal_console()
        self._live = Live(
            get_renderable=self._render,
            refresh_per_second=4,
            transient=False,
            console=console,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()
        show_through(console)

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        table = Table(box=None, padding=(0, 2), show_edge=False)
        for col in ("phase", "last", "mean", ""):
            table.add_column(col, justify="left" if col == "phase" else "right")
        for p in self.phases:
            mean = _fmt_seconds(self._sums[p] / self._counts[p]) if self._counts[p] else "-"
            last = _fmt_seconds(self._last[p]) if p in self._last else "-"
            now = ""
            if self._running and self._running[0] == p:
                now = f"[yellow]running {_fmt_seconds(time.perf_counter() - self._running[1])}"
            table.add_row(p, last, mean, now)
        return Group(*[self._progress] if self._progress else [], table, self._metrics_text("  "))

    def _metrics_text(self, sep: str) -> str:
        return sep.join(f"{k}={format_value(v)}" for k, v in watched_metrics(self._metrics, self.max_metrics).items())

    def set_total(self, total_steps: int) -> None:
        """The run's length became known (e.g. once an iteration's pairs are built)."""
        self.total_steps = total_steps
        if self._progress is not None:
            self._progress.update(self._task, total=total_steps)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the enclosed block as phase ``name`` of the current step (repeats accumulate)."""
        if name not in self._sums:
            self.phases.append(name)
            self._sums[name], self._counts[name] = 0.0, 0
        start = time.perf_counter()
        if self._step_start is None:
            self._step_start = start
        self._running = (name, start)
        try:
            yield
        finally:
            self._running = None
            self._current[name] = self._current.get(name, 0.0) + time.perf_counter() - start

    def advance(self, metrics: Mapping[str, float] | None = None) -> dict[str, float]:
        """End the step; return ``{"time/<phase>_s": ..., "time/step_s": ...}`` for it."""
        now = time.perf_counter()
        step_s = now - (self._step_start if self._step_start is not None else self._t0)
        timings = {f"time/{p}_s": self._current.get(p, 0.0) for p in self.phases}
        timings["time/step_s"] = step_s
        for p, s in self._current.items():
            self._last[p] = s
            self._sums[p] += s
            self._counts[p] += 1
        self.step += 1
        self._metrics = dict(metrics or {})
        self._current, self._step_start = {}, now
        if self._progress is not None:
            self._progress.update(self._task, completed=self.step)
            log_only(self._plain_line(timings))  # the live display shows it; the log file keeps it
        elif self.plain:
            print(self._plain_line(timings), flush=True)
        return timings

    def restart_clock(self) -> dict[str, float]:
        """Work before the first step (e.g. the start-of-run evaluation) counts in no step's time nor the ETA;
        returns its `{"time/<phase>_s": ...}`."""
        now = time.perf_counter()
        before = {f"time/{p}_s": s for p, s in self._current.items()}
        self._current, self._step_start, self._t0 = {}, None, now
        return before

    def _plain_line(self, timings: Mapping[str, float]) -> str:
        done, elapsed = self.step, time.perf_counter() - self._t0
        parts = [f"step {done}/{self.total_steps}"]
        ran = [p for p in self.phases if timings[f"time/{p}_s"] >= 0.005]  # those that took no time are left out
        if ran:
            parts.append(" ".join(f"{p} {_fmt_seconds(timings[f'time/{p}_s'])}" for p in ran))
        parts.append(f"total {_fmt_seconds(timings['time/step_s'])}")
        if done - self._start_step > 0 and done < self.total_steps:
            per_step = elapsed / (done - self._start_step)
            parts.append(f"eta {_fmt_seconds(per_step * (self.total_steps - done))}")
        if self._metrics:
            parts.append(self._metrics_text(" "))
        return " | ".join(parts)

    def close(self) -> None:
        """Stop the live display (idempotent)."""
        if self._live is not None:
            self._live.stop()
            self._live = None
            show_through(None)

    def __enter__(self) -> PhaseProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
