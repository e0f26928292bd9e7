"""Parallel training data: the same questions (same ids) in N languages, and a resumable sampler that fills each
step with a fixed number of prompts, balanced by question id, by language, or not at all."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

from rlcore.data import DataError, PromptSampler

Batching = Literal["question", "language", "random"]


def parallel_rows(rows: Sequence[dict[str, Any]], languages: Sequence[str]) -> list[dict[str, Any]]:
    """The rows whose id exists in every one of `languages` (a question missing a translation is dropped)."""
    have: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        have[row["id"]].add(row["language"])
    wanted = set(languages)
    kept = [row for row in rows if row["language"] in wanted and wanted <= have[row["id"]]]
    if not kept:
        raise DataError(f"no question id is present in all of the languages {list(languages)}")
    return kept


class ParallelSampler:
    """`next_batch(size)` returns exactly `size` rows per step, whatever the number of languages N:

    - question: whole questions, each with all its N language versions, in a seeded order of question ids. When
      N does not divide `size`, the last question of a step is cut and its other versions open the next step
      (so the budget per step stays exact and every version is still trained once per epoch).
    - language: `size / N` rows from each language, each language with its own seeded order; a remainder goes to
      languages in turn (step by step), so the languages get equal shares over time.
    - random: a plain seeded shuffle over all rows (as for GRPO).

    `state()` / `load_state()` make it resumable from a checkpoint (JSON-able)."""

    def __init__(
        self, rows: list[dict[str, Any]], languages: Sequence[str], seed: int, batching: Batching, shuffle: bool = True
    ):
        self.languages, self.batching = list(languages), batching
        self.pending: list[list[str]] = []  # question mode: [id, language] left over from a cut question
        self.turn = 0  # language mode: who gets the remainder next
        self.by_key = {(row["id"], row["language"]): row for row in rows}
        if batching == "question":
            groups = list(dict.fromkeys(row["id"] for row in rows))
            self.samplers = {"": PromptSampler([{"id": g} for g in groups], seed, shuffle)}
        elif batching == "language":
            self.samplers = {
                lang: PromptSampler([r for r in rows if r["language"] == lang], seed + 7919 * i, shuffle)
                for i, lang in enumerate(self.languages)
            }
        else:
            self.samplers = {"": PromptSampler(list(rows), seed, shuffle)}

    def next_batch(self, size: int) -> list[dict[str, Any]]:
        if self.batching == "language":
            return self._by_language(size)
        if self.batching == "random":
            return self.samplers[""].next_batch(size)
        keys: list[tuple[str, str]] = [(key[0], key[1]) for key in self.pending]
        while len(keys) < size:
            qid = self.samplers[""].next_batch(1)[0]["id"]
            keys.extend((qid, lang) for lang in self.languages)
        self.pending = [list(key) for key in keys[size:]]
        return [self.by_key[key] for key in keys[:size]]

    def _by_language(self, size: int) -> list[dict[str, Any]]:
        n = len(self.languages)
        share, remainder = divmod(size, n)
        extra = {self.languages[(self.turn + i) % n] for i in range(remainder)}
        self.turn = (self.turn + remainder) % n
        out: list[dict[str, Any]] = []
        for lang in self.languages:
            count = share + (lang in extra)
            if count:
                out.extend(self.samplers[lang].next_batch(count))
        return out

    def state(self) -> dict[str, Any]:
        return {
            "samplers": {name: s.state() for name, s in self.samplers.items()},
            "pending": self.pending,
            "turn": self.turn,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for name, sampler_state in state["samplers"].items():
            self.samplers[name].load_state(sampler_state)
        self.pending, self.turn = [list(key) for key in state["pending"]], int(state["turn"])
