"""Language identification for translation self-play: which language a text is in, or None when it cannot tell.

`world` reads the embedded world's lexicon (rlcore/world/sentences.py); `lingua` is the lingua-py library for real
languages, restricted to the run's languages (more accurate and faster than detecting among all 75 it knows). Both
are a `Detect` (rewards/gmcts_pairs.py): text -> ISO 639-1 code or None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

DetectorName = Literal["world", "lingua"]
Detect = Callable[[str], str | None]


def make_detector(name: DetectorName, languages: Sequence[str]) -> Detect:
    """The detector `name` over `languages` (ISO 639-1 codes)."""
    if name == "world":
        from rlcore.world.sentences import detect_world_language

        return detect_world_language
    return lingua_detector(languages)


def lingua_detector(languages: Sequence[str]) -> Detect:
    """lingua over `languages`; imported only when configured (loading its models takes a moment)."""
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = []
    for code in dict.fromkeys(languages):
        try:
            codes.append(IsoCode639_1.from_str(code))
        except ValueError:
            raise ValueError(f"lingua does not know the language code {code!r}") from None
    if len(codes) < 2:
        raise ValueError(f"language detection needs two or more languages, got {list(languages)}")
    detector = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()

    def detect(text: str) -> str | None:
        language = detector.detect_language_of(text)
        return None if language is None else language.iso_code_639_1.name.lower()

    return detect
