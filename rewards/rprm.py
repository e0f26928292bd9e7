"""R-PRM, the generative process reward model (METHODS.md §4), as a reward: for every step of a sample, K critiques
sampled from the PRM, each cut after the verdict question, and the step's score is the mean P(Yes) over those that
reached the verdict line (the others are dropped and counted). A whole solution's reward aggregates its step scores
(min, last or mean); a sample that carries `prm_previous_steps` is ONE candidate step after those steps (how the
`prm` step judge asks for candidates of a search round).

    steps    = [(question, steps[:i], steps[i]) for every sample, for every step i]   # all samples of the call
    critiques = PRM.sample(critique_prompt(step), n=K, stop="...(Yes/No)?")          # ONE generate call
    P(Yes)   = PRM.next_token(prompt + critique, only " Yes"/" No")                   # ONE more call
    score(step) = mean P(Yes);  reward(sample) = aggregate(step scores)

With `batched: false` every critique is one request (two engine calls each): the baseline of the throughput
benchmark, not a setting for training."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from pydantic import Field

from rewards.base import Reward, RewardConfig
from rewards.rprm_engine import CritiqueSampling, EngineSettings, PRMEngine
from rlcore.chat import PromptFormatter
from rlcore.config import ModelDtype
from rlcore.engine_env import vllm_env
from rlcore.modeling import resolve_model_path
from rlcore.prm import StepScore, critique_prompt, cut_at_verdict, mean_p_yes
from rlcore.registry import REWARDS
from rlcore.steps import DEFAULT_DELIMITER, Aggregation, aggregate, split_steps

log = logging.getLogger(__name__)
PREVIOUS_STEPS = "prm_previous_steps"  # a sample column: score the response as one step after these


class RPRMConfig(RewardConfig):
    model_path: str = Field(..., description="The PRM: a model dir, a run dir (its newest checkpoint) or builtin.")
    template: Literal["rprm", "compact"] = Field(
        "rprm", description="Critique prompt: R-PRM's five-part analysis, or a short one for small context windows."
    )
    chat_template: str = Field("auto", description="How the PRM's prompt is rendered: auto, none or a template file.")
    critiques: int = Field(10, ge=1, description="K: critiques sampled per step; the step score is their mean P(Yes).")
    temperature: float = Field(0.95, ge=0, description="Sampling temperature of the critiques.")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling of the critiques.")
    max_critique_tokens: int = Field(1024, ge=1, description="Longest critique, in tokens, before its verdict.")
    delimiter: str = Field(DEFAULT_DELIMITER, min_length=1, description="Step delimiter of the scored solutions.")
    aggregation: Aggregation = Field("min", description="A solution's reward from its step scores: min, last, mean.")
    unscored_step_score: float = Field(
        0.5,
        description="Score of a step none of whose critiques reached the verdict line (or whose prompt is too long).",
    )
    empty_score: float = Field(0.0, description="Reward of a response without any step.")
    batched: bool = Field(True, description="All critiques of a call in one request set; false: one at a time.")
    dtype: ModelDtype = Field("float32", description="Weights of the PRM's vLLM engine.")
    max_model_len: int = Field(4096, ge=16, description="Longest prompt + critique the PRM's engine accepts.")
    kv_cache_gib: float = Field(1.0, gt=0, description="CPU only: the PRM engine's KV-cache size.")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="GPU only: share of the GPU for the PRM.")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs the PRM's engine shards its model over.")
    seed: int = Field(0, description="The PRM engine's sampling seed.")
    timeout_s: float = Field(1800.0, gt=0, description="Seconds one scoring call may take (K critiques per step).")
    num_cpus: float = Field(1.0, ge=0, description="Ray CPUs reserved per reward worker.")

    def worker_env(self) -> dict[str, str]:
        """The reward worker's process environment: the PRM's vLLM engine runs in it."""
        return vllm_env(on_gpu=self.num_gpus > 0, kv_cache_gib=self.kv_cache_gib)


@dataclass(frozen=True)
class StepItem:
    """One step to score: the question, the accepted steps before it and the step."""

    question: str
    previous: tuple[str, ...]
    step: str


@dataclass
class ScoringCounts:
    steps: int = 0
    critiques: int = 0
    without_verdict: int = 0
    too_long: int = 0
    engine_calls: int = 0


@REWARDS.register("rprm")
class RPRM(Reward):
    Config = RPRMConfig
    config: RPRMConfig

    def __init__(self, config: RPRMConfig, engine: PRMEngine | None = None):
        """`engine`: a started one (tests script it); by default the PRM's own vLLM engine in this process."""
        super().__init__(config)
        self.engine = engine or PRMEngine(
            EngineSettings(
                resolve_model_path(config.model_path),
                config.dtype,
                config.max_model_len,
                config.seed,
                config.gpu_memory_utilization,
                config.tensor_parallel_size,
                on_gpu=torch.cuda.is_available(),  # Ray shows the worker the GPUs it was given (none on CPU)
            )
        )
        self.prompts = PromptFormatter(self.engine.tokenizer, config.chat_template)
        self.sampling = CritiqueSampling(config.critiques, config.temperature, config.top_p, config.max_critique_tokens)
        self.counts = ScoringCounts()

    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        items, owners = [], []
        for index, sample in enumerate(samples):
            for item in self.items_of(sample):
                items.append(item)
                owners.append(index)
        scores = self.score_items(items)
        per_sample: list[list[float]] = [[] for _ in samples]
        for owner, step in zip(owners, scores, strict=True):
            per_sample[owner].append(self.config.unscored_step_score if step.score is None else step.score)
        return [aggregate(steps, self.config.aggregation) if steps else self.config.empty_score for steps in per_sample]

    def items_of(self, sample: dict[str, Any]) -> list[StepItem]:
        """The steps of a sample to score: its one candidate step, or every step of its solution."""
        # The question as data rows hold it (`question`: the plain text the PRM was trained on), else the prompt.
        question, text = str(sample.get("question") or sample["prompt"]).strip(), str(sample["response_text"])
        if sample.get(PREVIOUS_STEPS) is not None:
            step = text.strip()
            return [StepItem(question, tuple(sample[PREVIOUS_STEPS]), step)] if step else []
        steps = split_steps(text, self.config.delimiter)
        return [StepItem(question, tuple(steps[:i]), steps[i]) for i in range(len(steps))]

    def score_items(self, items: Sequence[StepItem]) -> list[StepScore]:
        """Mean P(Yes) over K critiques of each step (batched: two engine calls for all of them)."""
        if not items:
            return []
        calls_before = self.engine.calls
        prompts = [self.prompts.encode(self.prompt_text(item)).ids for item in items]
        limit = self.config.max_model_len - self.config.max_critique_tokens - len(self.engine.verdict.prefix_ids) - 1
        fits = [len(prompt) <= limit for prompt in prompts]
        sent = [prompt for prompt, ok in zip(prompts, fits, strict=True) if ok]
        if self.config.batched:
            values = iter(self.p_yes_batched(sent))
        else:
            values = iter([self.p_yes_one_at_a_time(prompt) for prompt in sent])
        scores = [mean_p_yes(next(values)) if ok else StepScore(None, 0, 0) for ok in fits]
        counts = self.counts
        counts.steps += len(items)
        counts.too_long += fits.count(False)
        counts.critiques += len(sent) * self.config.critiques
        counts.without_verdict += sum(score.dropped for score in scores)
        counts.engine_calls += self.engine.calls - calls_before
        if not all(fits):
            log.warning(
                "rprm: %d of %d step prompts exceed %d tokens: scored as unscored", fits.count(False), len(fits), limit
            )
        return scores

    def prompt_text(self, item: StepItem) -> str:
        return critique_prompt(item.question, item.previous, item.step, self.config.template)

    def p_yes_batched(self, prompts: Sequence[Sequence[int]]) -> list[list[float | None]]:
        """Per prompt, P(Yes) of each of its K critiques (None without a verdict): two engine calls in all."""
        if not prompts:
            return []
        critiques = self.engine.critiques(prompts, self.sampling)
        contexts, where = [], []
        for p, (prompt, samples) in enumerate(zip(prompts, critiques, strict=True)):
            for c, critique in enumerate(samples):
                context = self.verdict_context(prompt, critique)
                if context is not None:
                    contexts.append(context)
                    where.append((p, c))
        values: list[list[float | None]] = [[None] * len(samples) for samples in critiques]
        for (p, c), value in zip(where, self.engine.p_yes(contexts) if contexts else [], strict=True):
            values[p][c] = value
        return values

    def p_yes_one_at_a_time(self, prompt: Sequence[int]) -> list[float | None]:
        """The same for one prompt, one critique per request (the baseline the benchmark compares against)."""
        one = CritiqueSampling(1, self.sampling.temperature, self.sampling.top_p, self.sampling.max_tokens)
        values: list[float | None] = []
        for _ in range(self.sampling.k):
            critique = self.engine.critiques([prompt], one)[0][0]
            context = self.verdict_context(prompt, critique)
            values.append(None if context is None else self.engine.p_yes([context])[0])
        return values

    def verdict_context(self, prompt: Sequence[int], critique: Sequence[int]) -> list[int] | None:
        """Prompt + the critique cut right after its verdict question, tokenized as the PRM was trained on it (the
        critique's text re-encoded); None when the critique never reached the verdict question."""
        cut = cut_at_verdict(self.engine.decode(critique))
        if cut is None:
            return None
        return [*prompt, *self.engine.tokenizer.encode(cut, add_special_tokens=False)]
