"""One run per run directory: a fresh run (`run.resume: false`) into a directory that holds an earlier run moves that
run aside to a sibling `<name>.replaced-<timestamp>`, so nothing of it is appended to, pruned or resumed from; a start
that fails puts it back. A resumed run forgets the metrics rows logged after the checkpoint it resumes from."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from rlcore.metrics.sinks import METRICS_FILE

log = logging.getLogger(__name__)

# What a run leaves in its directory; a directory holding none of them (empty, or only the user's files) is reused.
RUN_MARKERS = ("config.yaml", "metrics.jsonl", "summary.json", "checkpoints", "iterations", "eval")


def set_aside(path: Path, why: str) -> Path | None:
    """Rename `path` to a free sibling `<name>.replaced-<timestamp>[-k]`; returns the new name (None if no `path`)."""
    path = Path(path)
    if not path.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.name}.replaced-{stamp}")
    extra = 1
    while kept.exists():  # two fresh runs in the same second
        extra += 1
        kept = path.with_name(f"{path.name}.replaced-{stamp}-{extra}")
    path.rename(kept)
    log.warning("%s: moved %s to %s", why, path, kept)
    return kept


def holds_a_run(run_dir: Path) -> bool:
    return any((Path(run_dir) / marker).exists() for marker in RUN_MARKERS)


def set_aside_previous_run(run_dir: Path) -> Path | None:
    """Move a previous run in `run_dir` out of the way of a fresh one; returns where it went (None: nothing there)."""
    if not holds_a_run(run_dir):
        return None
    return set_aside(run_dir, "run.resume is off and the run directory holds a previous run")


def put_back(run_dir: Path, kept: Path) -> None:
    """Undo `set_aside_previous_run` after a failed start (the failed start's own directory is already removed)."""
    if not Path(run_dir).exists():
        Path(kept).rename(run_dir)
        log.warning("the run did not start: moved the previous run back to %s", run_dir)


def forget_metrics_after(run_dir: Path, step: int) -> None:
    """Drop the metrics rows of steps after `step` (all of them when `step` is 0: the run starts over), which a
    resumed run logs again; unparsable (half-written) lines go too."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if step and (logged := _step_of(line)) is not None and logged <= step]
    if len(kept) < len(lines):
        staging = path.with_name(path.name + ".tmp")
        staging.write_text("".join(kept), encoding="utf-8")
        staging.replace(path)
        log.info("resuming after step %d: dropped %d metrics rows logged after it", step, len(lines) - len(kept))


def _step_of(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None
