"""The pair-builder interface: turn prompts into (prompt, chosen, rejected) pairs with the policy's own samples.

A builder is one small module: a `Config` (selected by `algorithm.pair_builder.name`) and `build(prompts, ctx)`,
which uses the run's workers through `PairContext` (generate with the current policy, score with the run's
reward) and returns the pairs plus every generation it made, so that each iteration can be read afterwards.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from rlcore.batch import Batch
from rlcore.chat import PromptFormatter, response_ids
from rlcore.config import ConfigError, NamedSection


class PairBuilderConfig(NamedSection):
    samples_per_prompt: int = Field(1, ge=1, description="Responses sampled per prompt.")


@dataclass
class PairContext:
    """What a builder may use: the run's workers, the sampling settings and the prompt formatting of the run.

    Prompt rows without `prompt_ids` are formatted here (rlcore.chat, `chat_template`) before they go to the
    workers; with no tokenizer (hand-made runtimes in examples) they go as text."""

    runtime: Any
    sampling: dict[str, Any]
    tokenizer: Any
    rows_by_key: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (id, language) -> row
    chat_template: str = "auto"

    def __post_init__(self) -> None:
        self.prompts = PromptFormatter(self.tokenizer, self.chat_template) if self.tokenizer is not None else None

    def generate(self, rows: Sequence[dict[str, Any]], n: int, **sampling: Any) -> list[dict[str, Any]]:
        """n samples per row from the current policy, as dicts (row keys + prompt_ids, response_ids, text...)."""
        if not rows:
            return []
        prompts = [_prompt_only(row) for row in rows]
        if self.prompts is not None:
            prompts = self.prompts.with_prompt_ids(prompts)
        samples = self.runtime.generate(Batch.from_rows(prompts), n=n, sampling={**self.sampling, **sampling})
        return samples.rows()

    def prompt_ids(self, row: dict[str, Any]) -> list[int]:
        """The token ids of a prompt row (e.g. one whose user turn a builder rewrote), formatted as for generation."""
        assert self.prompts is not None, "PairContext needs a tokenizer to encode prompts"
        return self.prompts.with_prompt_ids([row])[0]["prompt_ids"]

    def score(self, samples: list[dict[str, Any]]) -> np.ndarray:
        """The run's reward for each sample (failed scorings get the reward's failure_score)."""
        if not samples:
            return np.zeros(0, np.float32)
        scored = self.runtime.score(Batch.from_rows(samples))
        return np.asarray(scored["rewards"], np.float32)

    def token_ids(self, text: str) -> list[int]:
        """Response token ids of a text the policy did not generate token by token (e.g. a translation), + EOS."""
        return response_ids(self.tokenizer, text)


def _prompt_only(row: dict[str, Any]) -> dict[str, Any]:
    """The columns a prompt row carries into generation: plain values, its prompt ids and its message list (no
    other nested structures such as world solution steps)."""
    return {
        key: value
        for key, value in row.items()
        if isinstance(value, (str, int, float, bool)) or key in ("prompt_ids", "messages")
    }


def response(sample: dict[str, Any]) -> dict[str, Any]:
    """A generated response as a pair side: its text and the exact token ids the policy produced."""
    return {"text": sample["response_text"], "ids": list(sample["response_ids"])}


def written(text: str, ctx: PairContext) -> dict[str, Any]:
    """A response the builder wrote (a translation, a refinement used as text): tokenized, EOS appended."""
    return {"text": text, "ids": ctx.token_ids(text)}


def make_pair(
    prompt_row: dict[str, Any], prompt_ids: Sequence[int], chosen: dict[str, Any], rejected: dict[str, Any], **meta: Any
) -> dict[str, Any]:
    return {
        "id": prompt_row.get("id", ""),
        "language": prompt_row.get("language", ""),
        "prompt": prompt_row["prompt"],
        "chosen": chosen["text"],
        "rejected": rejected["text"],
        "prompt_ids": list(prompt_ids),
        "chosen_ids": chosen["ids"],
        "rejected_ids": rejected["ids"],
        **meta,
    }


def generation_record(sample: dict[str, Any], score: float | None = None, **meta: Any) -> dict[str, Any]:
    """One line of generations.jsonl: what was asked, what the policy answered, how it scored."""
    record = {
        "id": sample.get("id", ""),
        "language": sample.get("language", ""),
        "prompt": sample["prompt"],
        "response": sample["response_text"],
        "finish_reason": sample.get("finish_reason", ""),
        **meta,
    }
    if score is not None:
        record["score"] = float(score)
    return record


@dataclass
class BuildResult:
    pairs: list[dict[str, Any]]
    generations: list[dict[str, Any]]
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count (ties, failed translations, ...)
    stats: dict[str, float] = field(default_factory=dict)  # what else the builder chose, e.g. length-control α

    def without_identical(self) -> BuildResult:
        """The pairs whose chosen and rejected responses differ (the others teach nothing)."""
        distinct = [p for p in self.pairs if p["chosen_ids"] != p["rejected_ids"]]
        dropped = {**self.dropped, "identical": len(self.pairs) - len(distinct)}
        return BuildResult(distinct, self.generations, dropped, self.stats)

    def metrics(self, seconds: float) -> dict[str, float]:
        metrics = {"pairs/count": float(len(self.pairs)), "pairs/build_s": seconds}
        metrics.update({f"pairs/dropped_{k}": float(v) for k, v in self.dropped.items()})
        return metrics | {f"pairs/{k}": float(v) for k, v in self.stats.items()}


class PairBuilder(ABC):
    Config: ClassVar[type[PairBuilderConfig]] = PairBuilderConfig

    def __init__(self, config: PairBuilderConfig, train_languages: Sequence[str]):
        if not isinstance(config, self.Config):  # e.g. a config made for another pair builder
            raise ConfigError(f"{type(self).__name__} needs a {self.Config.__name__}: {config!r}")
        self.config = config
        self.train_languages = list(train_languages)

    def prompt_languages(self) -> list[str]:
        """Languages of the prompts the algorithm samples for this builder (others are looked up by id)."""
        return self.train_languages

    @abstractmethod
    def build(self, prompts: list[dict[str, Any]], ctx: PairContext) -> BuildResult:
        """Pairs for these prompts (row dicts with id, language, prompt, answer, ...)."""
