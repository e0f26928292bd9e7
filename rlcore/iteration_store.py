"""The data of an iterative run on disk: iterations/iter_<t>/{generations,pairs}.jsonl and summary.json.

An iteration's files are written once, pairs last, so that pairs.jsonl exists only when the iteration's data is
complete; a resumed run reloads them instead of generating again. A fresh run moves
an older run's directory aside as a whole (rlcore/run_dir.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlcore.pair_files import read_jsonl, write_jsonl


class IterationStore:
    def __init__(self, run_dir: Path):
        self.root = Path(run_dir) / "iterations"

    def folder(self, iteration: int) -> Path:
        return self.root / f"iter_{iteration}"

    def has(self, iteration: int) -> bool:
        return (self.folder(iteration) / "pairs.jsonl").exists()

    def num_pairs(self, iteration: int) -> int | None:
        return self.summary(iteration)["pairs"] if self.has(iteration) else None

    def summary(self, iteration: int) -> dict[str, Any]:
        return json.loads((self.folder(iteration) / "summary.json").read_text())

    def load(self, iteration: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The pairs and summary of a complete iteration."""
        if not self.has(iteration):
            raise FileNotFoundError(f"cannot resume iteration {iteration}: {self.folder(iteration)} has no pairs.jsonl")
        return read_jsonl(self.folder(iteration) / "pairs.jsonl"), self.summary(iteration)

    def save(
        self,
        iteration: int,
        pairs: list[dict[str, Any]],
        generations: list[dict[str, Any]],
        summary: dict[str, Any],
    ) -> None:
        """Write iteration `iteration`; its summary.json gets the counts of pairs and generations."""
        folder = self.folder(iteration)
        folder.mkdir(parents=True, exist_ok=True)
        write_jsonl(folder / "generations.jsonl", generations)
        summary = {"iteration": iteration, "pairs": len(pairs), "generations": len(generations), **summary}
        (folder / "summary.json").write_text(json.dumps(summary, indent=2))
        write_jsonl(folder / "pairs.jsonl", pairs)  # last: its presence means the iteration's data is complete
