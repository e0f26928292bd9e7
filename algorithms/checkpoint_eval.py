"""`rlcore eval CONFIG checkpoint=PATH`: the multilingual evaluation of any checkpoint (or base model) with vLLM
rollout workers only — no learner, reference or reward workers are started."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from actors.runtime import Runtime
from rlcore.chat import PromptFormatter
from rlcore.config import ConfigError, RunConfig
from rlcore.data import DataError, load_eval_rows
from rlcore.evaluation import evaluate
from rlcore.modeling import resolve_model_path
from rlcore.multilingual import report_tables


def default_output(config: RunConfig, checkpoint: str) -> Path:
    """In the config's run directory, named after the checkpoint (a checkpoint directory is never written to)."""
    checkpoint_path = Path(checkpoint.replace(":", "_"))
    name = (
        "_".join(checkpoint_path.parts[-2:]) if checkpoint_path.parent.name == "checkpoints" else checkpoint_path.name
    )
    return config.run_dir / "eval" / f"multilingual_eval_{name}.json"


def report_path(config: RunConfig, checkpoint: str, output: str | Path | None = None) -> Path:
    """`output` (a JSON file), else the default in the run directory; never inside the checkpoint directory."""
    path = (Path(output) if output else default_output(config, checkpoint)).resolve()
    checkpoint_dir = Path(checkpoint).resolve()
    if checkpoint_dir.is_dir() and path.is_relative_to(checkpoint_dir):
        raise ConfigError(
            f"output={output}: inside the checkpoint {checkpoint}; reports go into the run directory "
            f"(default {default_output(config, checkpoint)})"
        )
    return path


def evaluate_checkpoint(config: RunConfig, checkpoint: str, output: str | Path | None = None) -> dict[str, Any]:
    """Greedy held-out evaluation of `checkpoint` on the config's eval set; prints tables, writes the JSON (into the
    run directory unless `output` says where) and its absolute path. Greedy decoding is deterministic, so one
    evaluation is the result; the 95% intervals in its metrics measure the sampling of questions."""
    path = report_path(config, checkpoint, output)
    prompts = PromptFormatter.for_model(config.model.path, config.data.chat_template)
    rows = prompts.with_prompt_ids(load_eval_rows(config.data))
    if not rows:
        raise DataError("no held-out rows: set data.eval_source (or use data.source=builtin:arith)")
    runtime = Runtime(config, total_optimizer_steps=0, policy_path=resolve_model_path(checkpoint), roles=("rollout",))
    try:
        max_tokens = config.eval.max_tokens or config.rollout.max_tokens
        metrics, report = evaluate(runtime, rows, max_tokens, config.data.eval_languages)
    finally:
        runtime.shutdown()
    report = {"checkpoint": checkpoint, "metrics": metrics, **report}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    report_tables(report, Path(checkpoint).name)
    print(f"report: {path}")
    return report
