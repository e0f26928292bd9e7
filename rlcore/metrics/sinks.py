"""Where a run's metrics go: one JSON line per step in metrics.jsonl, mirrored to TensorBoard, W&B and MLflow."""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rlcore.config import ConfigError

if TYPE_CHECKING:
    from rlcore.config import LoggingSection

METRICS_FILE = "metrics.jsonl"
MISSING_TRACKER = "{package} is not installed: pip install 'rlcore[tracking]'"


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
    """Appends one JSON line per step to ``run_dir/metrics.jsonl``; mirrors to TensorBoard, W&B and MLflow through
    their own clients (W&B `mode="offline"` and an MLflow file or sqlite store work without a server)."""

    def __init__(
        self,
        run_dir: Path,
        *,
        tensorboard: bool = True,
        wandb_project: str | None = None,
        wandb_mode: Literal["online", "offline"] = "online",
        mlflow_tracking_uri: str | None = None,
        mlflow_experiment: str = "rlcore",
    ) -> None:
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
        self._wandb = _start_wandb(self.run_dir, wandb_project, wandb_mode) if wandb_project else None
        self._mlflow = _MlflowRun(mlflow_tracking_uri, mlflow_experiment, self.run_dir) if mlflow_tracking_uri else None

    @classmethod
    def from_config(cls, run_dir: Path, logs: LoggingSection) -> MetricsLogger:
        return cls(
            run_dir,
            tensorboard=logs.tensorboard,
            wandb_project=logs.wandb_project,
            wandb_mode=logs.wandb_mode,
            mlflow_tracking_uri=logs.mlflow_tracking_uri,
            mlflow_experiment=logs.mlflow_experiment,
        )

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
        if self._mlflow is not None:
            self._mlflow.log(int(step), finite)

    def _append(self, text: str) -> None:
        """Open, append, close: each line is on disk when log() returns, and no handle outlives a crash."""
        with self.path.open("a", encoding="utf-8") as file:
            file.write(text)

    def close(self) -> None:
        """Flush and close TensorBoard, W&B and MLflow (idempotent; the JSONL file is never held open)."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None
        if self._mlflow is not None:
            self._mlflow.finish()
            self._mlflow = None

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _start_wandb(run_dir: Path, project: str, mode: Literal["online", "offline"]) -> Any:
    try:
        import wandb
    except ImportError:
        raise ConfigError(f"logging.wandb_project: {MISSING_TRACKER.format(package='wandb')}") from None
    # console="off": W&B leaves sys.stdout alone (the run's output filter owns it); quiet: no banner.
    settings = wandb.Settings(console="off", silent=True, x_disable_stats=True)
    return wandb.init(project=project, name=run_dir.name, dir=str(run_dir), mode=mode, settings=settings)


class _MlflowRun:
    """One MLflow run through MlflowClient (no process-global active run, so runs side by side do not mix)."""

    def __init__(self, tracking_uri: str, experiment: str, run_dir: Path) -> None:
        try:
            from mlflow import MlflowClient
        except ImportError:
            raise ConfigError(f"logging.mlflow_tracking_uri: {MISSING_TRACKER.format(package='mlflow')}") from None
        if "://" not in tracking_uri or tracking_uri.startswith("file:"):
            # A folder is MLflow's file store (offline, no server or database): kept, though in maintenance mode.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        run = self.client.create_run(experiment_id, run_name=run_dir.name, tags={"run_dir": str(run_dir.resolve())})
        self.run_id = run.info.run_id

    def log(self, step: int, values: Mapping[str, float | int]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, step) for key, value in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self) -> None:
        self.client.set_terminated(self.run_id)


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
