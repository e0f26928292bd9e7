"""The R-PRM's vLLM engine, in the process that hosts the reward (a reward worker): K sampled critiques per step in
one generate call, then P(Yes) for every cut critique in one more call.

P(Yes) is read with vLLM itself, exactly: one decoding position restricted to the two verdict tokens
(`allowed_token_ids`) with the engine's processed log-probs at temperature 1, so the two returned log-probs are the
softmax over the logits of " Yes" and " No" (checked against a transformers forward pass in the tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rlcore.config import ModelDtype
from rlcore.prm import VERDICT_QUESTION, VerdictTokens, p_yes, verdict_tokens


@dataclass(frozen=True)
class EngineSettings:
    """How the PRM's engine is started (its model, context and memory)."""

    model_path: str
    dtype: ModelDtype = "float32"
    max_model_len: int = 4096
    seed: int = 0
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    enforce_eager: bool = True
    on_gpu: bool = False


@dataclass(frozen=True)
class CritiqueSampling:
    """Sampling of the critiques (R-PRM: K = 10, temperature 0.95, top-p 0.95)."""

    k: int
    temperature: float
    top_p: float
    max_tokens: int


class PRMEngine:
    """A vLLM engine of the PRM model: critiques stop at (and keep) the verdict question."""

    def __init__(self, settings: EngineSettings):
        from vllm import LLM

        options: dict[str, Any] = {"gpu_memory_utilization": settings.gpu_memory_utilization} if settings.on_gpu else {}
        if settings.tensor_parallel_size > 1:
            # The reward worker's actor holds all the engine's GPUs (one bundle), so vLLM's own processes use them; in
            # a placement group vLLM would pick its Ray executor, which refuses a bundle of more than one GPU.
            options["distributed_executor_backend"] = "mp"
        self.llm = LLM(
            model=settings.model_path,
            dtype=settings.dtype,
            seed=settings.seed,
            max_model_len=settings.max_model_len,
            tensor_parallel_size=settings.tensor_parallel_size,
            enforce_eager=settings.enforce_eager,
            enable_prefix_caching=True,  # the K critiques of a step, and the verdict reads, share their prompt
            logprobs_mode="processed_logprobs",  # after the two-token restriction: exactly the verdict softmax
            **options,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.verdict: VerdictTokens = verdict_tokens(self.tokenizer)
        self.max_model_len = settings.max_model_len
        self.calls = 0

    def critiques(self, prompts: Sequence[Sequence[int]], sampling: CritiqueSampling) -> list[list[list[int]]]:
        """K critiques (token ids, cut after the verdict question when they reach it) per prompt, one call."""
        from vllm import SamplingParams

        params = SamplingParams(
            n=sampling.k,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            stop=[VERDICT_QUESTION],
            include_stop_str_in_output=True,
        )
        outputs = self._generate(prompts, params)
        return [[list(sample.token_ids) for sample in output.outputs] for output in outputs]

    def p_yes(self, contexts: Sequence[Sequence[int]]) -> list[float]:
        """P(Yes) after each context (prompt + critique cut at the verdict question), one call."""
        from vllm import SamplingParams

        verdict = self.verdict
        params = SamplingParams(
            max_tokens=1, temperature=1.0, logprobs=2, allowed_token_ids=[verdict.yes_id, verdict.no_id]
        )
        outputs = self._generate([[*context, *verdict.prefix_ids] for context in contexts], params)
        scores = []
        for output in outputs:
            logprobs = output.outputs[0].logprobs[0]
            scores.append(p_yes(logprobs[verdict.yes_id].logprob, logprobs[verdict.no_id].logprob))
        return scores

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def _generate(self, prompts: Sequence[Sequence[int]], params: Any) -> list[Any]:
        from vllm.inputs import TokensPrompt

        self.calls += 1
        requests = [TokensPrompt(prompt_token_ids=list(ids)) for ids in prompts]
        return list(self.llm.generate(requests, sampling_params=params, use_tqdm=False))
