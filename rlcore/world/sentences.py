"""The embedded world's translation data: monolingual corpora, a parallel warm-start set and held-out parallel test
sets with exact references (the sentences come from rlcore/world/sentences_grammar.py).

Every canonical sentence belongs to one bucket by a stable hash of its key (independent of seed and draw order, like
the eval split of rlcore/world/tasks.py): `test`, `warmstart`, or the monolingual corpus of ONE language. So test
sentences never appear in training data, and the monolingual corpora of two languages share no sentence (they are
not secretly parallel). The seed only decides which sentences of a bucket are drawn.

    python -m rlcore.world.sentences OUT_DIR --seed 0 [--per-language 2000] [--warmstart 20] [--test 100]

writes mono_<lang>.jsonl ({id, language, text}), parallel_warmstart.jsonl ({prompt, completion, src, trg, id}: SFT
rows, every direction of each warm-start sentence) and test_<src>-<trg>.jsonl ({id, src, trg, source, reference})
for every ordered pair of languages.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rlcore.translation import parse_translation, translation_prompt
from rlcore.world.sentences_grammar import (
    SENTENCE_LANGUAGES,
    CanonicalSentence,
    language_words,
    render_sentence,
    sample_sentence,
    tokenize,
)

__all__ = [
    "SENTENCE_LANGUAGES",
    "CanonicalSentence",
    "bucket_of",
    "detect_world_language",
    "directions",
    "draw_sentences",
    "main",
    "monolingual_rows",
    "parallel_test_rows",
    "parse_translation",
    "render_sentence",
    "translation_prompt",
    "warmstart_rows",
    "write_corpora",
]

TEST_PERCENT = 10  # share of canonical sentences (by stable hash) held out for the parallel test sets
WARMSTART_PERCENT = 5  # share reserved for the parallel warm-start set; the rest is split among the languages


def bucket_of(sentence: CanonicalSentence) -> str:
    """'test', 'warmstart' or 'mono:<language>', from a stable hash of the canonical sentence."""
    digest = hashlib.sha256(sentence.key().encode()).digest()
    share = int.from_bytes(digest[:8], "big") % 100
    if share < TEST_PERCENT:
        return "test"
    if share < TEST_PERCENT + WARMSTART_PERCENT:
        return "warmstart"
    return "mono:" + SENTENCE_LANGUAGES[int.from_bytes(digest[8:16], "big") % len(SENTENCE_LANGUAGES)]


def draw_sentences(bucket: str, num: int, seed: int = 0) -> list[CanonicalSentence]:
    """`num` distinct canonical sentences of a bucket, deterministic in (bucket, seed)."""
    rng = random.Random(f"rlcore-sentences:{bucket}:{seed}")
    out: list[CanonicalSentence] = []
    seen: set[str] = set()
    for _ in range(100 * num + 10_000):
        if len(out) == num:
            return out
        sentence = sample_sentence(rng)
        if bucket_of(sentence) == bucket and sentence.key() not in seen:
            seen.add(sentence.key())
            out.append(sentence)
    raise ValueError(f"could not draw {num} distinct sentences of bucket {bucket!r}")


def directions(languages: Sequence[str] = SENTENCE_LANGUAGES) -> list[tuple[str, str]]:
    """Every ordered pair (src, trg) of distinct languages: from and to English and between the others."""
    return list(itertools.permutations(languages, 2))


def monolingual_rows(language: str, num: int, seed: int = 0) -> list[dict[str, Any]]:
    """{id, language, text} rows of a language's monolingual corpus."""
    sentences = draw_sentences(f"mono:{language}", num, seed)
    return [
        {"id": f"mono-{language}-{i:06d}", "language": language, "text": render_sentence(sentence, language)}
        for i, sentence in enumerate(sentences)
    ]


def warmstart_rows(num: int, seed: int = 0, languages: Sequence[str] = SENTENCE_LANGUAGES) -> list[dict[str, Any]]:
    """SFT rows {prompt, completion, src, trg, id}: `num` sentences, each in every direction between `languages`."""
    rows = []
    for i, sentence in enumerate(draw_sentences("warmstart", num, seed)):
        for src, trg in directions(languages):
            source, target = render_sentence(sentence, src), render_sentence(sentence, trg)
            prompt = translation_prompt(source, src, trg)
            rows.append({"prompt": prompt, "completion": target, "src": src, "trg": trg, "id": f"warm-{i:06d}"})
    return rows


def parallel_test_rows(
    num: int, seed: int = 0, languages: Sequence[str] = SENTENCE_LANGUAGES
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per direction, {id, src, trg, source, reference} rows of the same `num` held-out sentences."""
    sentences = draw_sentences("test", num, seed)
    return {
        (src, trg): [
            {"id": f"test-{i:06d}", "src": src, "trg": trg, "source": render_sentence(s, src)}
            | {"reference": render_sentence(s, trg)}
            for i, s in enumerate(sentences)
        ]
        for src, trg in directions(languages)
    }


def detect_world_language(text: str) -> str | None:
    """The world language whose vocabulary covers the most of `text`'s words; None when no language covers at
    least half of them or two languages tie (e.g. a text of names only). A `rewards.gmcts_pairs.Detect`."""
    tokens = tokenize(text)
    if not tokens:
        return None
    covered = sorted(
        ((sum(token in language_words(lang) for token in tokens), lang) for lang in SENTENCE_LANGUAGES), reverse=True
    )
    (best, language), (second, _) = covered[0], covered[1]
    return language if best > second and 2 * best >= len(tokens) else None


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSON lines (UTF-8, non-ASCII kept readable); the number written."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_corpora(
    out_dir: Path,
    seed: int = 0,
    per_language: int = 2000,
    warmstart: int = 20,
    test: int = 100,
    languages: Sequence[str] = SENTENCE_LANGUAGES,
) -> dict[str, int]:
    """Write every file of the world's translation data into `out_dir`; file name -> rows written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {
        f"mono_{lang}.jsonl": write_jsonl(out_dir / f"mono_{lang}.jsonl", monolingual_rows(lang, per_language, seed))
        for lang in languages
    }
    counts["parallel_warmstart.jsonl"] = write_jsonl(
        out_dir / "parallel_warmstart.jsonl", warmstart_rows(warmstart, seed, languages)
    )
    for (src, trg), rows in parallel_test_rows(test, seed, languages).items():
        counts[f"test_{src}-{trg}.jsonl"] = write_jsonl(out_dir / f"test_{src}-{trg}.jsonl", rows)
    return counts


def main(argv: Sequence[str] | None = None) -> dict[str, int]:
    """The writer's command line; prints one line per file with its row count."""
    parser = argparse.ArgumentParser(prog="python -m rlcore.world.sentences", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-language", type=int, default=2000, help="monolingual sentences per language")
    parser.add_argument("--warmstart", type=int, default=20, help="warm-start sentences (each in every direction)")
    parser.add_argument("--test", type=int, default=100, help="held-out sentences per direction")
    parser.add_argument("--languages", default=",".join(SENTENCE_LANGUAGES), help="comma-separated language codes")
    args = parser.parse_args(argv)
    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    unknown = sorted(set(languages) - set(SENTENCE_LANGUAGES))
    if unknown or len(languages) < 2:
        parser.error(f"--languages: two or more of {list(SENTENCE_LANGUAGES)} (unknown: {unknown})")
    counts = write_corpora(args.out_dir, args.seed, args.per_language, args.warmstart, args.test, languages)
    for name, count in counts.items():
        print(f"{name}\t{count}")
    print(f"total\t{sum(counts.values())}")
    return counts


if __name__ == "__main__":
    main()
