"""A run's metrics, three jobs in three modules: where they go (`sinks`: JSONL, TensorBoard, W&B), the live
per-phase progress of the steps (`progress`), and plots and tables made from them (`reports`)."""

from rlcore.metrics.progress import PhaseProgress
from rlcore.metrics.reports import plot_metrics, summary_table
from rlcore.metrics.sinks import METRICS_FILE, MetricsLogger, read_metrics

__all__ = ["METRICS_FILE", "MetricsLogger", "PhaseProgress", "plot_metrics", "read_metrics", "summary_table"]
