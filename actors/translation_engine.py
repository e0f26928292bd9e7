"""A TranslationEngine (rlcore/translation.py, the protocol G-MCTS searches with) over any rollout `Generator`.

Requests become translation prompts (in-context examples included, rlcore.translation.translation_prompt), encoded
by the run's prompt encoder; decoding stops at the first newline, since a translation is one line. Samples come
back as each request's texts (the first line of each output) and their mean token log-probs.

Batching: the rollout verb takes one sampling setting per call, so requests are grouped by temperature, one
generate call per DISTINCT temperature (in order of first appearance); G-MCTS sends one temperature per engine call,
so that is one call. Within a call, requests that all ask for the same n go out once each with that n; mixed n are
sent as n=1 rows repeated req.n times (independent draws either way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from rlcore.batch import Batch
from rlcore.evaluation import Generator
from rlcore.translation import TranslateRequest, Translation, parse_translation, request_prompt


class Encoded(Protocol):
    @property
    def ids(self) -> list[int]: ...


class PromptEncoder(Protocol):
    """rlcore.chat.PromptFormatter or anything with its `encode(text).ids`."""

    def encode(self, prompt: str) -> Encoded: ...


class GeneratorTranslationEngine:
    """Translate with a generator (the training Runtime, rollout-only workers, or a scripted one in tests)."""

    def __init__(
        self,
        generator: Generator,
        encoder: PromptEncoder | None = None,
        max_tokens: int = 64,
        prompt: Callable[[TranslateRequest], str] = request_prompt,
        sampling: dict[str, Any] | None = None,
    ):
        """`encoder`: None sends plain `prompt` text (the rollout worker encodes it without a chat template);
        `sampling`: extra rollout settings (e.g. top_p) for every call."""
        self.generator, self.encoder, self.prompt = generator, encoder, prompt
        self.max_tokens, self.sampling = max_tokens, dict(sampling or {})
        self.calls = 0  # generate calls made, for batching checks and statistics

    def translate(self, requests: Sequence[TranslateRequest]) -> list[Translation]:
        """One Translation (req.n texts and mean log-probs) per request, in order."""
        results: list[Translation | None] = [None] * len(requests)
        for temperature in dict.fromkeys(request.temperature for request in requests):
            indices = [i for i, request in enumerate(requests) if request.temperature == temperature]
            for i, translation in zip(indices, self._generate([requests[i] for i in indices]), strict=True):
                results[i] = translation
        return [result for result in results if result is not None]

    def _generate(self, requests: Sequence[TranslateRequest]) -> list[Translation]:
        """One generate call for requests of one temperature."""
        sizes = {request.n for request in requests}
        n = sizes.pop() if len(sizes) == 1 else 1
        rows = []
        for index, request in enumerate(requests):
            row: dict[str, Any] = {"prompt": self.prompt(request), "request": index}
            if self.encoder is not None:
                row["prompt_ids"] = list(self.encoder.encode(row["prompt"]).ids)
            rows += [row] * (request.n // n)
        sampling = {"max_tokens": self.max_tokens, **self.sampling}
        sampling |= {"temperature": requests[0].temperature, "stop": ["\n"]}
        samples = self.generator.generate(Batch.from_rows(rows), n=n, sampling=sampling)
        self.calls += 1
        texts = [parse_translation(text) for text in samples["response_text"]]
        logprobs = mean_logprobs(samples["rollout_logprobs"], samples["response_mask"])
        results = [Translation([], []) for _ in requests]
        for index, text, logprob in zip(samples["request"], texts, logprobs, strict=True):
            results[int(index)].texts.append(text)
            results[int(index)].logprobs.append(logprob)
        short = [
            i
            for i, (request, result) in enumerate(zip(requests, results, strict=True))
            if len(result.texts) != request.n
        ]
        if short:
            raise ValueError(f"the generator returned a wrong number of samples for requests {short[:5]}")
        return results


def mean_logprobs(logprobs: np.ndarray, mask: np.ndarray) -> list[float]:
    """Per row, the mean log-prob of its response tokens ([B, T] tensors); -inf for a row without tokens (nothing
    was generated, so it must never win a likelihood comparison)."""
    logprobs, mask = np.asarray(logprobs, dtype=np.float64), np.asarray(mask, dtype=np.float64)
    counts = mask.sum(axis=1)
    sums = (logprobs * mask).sum(axis=1)
    return [float(s / c) if c > 0 else float("-inf") for s, c in zip(sums, counts, strict=True)]
