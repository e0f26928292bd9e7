"""Step-wise DPO (METHODS.md §3: process-based self-rewarding); each iteration is a round of the DPO loop of
algorithms/dpo_iterations.py:

    for t = 1..T:
        prompts = data.next(prompts_per_iteration)
        judge   = build(judge)                          # policy_judge: π_t on the rollout engine judges itself
        paths   = step_search(π_t, judge, prompts, k)   # per round: k next steps per open question, ONE generate call,
                                                        # ONE judge call; keep the best step, continue to the answer
        pairs   = [(question + prefix, best step, worst step) for every round of every path, ties skipped]
        DPO on the pairs (learner group); sync(π_{t+1} -> rollout); evaluate; checkpoint

π_{t+1} is the next iteration's policy and, with `policy_judge`, its judge. Every iteration's searched solutions
(all candidates and their scores) and pairs are kept in the iteration store; a run resumes inside an iteration
with the same pairs."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SerializeAsAny, field_validator

from actors.step_search import SearchSettings, step_search
from algorithms.base import ALGORITHMS
from algorithms.dpo_config import DPOIterationsConfig
from algorithms.dpo_iterations import DPOIterations
from algorithms.pairs import BuildResult
from algorithms.search_eval import search_checkpoint
from algorithms.stepwise_pairs import stepwise_pairs
from rewards.step_judge import StepJudgeBase
from rlcore.config import ConfigError, NamedSection, RunConfig, validate_named
from rlcore.registry import STEP_JUDGES
from rlcore.steps import DEFAULT_DELIMITER, JudgeContext, build_step_judge


class StepwiseDPOConfig(DPOIterationsConfig):
    candidates: int = Field(8, ge=2, description="k: candidate next steps sampled per question and search round.")
    max_steps: int = Field(30, ge=1, description="Step limit of a question's search (its rounds).")
    delimiter: str = Field(
        DEFAULT_DELIMITER, min_length=1, description='Step delimiter (a blank line; "\\n" for the embedded world).'
    )
    step_max_tokens: int = Field(256, ge=1, description="Longest candidate step, in tokens.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling of the candidate steps.")
    judge: SerializeAsAny[NamedSection] = Field(
        default_factory=lambda: {"name": "policy_judge"},
        validate_default=True,
        description="The step judge; `name` selects it (policy_judge: the policy itself), its other keys its config.",
        json_schema_extra={"registry": "step_judges"},
    )

    @field_validator("judge", mode="before")
    @classmethod
    def _judge_config(cls, value: Any) -> Any:
        return validate_named(value, lambda name: STEP_JUDGES.get(name).Config, default="policy_judge")

    def validate_sizes(self, run: RunConfig) -> None:
        super().validate_sizes(run)
        longest = self.max_steps * self.step_max_tokens
        if longest >= run.rollout.max_model_len:
            raise ConfigError(
                f"algorithm.max_steps × step_max_tokens = {longest} tokens of steps leave no room for the question "
                f"in rollout.max_model_len = {run.rollout.max_model_len}: the search's prompts grow a step a round"
            )

    def search_settings(self, run: RunConfig) -> SearchSettings:
        """The search's settings; candidates sample at `temperature`, else at the run's rollout temperature."""
        temperature = self.temperature if self.temperature is not None else run.rollout.temperature
        return SearchSettings(
            self.candidates, self.max_steps, self.delimiter, self.step_max_tokens, temperature, self.top_p
        )


@ALGORITHMS.register("stepwise_dpo")
class StepwiseDPO(DPOIterations):
    Config = StepwiseDPOConfig
    cfg: StepwiseDPOConfig
    search_checkpoint = staticmethod(search_checkpoint)  # `rlcore search`: the search settings at inference

    def pairs_estimate(self) -> int:  # at most one pair per search round: an upper bound until the pairs exist
        return self.cfg.prompts_per_iteration * self.cfg.max_steps

    def build_pairs(self, iteration: int) -> BuildResult:
        """Search the iteration's prompts with π_t and the judge (π_t itself for policy_judge), pair the steps."""
        cfg, config = self.cfg, self.config
        prompts = self.sampler.next_batch(cfg.prompts_per_iteration)
        context = JudgeContext(self.runtime, self.prompts, config.rollout.max_model_len, scorer=self.runtime)
        judge = build_step_judge(cfg.judge.model_dump(), context)
        with self.phase("generate"):
            paths, stats = step_search(self.runtime, judge, prompts, cfg.search_settings(config))
        built = stepwise_pairs(paths, cfg.delimiter)
        judge_stats = judge.stats() if isinstance(judge, StepJudgeBase) else {}
        built.stats.update({"search_rounds": float(stats.rounds), **judge_stats})
        return built
