"""Run checkpoints: checkpoints/step_N/ holds the policy (Hugging Face format, safetensors), each learner rank's
optimizer/scheduler/RNG state (safetensors + JSON) and trainer_state.json (step, data position, policy version).
A checkpoint counts only once trainer_state.json is written, so a crash mid-save never becomes the resume point."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

TRAINER_STATE = "trainer_state.json"


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
