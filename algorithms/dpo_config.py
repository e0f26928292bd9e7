"""The configs of iterative DPO (algorithms/iterative_dpo.py) and what it shares with step-wise DPO: the iterations,
the optimizer schedule and the DPO loss (DPOIterationsConfig), plus the pair builder."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializeAsAny, field_validator, model_validator

from algorithms.pairs import PAIR_BUILDERS, PairBuilderConfig
from rlcore.config import ConfigError, NamedSection, RunConfig, validate_named


class DPOIterationsConfig(NamedSection):  # not an AlgorithmConfig: its `steps` are per iteration and optional
    """What every iterative DPO algorithm shares: iterations, the optimizer schedule and the DPO loss."""

    steps: int | None = Field(
        None, ge=1, description="Optimizer steps per iteration; None = `epochs` passes over that iteration's pairs."
    )
    iterations: int = Field(2, ge=1, description="Rounds of generate → pair → train → sync (T).")
    prompts_per_iteration: int = Field(256, ge=1, description="Prompts the pairs are made from per iteration.")
    reference: Literal["initial", "previous"] = Field(
        "initial", description="π_ref: the initial model (reference workers) or the iteration's starting policy."
    )
    loss_type: Literal["sigmoid", "ipo", "sppo_hard"] = Field(
        "sigmoid", description="Preference loss: DPO (sigmoid), IPO, or SPPO with hard win probabilities."
    )
    beta: float = Field(0.1, gt=0, description="β: strength of the implicit KL to π_ref.")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="ε of conservative DPO: assumed label-noise rate.")
    nll_alpha: float = Field(0.0, ge=0, description="Weight of the length-normalised NLL of the chosen response.")
    length_normalized: bool = Field(False, description="Divide h by the response length (TRL's IPO).")
    epochs: int = Field(1, ge=1, description="Passes over each iteration's pairs (when steps is None).")
    pairs_per_step: int = Field(16, ge=1, description="Pairs per optimizer step, over all learner ranks.")
    temperature: float | None = Field(None, ge=0, description="Sampling temperature; None = rollout.temperature.")

    def validate_sizes(self, run: RunConfig) -> None:
        """Pair losses train a pair's two rows together, and every learner rank needs pairs in each step."""
        if run.learner.micro_batch_size % 2:
            raise ConfigError(
                f"learner.micro_batch_size: DPO trains a pair's two rows together, so it must be even; "
                f"got {run.learner.micro_batch_size}"
            )
        if self.pairs_per_step < run.learner.num_workers:
            raise ConfigError(
                f"algorithm.pairs_per_step: {self.pairs_per_step} pairs cannot feed learner.num_workers = "
                f"{run.learner.num_workers} ranks; use at least one pair per rank"
            )


class IterativeDPOConfig(DPOIterationsConfig):
    pair_builder: SerializeAsAny[PairBuilderConfig] = Field(
        default_factory=lambda: {"name": "reward_ranked"},
        validate_default=True,
        description="How pairs are made; `name` selects a pair builder, its other keys are that builder's config.",
        json_schema_extra={"registry": "pair_builders"},
    )
    pair_file: str | None = Field(
        None,
        description="Offline DPO: train on this JSONL of prompt/chosen/rejected (one iteration, nothing generated).",
    )

    @field_validator("pair_builder", mode="before")
    @classmethod
    def _builder_config(cls, value: Any) -> Any:
        return validate_named(value, lambda name: PAIR_BUILDERS.get(name).Config, default="reward_ranked")

    @model_validator(mode="after")
    def _offline_is_one_iteration(self) -> IterativeDPOConfig:
        if self.pair_file and self.iterations != 1:
            raise ValueError(f"with a pair_file (offline DPO) iterations must be 1, got {self.iterations}")
        return self
