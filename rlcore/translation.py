"""Translation requests and engines, and the one translation prompt format (rendered, parsed).

The ground floor of translation search: rewards/gmcts.py (the search) asks a `TranslationEngine` for translations,
actors/translation_engine.py implements one over any rollout `Generator`; both share these types without importing
each other. The prompt format is the same for training data (rlcore/world/sentences.py's warm-start and test rows),
rollout and validation, so a model sees at search time exactly what it was taught on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# Language codes -> English names used in prompts ("Translate into French"): the world's languages first, then
# those of the papers' benchmarks (TRANS-ZERO, MGSM).
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "zh": "Chinese",
    "ru": "Russian",
    "ja": "Japanese",
    "ko": "Korean",
    "ar": "Arabic",
    "nl": "Dutch",
    "th": "Thai",
    "sw": "Swahili",
    "bn": "Bengali",
    "te": "Telugu",
}


@dataclass(frozen=True)
class TranslateRequest:
    """Translate `text` from `src` into `trg`: `n` samples at `temperature`, after the in-context `examples`
    ((source, translation) pairs)."""

    text: str
    src: str
    trg: str
    examples: tuple[tuple[str, str], ...] = ()
    n: int = 1
    temperature: float = 0.0


@dataclass(frozen=True)
class Translation:
    """The n samples of one request and the mean token log-prob of each."""

    texts: list[str]
    logprobs: list[float]


class TranslationEngine(Protocol):
    """The policy or the reference model, e.g. rollout workers behind a prompt template."""

    def translate(self, requests: Sequence[TranslateRequest]) -> list[Translation]: ...


def language_name(code: str) -> str:
    """The English name of a language code ('de' -> 'German'); an unknown code names itself."""
    return LANGUAGE_NAMES.get(code, code)


def translation_prompt(source: str, src: str, trg: str, examples: Sequence[tuple[str, str]] = ()) -> str:
    """'Translate from German to English:\\n{source}\\n', the target being the completion (one line).

    In-context examples come first, each as a complete block of the same format with its translation, separated by
    a blank line, so that the query block looks exactly like a training prompt."""
    header = f"Translate from {language_name(src)} to {language_name(trg)}:"
    blocks = [f"{header}\n{_one_line(a)}\n{_one_line(b)}\n" for a, b in examples]
    return "\n".join([*blocks, f"{header}\n{_one_line(source)}\n"])


def request_prompt(request: TranslateRequest) -> str:
    """The prompt of a request (its examples included)."""
    return translation_prompt(request.text, request.src, request.trg, request.examples)


def parse_translation(output: str) -> str:
    """The translation in a model's output: its first non-empty line, stripped ('' when there is none)."""
    for line in output.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _one_line(text: str) -> str:
    # A newline inside a sentence would end the prompt's source line early (and the model stops at newlines).
    return " ".join(text.split())
