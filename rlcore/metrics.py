"""Run metrics (JSONL + TensorBoard + optional W&B), per-phase step progress, plots and tables."""

from __future__ import annotations

import io
import json
import math
import re
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"


def _to_number(value: Any) -> float | int | None:
    """int stays int; floats, numpy scalars and 0-dim tensors become float; non-finite -> None."""
    if hasattr(value, "item"):
        value = value.item()
    if value is None or isinstance(value, int):  # bool counts as int
        return None if value is None else int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def _ends_mid_line(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as f:
        f.seek(-1, 2)
        return f.read(1) != b"\n"


class MetricsLogger:
    """Appends one JSON line per step to ``run_dir/metrics.jsonl``; mirrors to TensorBoard / W&B."""

    def __init__(self, run_dir: Path, *, tensorboard: bool = True, wandb_project: str | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / METRICS_FILE
        partial = _ends_mid_line(self.path)
        self._file = open(self.path, "a", encoding="utf-8")
        if partial:  # a crashed run left half a line: keep it on its own line
            self._file.write("\n")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))
            except ImportError as e:
                warnings.warn(f"TensorBoard logging disabled: {e}", stacklevel=2)
        self._wandb = None
        if wandb_project:
            try:
                import wandb
            except ImportError:
                warnings.warn(
                    f"wandb_project={wandb_project!r} set but wandb is not installed; "
                    "logging to JSONL/TensorBoard only",
                    stacklevel=2,
                )
            else:
                self._wandb = wandb.init(project=wandb_project, name=self.run_dir.name, dir=str(self.run_dir))

    def log(self, step: int, metrics: Mapping[str, float | int]) -> None:
        """Write one line ``{"step", "time", **metrics}`` (non-finite -> null) and flush it."""
        values = {}
        for k, v in metrics.items():
            if k in ("step", "time"):
                continue
            try:
                values[k] = _to_number(v)
            except (TypeError, ValueError):
                raise TypeError(f"metric {k!r} is not a number: {v!r:.80}") from None
        record = {"step": int(step), "time": round(time.time(), 3), **values}
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()
        finite = {k: v for k, v in values.items() if v is not None}
        if self._tb is not None:
            for k, v in finite.items():
                self._tb.add_scalar(k, v, int(step))
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(finite, step=int(step))

    def close(self) -> None:
        """Flush and close every sink (idempotent)."""
        if not self._file.closed:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_metrics(path: Path) -> list[dict]:
    """Parse a metrics JSONL file; skips a truncated last line (warns on other bad lines)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    rows: list[dict] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i != len(lines) - 1:
                warnings.warn(f"{path}:{i + 1}: skipping unparsable line", stacklevel=2)
    return rows


def _fmt_seconds(s: float) -> str:
    return f"{s:.2f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


def _fmt_value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else "-" if v is None else str(v)


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
        self._live = self._progress = None
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
        self._live = Live(get_renderable=self._render, refresh_per_second=4, transient=False)
        self._live.start()

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
        return Group(self._progress, table, self._metrics_text("  "))

    def _metrics_text(self, sep: str) -> str:
        shown = list(self._metrics.items())[: self.max_metrics]
        return sep.join(f"{k}={_fmt_value(v)}" for k, v in shown)

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
        elif self.plain:
            print(self._plain_line(timings), flush=True)
        return timings

    def _plain_line(self, timings: Mapping[str, float]) -> str:
        done, elapsed = self.step, time.perf_counter() - self._t0
        parts = [f"step {done}/{self.total_steps}"]
        parts.append(" ".join(f"{p} {_fmt_seconds(timings[f'time/{p}_s'])}" for p in self.phases))
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

    def __enter__(self) -> PhaseProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def plot_metrics(metrics_path: Path, out_dir: Path, panels: Mapping[str, Sequence[str]]) -> list[Path]:
    """Write one PNG per panel (name -> metric-name prefixes); panels without data are skipped."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = read_metrics(metrics_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for panel, prefixes in panels.items():
        series: dict[str, dict[int, float]] = {}
        for row in rows:
            if not isinstance(row.get("step"), int):
                continue
            for key, value in row.items():
                if key in ("step", "time") or not any(key.startswith(p) for p in prefixes):
                    continue
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    series.setdefault(key, {})[row["step"]] = value  # a resumed run's repeat wins
        if not series:
            continue
        fig = Figure(figsize=(8, 4.5), dpi=110, layout="tight")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for key in sorted(series):
            steps = sorted(series[key])
            ax.plot(
                steps, [series[key][s] for s in steps], label=key, marker="o" if len(steps) < 30 else None, markersize=3
            )
        ax.set(title=panel, xlabel="step", ylabel=panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        path = out_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', panel)}.png"
        fig.savefig(path)
        written.append(path)
    return written


def summary_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Render a table (rich, else plain text), print it to stdout and return the text."""
    cells = [[_fmt_value(v) for v in row] for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(str(c)), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        lines = [title, "  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
        text = "\n".join(lines) + "\n"
    else:
        table = Table(*map(str, columns), title=title)
        for r in cells:
            table.add_row(*r)
        buf = io.StringIO()
        Console(file=buf, width=1000, color_system=None, force_terminal=False).print(table)
        text = "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"
    print(text, end="", flush=True)
    return text
