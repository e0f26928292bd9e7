"""Run checkpoints: checkpoints/step_N/ holds the policy (Hugging Face format, safetensors), each learner rank's
optimizer/scheduler/RNG state (safetensors + JSON) and trainer_state.json (step, data position, policy version).
A checkpoint counts only once trainer_state.json is written, so a crash mid-save never becomes the resume point."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

TRAINER_STATE = "trainer_state.json"
log = logging.getLogger(__name__)


class CheckpointManager:
    def __init__(self, run_dir: Path, keep_last: int):
        self.root = Path(run_dir) / "checkpoints"
        self.keep_last = keep_last

    def path(self, step: int) -> Path:
        return self.root / f"step_{step}"

    def complete(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.root.glob("step_*"):
            match = re.fullmatch(r"step_(\d+)", path.name)
            if match and (path / TRAINER_STATE).exists():
                found.append((int(match.group(1)), path))
        return sorted(found)

    def latest(self) -> Path | None:
        done = self.complete()
        return done[-1][1] if done else None

    def finish(self, step: int, trainer_state: dict[str, Any]) -> Path:
        """Mark step_N complete (written last, atomically) and prune older complete checkpoints."""
        path = self.path(step)
        path.mkdir(parents=True, exist_ok=True)
        temporary = path / (TRAINER_STATE + ".tmp")
        temporary.write_text(json.dumps({"step": step, **trainer_state}, indent=2))
        temporary.replace(path / TRAINER_STATE)
        for _, old in self.complete()[: -self.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        return path

    @staticmethod
    def trainer_state(path: Path) -> dict[str, Any]:
        return json.loads((Path(path) / TRAINER_STATE).read_text())

    def save(self, step: int, runtime: Any, sampler: Any) -> Path:
        """Checkpoint `step`: the runtime's policy and training state, the sampler's position, the policy version."""
        runtime.save_checkpoint(self.path(step))
        return self.finish(step, {"sampler": sampler.state(), "policy_version": runtime.policy_version})

    @classmethod
    def restore(cls, path: Path, runtime: Any, sampler: Any) -> int:
        """Put the runtime and sampler back where checkpoint `path` left them; returns the step it was taken at."""
        state = cls.trainer_state(path)
        sampler.load_state(state["sampler"])
        runtime.set_policy_version(state["policy_version"])
        optimizer = "restored" if runtime.load_training_state(path) else "not saved, starting fresh"
        log.info("resumed from %s at step %d (optimizer state %s)", path, state["step"], optimizer)
        return state["step"]
