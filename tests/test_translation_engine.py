"""The TranslationEngine adapter over a rollout Generator (actors/translation_engine.py), with a scripted generator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from actors.translation_engine import GeneratorTranslationEngine, mean_logprobs
from rlcore.batch import Batch, pad_sequences
from rlcore.translation import TranslateRequest, TranslationEngine, parse_translation, translation_prompt


@dataclass
class FakeEncoded:
    ids: list[int]


class FakeEncoder:
    def encode(self, prompt: str) -> FakeEncoded:
        return FakeEncoded([len(prompt), 7])


class ScriptedGenerator:
    """Answers every prompt with `reply(prompt, sample)`, token log-probs -0.5 per character of the first line (so
    the mean is -0.5), and records each call."""

    def __init__(self, reply=lambda prompt, sample: f"out{sample}\nrest"):
        self.reply = reply
        self.calls: list[tuple[Batch, int, dict[str, Any]]] = []

    def generate(self, prompts: Batch, n: int, sampling: dict[str, Any] | None = None) -> Batch:
        self.calls.append((prompts, n, dict(sampling or {})))
        rows = prompts.repeat_interleave(n)
        texts = [self.reply(p, i % n) for i, p in enumerate(rows["prompt"])]
        logprobs, mask = pad_sequences([[-0.5] * len(t.split("\n")[0]) for t in texts], dtype=np.float32)
        return rows.with_columns(response_text=texts).with_tensors(rollout_logprobs=logprobs, response_mask=mask)


def test_one_generate_call_for_requests_of_one_temperature() -> None:
    generator = ScriptedGenerator()
    engine: TranslationEngine = GeneratorTranslationEngine(generator, FakeEncoder(), max_tokens=32)
    requests = [TranslateRequest(f"Satz {i}.", "de", "en", n=3, temperature=0.5) for i in range(4)]
    results = engine.translate(requests)
    assert len(generator.calls) == 1
    prompts, n, sampling = generator.calls[0]
    assert n == 3 and len(prompts) == 4
    assert sampling == {"max_tokens": 32, "temperature": 0.5, "stop": ["\n"]}
    assert prompts["prompt"][2] == "Translate from German to English:\nSatz 2.\n"
    assert prompts["prompt_ids"][2] == [len(prompts["prompt"][2]), 7]
    assert [r.texts for r in results] == [["out0", "out1", "out2"]] * 4  # first line only
    assert results[0].logprobs == pytest.approx([-0.5] * 3)


def test_mixed_n_is_one_call_and_mixed_temperatures_one_call_each() -> None:
    generator = ScriptedGenerator(lambda prompt, sample: prompt.splitlines()[-1].upper())
    engine = GeneratorTranslationEngine(generator)
    requests = [
        TranslateRequest("a.", "en", "fr", n=2, temperature=0.5),
        TranslateRequest("b.", "en", "fr", n=1, temperature=0.1),
        TranslateRequest("c.", "en", "fr", n=1, temperature=0.5),
    ]
    results = engine.translate(requests)
    assert [call[2]["temperature"] for call in generator.calls] == [0.5, 0.1]
    first, n, _ = generator.calls[0]
    assert n == 1 and first["request"] == [0, 0, 1]  # n=2 and n=1 requests: rows repeated, n=1
    assert "prompt_ids" not in first  # no encoder: plain prompt text
    assert [r.texts for r in results] == [["A.", "A."], ["B."], ["C."]]  # in request order


def test_examples_are_rendered_into_the_prompt() -> None:
    generator = ScriptedGenerator()
    request = TranslateRequest("Hallo Welt.", "de", "en", examples=(("Guten Tag.", "Good day."), ("Ja.", "Yes.")))
    GeneratorTranslationEngine(generator).translate([request])
    prompt = generator.calls[0][0]["prompt"][0]
    header = "Translate from German to English:"
    assert prompt == f"{header}\nGuten Tag.\nGood day.\n\n{header}\nJa.\nYes.\n\n{header}\nHallo Welt.\n"
    assert prompt.endswith(translation_prompt("Hallo Welt.", "de", "en"))


def test_mean_logprob_on_hand_made_tensors() -> None:
    logprobs = np.array([[-1.0, -2.0, -3.0, 9.0], [-0.5, 9.0, 9.0, 9.0], [9.0, 9.0, 9.0, 9.0]])
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    means = mean_logprobs(logprobs, mask)
    assert means[:2] == pytest.approx([-2.0, -0.5]) and means[2] == float("-inf")


def test_output_parsing() -> None:
    assert parse_translation("  Good day.  \nTranslate from ...") == "Good day."
    assert parse_translation("\n\n Yes.\n") == "Yes."
    assert parse_translation("") == "" and parse_translation(" \n ") == ""


def test_a_generator_that_drops_samples_is_an_error() -> None:
    class Dropping(ScriptedGenerator):
        def generate(self, prompts: Batch, n: int, sampling: dict[str, Any] | None = None) -> Batch:
            return super().generate(prompts, n, sampling).select(np.arange(1))

    with pytest.raises(ValueError, match="wrong number of samples"):
        GeneratorTranslationEngine(Dropping()).translate([TranslateRequest("a.", "en", "de", n=2)])
