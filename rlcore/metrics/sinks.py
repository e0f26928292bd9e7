"""Where a run's metrics go: one JSON line per step in metrics.jsonl, mirrored to TensorBoard and W&B."""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping
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
        if _ends_mid_line(self.path):  # a crashed run left half a line: keep it on its own line
            self._append("\n")
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
        self._append(json.dumps(record, allow_nan=False) + "\n")
        finite = {k: v for k, v in values.items() if v is not None}
        if self._tb is not None:
            for k, v in finite.items():
                self._tb.add_scalar(k, v, int(step))
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(finite, step=int(step))

    def _append(self, text: str) -> None:
        """Open, append, close: each line is on disk when log() returns, and no handle outlives a crash."""
        with self.path.open("a", encoding="utf-8") as file:
            file.write(text)

    def close(self) -> None:
        """Flush and close TensorBoard and W&B (idempotent; the JSONL file is never held open)."""
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
