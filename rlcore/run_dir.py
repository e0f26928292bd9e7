"""One run per run directory: a fresh run (`run.resume: false`) into a directory that holds an earlier run moves that
run aside to a sibling `<name>.replaced-<timestamp>` (the convention of the iteration store's data), so nothing of
it is appended to, pruned or resumed from; a start that fails puts it back."""

from __future__ import annotations

import logging
import time
from pathlib import Path

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
