"""Run checkpoints: checkpoints/step_N/ holds the policy (Hugging Face format, safetensors), each learner rank's
optimizer/scheduler/RNG state (safetensors + JSON), trainer_state.json (step, data position, policy version) and
manifest.json (every file's size, and its sha256 unless `checkpoint.verify: size`).

A checkpoint is written into `step_N.tmp-<pid>` and renamed to `step_N` only once complete, manifest last, so a kill
mid-write leaves a leftover that is never resumed from (and is removed by the next save). Resume verifies the newest
checkpoint against its manifest and falls back to the newest valid one, saying which it skipped and why."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Literal

TRAINER_STATE = "trainer_state.json"
MANIFEST = "manifest.json"
STEP_DIR = re.compile(r"step_(\d+)")
log = logging.getLogger(__name__)


class NoValidCheckpoint(FileNotFoundError):
    """Checkpoints exist, but every one failed verification."""


def sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def write_manifest(folder: Path, verify: Literal["hash", "size"]) -> None:
    """Record every file of `folder` (relative path -> size, and sha256 when `verify` is hash)."""
    files: dict[str, dict[str, Any]] = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        entry: dict[str, Any] = {"size": file.stat().st_size}
        if verify == "hash":
            entry["sha256"] = sha256(file)
        files[file.relative_to(folder).as_posix()] = entry
    (folder / MANIFEST).write_text(json.dumps({"files": files}, indent=1))


def problem(folder: Path) -> str | None:
    """Why checkpoint `folder` cannot be used (None: it matches its manifest, or predates manifests)."""
    if not (folder / TRAINER_STATE).is_file():
        return f"no {TRAINER_STATE} (an incomplete write)"
    if not (folder / MANIFEST).is_file():
        return None  # written before manifests existed: accepted, with a warning from `latest`
    try:
        files = json.loads((folder / MANIFEST).read_text())["files"]
    except (ValueError, KeyError) as error:
        return f"unreadable {MANIFEST} ({error})"
    for name, entry in files.items():
        file = folder / name
        if not file.is_file():
            return f"{name} is missing"
        if (size := file.stat().st_size) != entry["size"]:
            return f"{name} has {size} bytes, the manifest says {entry['size']} (truncated or overwritten)"
        if "sha256" in entry and sha256(file) != entry["sha256"]:
            return f"{name} does not match its sha256 in the manifest (corrupted)"
    return None


class CheckpointManager:
    def __init__(self, run_dir: Path, keep_last: int, verify: Literal["hash", "size"] = "hash"):
        self.root = Path(run_dir) / "checkpoints"
        self.keep_last = keep_last
        self.verify = verify

    def path(self, step: int) -> Path:
        return self.root / f"step_{step}"

    def complete(self) -> list[tuple[int, Path]]:
        """Every renamed-into-place `step_N` folder, oldest first (not yet verified)."""
        found = [(int(m.group(1)), p) for p in self.root.glob("step_*") if (m := STEP_DIR.fullmatch(p.name))]
        return sorted(found)

    def latest(self) -> Path | None:
        """The newest checkpoint that passes verification, warning about each newer one skipped; None if there are
        no checkpoints, NoValidCheckpoint if there are but none is valid."""
        skipped = []
        for _, path in reversed(self.complete()):
            if (reason := problem(path)) is None:
                if not (path / MANIFEST).exists():
                    log.warning("checkpoint %s has no %s (written by an older rlcore): used unverified", path, MANIFEST)
                return path
            log.warning("skipping checkpoint %s: %s", path, reason)
            skipped.append(f"{path.name}: {reason}")
        if skipped:
            raise NoValidCheckpoint(f"no valid checkpoint in {self.root}: " + "; ".join(skipped))
        return None

    def save(self, step: int, runtime: Any, sampler: Any, sampler_state: dict[str, Any] | None = None) -> Path:
        """Checkpoint `step`: the runtime's policy and training state, the sampler's position (`sampler_state` when
        given: where a resume draws again), the policy version."""
        self.remove_leftovers()
        staging = self.root / f"step_{step}.tmp-{os.getpid()}"
        runtime.save_checkpoint(staging)
        position = sampler.state() if sampler_state is None else sampler_state
        return self.finish(step, staging, {"sampler": position, "policy_version": runtime.policy_version})

    def finish(self, step: int, staging: Path, trainer_state: dict[str, Any]) -> Path:
        """Complete the checkpoint written into `staging`: trainer state, manifest, rename to step_N, prune."""
        staging.mkdir(parents=True, exist_ok=True)
        (staging / TRAINER_STATE).write_text(json.dumps({"step": step, **trainer_state}, indent=2))
        write_manifest(staging, self.verify)
        path = self.path(step)
        if path.exists():  # the same step again: a run resumed before it (after skipping it, or from an older one)
            shutil.rmtree(path)
        staging.rename(path)
        # Only checkpoints up to this step are pruned: a newer one can only be one the resume skipped as invalid.
        for _, old in [(s, p) for s, p in self.complete() if s <= step][: -self.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        return path

    def remove_leftovers(self) -> None:
        for leftover in self.root.glob("step_*.tmp-*"):
            log.warning("removing %s, left by an interrupted checkpoint write", leftover)
            shutil.rmtree(leftover, ignore_errors=True)

    @staticmethod
    def trainer_state(path: Path) -> dict[str, Any]:
        return json.loads((Path(path) / TRAINER_STATE).read_text())

    @classmethod
    def restore(cls, path: Path, runtime: Any, sampler: Any) -> int:
        """Put the runtime and sampler back where checkpoint `path` left them; returns the step it was taken at."""
        state = cls.trainer_state(path)
        sampler.load_state(state["sampler"])
        runtime.set_policy_version(state["policy_version"])
        optimizer = "restored" if runtime.load_training_state(path) else "not saved, starting fresh"
        log.info("resumed from %s at step %d (optimizer state %s)", path, state["step"], optimizer)
        return state["step"]
