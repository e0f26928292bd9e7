"""The embedded world's translation data (rlcore/world/sentences*.py): renderings, splits, detector and writers."""

from __future__ import annotations

import json
import random
import re

import pytest

from rewards.gmcts_pairs import Detect
from rlcore.translation_metrics import corpus_score
from rlcore.world.sentences import (
    SENTENCE_LANGUAGES,
    CanonicalSentence,
    detect_world_language,
    directions,
    draw_sentences,
    main,
    monolingual_rows,
    parallel_test_rows,
    render_sentence,
    warmstart_rows,
    write_corpora,
)
from rlcore.world.sentences_grammar import sample_sentence

BOY, GIRL, BUY, SEE, BALL, BOOK, APPLE, RED = 6, 7, 1, 0, 2, 0, 1, 0


def renderings(sentence: CanonicalSentence) -> dict[str, str]:
    return {lang: render_sentence(sentence, lang) for lang in SENTENCE_LANGUAGES}


def test_time_first_word_order_and_agreement() -> None:
    # "Today, the boy buys the red ball in the park.": German verb-second, Romance adjective after the noun
    sentence = CanonicalSentence("time_first", BOY, BUY, BALL, count=0, adjective=RED, place=0, time=0)
    assert renderings(sentence) == {
        "en": "Today, the boy buys the red ball in the park.",
        "fr": "Aujourd'hui, le garçon achète la balle rouge au parc.",
        "de": "Heute kauft der Junge den roten Ball im Park.",
        "es": "Hoy, el niño compra la pelota roja en el parque.",
        "it": "Oggi, il ragazzo compra la palla rossa al parco.",
        "pt": "Hoje, o menino compra a bola vermelha no parque.",
    }


def test_statement_question_numbers_and_articles() -> None:
    statement = CanonicalSentence("statement", GIRL, SEE, BOOK, count=1, adjective=RED, time=0)
    assert renderings(statement)["de"] == "Das Mädchen sieht heute ein rotes Buch."  # time before the object
    assert renderings(statement)["en"] == "The girl sees a red book today."
    question = CanonicalSentence("question", 0, BUY, BALL, count=2, adjective=RED)
    assert renderings(question) == {
        "en": "Does Anna buy two red balls?",
        "fr": "Est-ce qu'Anna achète deux balles rouges ?",
        "de": "Kauft Anna zwei rote Bälle?",
        "es": "¿Compra Anna dos pelotas rojas?",
        "it": "Anna compra due palle rosse?",
        "pt": "Anna compra duas bolas vermelhas?",
    }
    assert render_sentence(CanonicalSentence("statement", BOY, BUY, APPLE, count=1), "en") == "The boy buys an apple."


def test_renderings_are_clean_sentences() -> None:
    rng = random.Random(7)
    for _ in range(300):
        sentence = sample_sentence(rng)
        for lang, text in renderings(sentence).items():
            assert not re.search(r"[{}/\[\]]|\s\s|^\s|\s$", text), text
            assert text.lstrip("¿")[0].isupper(), text
            ends = {"question": " ?" if lang == "fr" else "?"}.get(sentence.shape, ".")
            assert text.endswith(ends) and not text[: -len(ends)].endswith(" "), text
            assert text.startswith("¿") == (lang == "es" and sentence.shape == "question"), text
        assert len(set(renderings(sentence).values())) == len(SENTENCE_LANGUAGES)


def test_deterministic_and_disjoint_splits() -> None:
    assert monolingual_rows("de", 50, seed=3) == monolingual_rows("de", 50, seed=3)
    assert monolingual_rows("de", 50, seed=3) != monolingual_rows("de", 50, seed=4)
    keys = {bucket: {s.key() for s in draw_sentences(bucket, 300)} for bucket in ("test", "warmstart")}
    keys |= {f"mono:{lang}": {s.key() for s in draw_sentences(f"mono:{lang}", 300)} for lang in SENTENCE_LANGUAGES}
    assert all(len(k) == 300 for k in keys.values())
    names = list(keys)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not keys[a] & keys[b], (a, b)


def test_parallel_sets_have_exact_references() -> None:
    tests = parallel_test_rows(20)
    assert set(tests) == set(directions()) and len(tests) == 30
    de_en, en_de = tests[("de", "en")], tests[("en", "de")]
    assert [r["source"] for r in de_en] == [r["reference"] for r in en_de]
    assert corpus_score("chrf", [r["reference"] for r in de_en], [r["reference"] for r in de_en]) == 1.0
    # copying the source scores low: references are real translations, so chrF/BLEU measure translation
    assert corpus_score("chrf", [r["source"] for r in de_en], [r["reference"] for r in de_en]) < 0.5
    rows = warmstart_rows(3)
    assert len(rows) == 3 * 30 and set(rows[0]) == {"prompt", "completion", "src", "trg", "id"}
    first = rows[0]
    assert first["prompt"].startswith("Translate from English to French:\n") and first["prompt"].endswith("\n")
    assert "\n" not in first["completion"]


def test_detector_accuracy_on_held_out_sentences() -> None:
    detect: Detect = detect_world_language
    sentences = draw_sentences("test", 200, seed=1)
    hits = [detect(render_sentence(s, lang)) == lang for s in sentences for lang in SENTENCE_LANGUAGES]
    accuracy = sum(hits) / len(hits)
    print(f"world language detector accuracy: {accuracy:.4f} on {len(hits)} held-out sentences")
    assert accuracy >= 0.95
    assert detect("") is None and detect("Anna, Marco.") is None and detect("xyzzy qwerty blorp") is None


def test_writer_files_and_counts(tmp_path, capsys) -> None:
    counts = main([str(tmp_path / "a"), "--seed", "2", "--per-language", "5", "--warmstart", "2", "--test", "3"])
    out = capsys.readouterr().out
    assert "mono_de.jsonl\t5" in out and "parallel_warmstart.jsonl\t60" in out and "test_pt-it.jsonl\t3" in out
    assert len(counts) == 6 + 1 + 30
    mono = [json.loads(line) for line in (tmp_path / "a" / "mono_fr.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [set(row) for row in mono] == [{"id", "language", "text"}] * 5 and mono[0]["language"] == "fr"
    test = json.loads((tmp_path / "a" / "test_de-en.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert set(test) == {"id", "src", "trg", "source", "reference"}
    write_corpora(tmp_path / "b", seed=2, per_language=5, warmstart=2, test=3)
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_unknown_language_is_an_error() -> None:
    with pytest.raises(ValueError, match="world's sentences"):
        render_sentence(CanonicalSentence("statement", 0, 0, 0, 0), "zh")
