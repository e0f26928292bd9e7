"""The config of TRANS-ZERO (algorithms/trans_zero.py): the languages of self-play, where monolingual and held-out
parallel data come from, the G-MCTS search, the language check, and the DPO keys it shares with iterative DPO (here
with SPPO-hard, β = 0.1, against the warm-start model, as in the paper)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from algorithms.dpo_config import DPOIterationsConfig
from rewards.gmcts import GMCTSSettings
from rlcore.language_id import DetectorName

BUILTIN_WORLD = "builtin:world"  # the embedded world's corpora and test sets, made in memory (rlcore.world.sentences)


class TransZeroConfig(DPOIterationsConfig):
    """Rounds of G-MCTS self-play on monolingual sources -> SPPO-hard preference training -> validation."""

    prompts_per_iteration: int = Field(
        64, ge=1, description="Monolingual source sentences per round, one G-MCTS tree each (the paper's x)."
    )
    loss_type: Literal["sigmoid", "ipo", "sppo_hard"] = Field(
        "sppo_hard", description="Preference loss; TRANS-ZERO uses SPPO with hard win probabilities."
    )
    source_languages: list[str] = Field(
        default_factory=lambda: ["en", "de"], min_length=1, description="Languages the source sentences are drawn in."
    )
    target_languages: list[str] = Field(
        default_factory=lambda: ["en", "de", "fr"],
        min_length=1,
        description="Languages translated into: each source gets one (seeded) target other than its own language.",
    )
    monolingual: str = Field(
        BUILTIN_WORLD,
        description="Monolingual sources: a path template with {lang} (JSONL rows with `text`, e.g. "
        "data/mono_{lang}.jsonl), or builtin:world (the embedded world's corpora).",
    )
    monolingual_per_language: int = Field(
        2000, ge=1, description="Sources read per language (the first rows of a file; drawn for builtin:world)."
    )
    validation: str = Field(
        BUILTIN_WORLD,
        description="Held-out parallel sets: a path template with {src} and {trg} (JSONL rows with `source` and "
        "`reference`, e.g. data/test_{src}-{trg}.jsonl), or builtin:world (the world's test sets).",
    )
    validation_directions: list[str] | None = Field(
        None, description="Directions validated, as 'src-trg'; None = every self-play direction."
    )
    validation_sentences: int = Field(50, ge=1, description="Held-out sentences per direction (the first rows).")
    validation_seed: int = Field(0, description="builtin:world: the seed that draws the held-out sentences.")
    metric: Literal["chrf", "bleu"] = Field(
        "chrf", description="Similarity of the search's round trips (symmetric); validation reports chrF and BLEU."
    )
    search: GMCTSSettings = Field(
        default_factory=GMCTSSettings, description="G-MCTS (c, initial samples, expansions, depth, bridges, ...)."
    )
    language_detector: DetectorName = Field(
        "world",
        description="The language check of pair extraction: world (the embedded world's lexicon) or lingua "
        "(real languages).",
    )
    max_tokens: int = Field(64, ge=1, description="Longest translation in tokens (search and validation).")
    qe_validation: bool = Field(
        False,
        description="Also score every held-out translation without its reference by the run's reward workers, "
        "which must run the qe reward (e.g. `reward: {name: qe, model: builtin:tiny-qe}`, CometKiwi on real "
        "models): the mean per direction is eval/qe/<src>-<trg>.",
    )

    @model_validator(mode="after")
    def _directions(self) -> TransZeroConfig:
        """Every source has a target, every tree enough bridges, and the validation directions are well formed."""
        for src in self.source_languages:
            if not [trg for trg in self.target_languages if trg != src]:
                raise ValueError(f"source language {src!r} has no target language other than itself")
            for trg in self.target_languages:
                pool = [lang for lang in dict.fromkeys(self.search.bridge_languages) if lang not in (src, trg)]
                if trg != src and len(pool) < self.search.bridges:
                    raise ValueError(
                        f"{src}-{trg}: search.bridge_languages leaves {pool}, fewer than search.bridges = "
                        f"{self.search.bridges}"
                    )
        for direction in self.validation_directions or []:
            src, _, trg = direction.partition("-")
            if not src or not trg or src == trg:
                raise ValueError(f"validation_directions: {direction!r} is not 'src-trg' of two languages")
        return self

    def directions(self) -> list[tuple[str, str]]:
        """The self-play directions (src, trg)."""
        return [(s, t) for s in self.source_languages for t in self.target_languages if s != t]

    def eval_directions(self) -> list[tuple[str, str]]:
        """The validated directions (src, trg)."""
        if self.validation_directions is None:
            return self.directions()
        return [(d.split("-", 1)[0], d.split("-", 1)[1]) for d in self.validation_directions]
