"""`rlcore eval CONFIG checkpoint=PATH`: the multilingual evaluation of any checkpoint (or base model) with vLLM
rollout workers only — no learner, reference or reward workers are started."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rlcore.config import RunConfig
from rlcore.data import DataError, load_eval_rows
from rlcore.modeling import resolve_model_path
from rlcore.multilingual import evaluate_parallel, report_tables
from rlcore.runtime import Runtime


def default_output(config: RunConfig, checkpoint: str) -> Path:
    """multilingual_eval.json inside the checkpoint directory when it is writable, else in the run directory."""
    directory = Path(checkpoint)
    if directory.is_dir() and os.access(directory, os.W_OK):
        return directory / "multilingual_eval.json"
    return config.run_dir / f"multilingual_eval_{Path(checkpoint).name.replace(':', '_')}.json"


def evaluate_checkpoint(config: RunConfig, checkpoint: str, output: str | Path | None = None) -> dict[str, Any]:
    """Greedy held-out evaluation of `checkpoint` on the config's eval set; prints tables, writes the JSON."""
    rows = load_eval_rows(config.data, config.run.seed)
    if not rows:
        raise DataError("no held-out rows: set data.eval_source (or use data.source=builtin:arith)")
    runtime = Runtime(config, total_optimizer_steps=0, policy_path=resolve_model_path(checkpoint), roles=("rollout",))
    try:
        max_tokens = config.eval.max_tokens or config.rollout.max_tokens
        metrics, report = evaluate_parallel(runtime, rows, max_tokens, config.data.eval_languages)
    finally:
        runtime.shutdown()
    report = {"checkpoint": checkpoint, "metrics": metrics, **report}
    path = Path(output) if output else default_output(config, checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    report_tables(report, Path(checkpoint).name)
    print(f"report: {path}")
    return report
