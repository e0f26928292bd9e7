"""The one grader: a corpus of hard cases (response, gold, language, expected); no wrong answer may grade correct."""

from __future__ import annotations

import threading
from fractions import Fraction

import pytest

from rlcore import grading
from rlcore.grading import (
    ANNOUNCEMENTS,
    DECIMAL_COMMA,
    MATH_VERIFY_TIMEOUT_S,
    answers_match,
    final_answer,
    is_correct,
    math_verify_timeout,
    normalize_answer,
    parse_number,
)
from rlcore.multilingual import ParallelResults, majority_vote
from rlcore.world.tasks import ANSWER_PHRASES, LANGUAGES

NNBSP, NBSP = "\u202f", "\u00a0"

CORPUS = [
    # --- \boxed: nested braces, the last box wins, a box beats a later announcement
    ("so \\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}", "en", True),
    ("first \\boxed{1}, finally \\boxed{\\frac{\\sqrt{3}}{2}}", "1", "en", False),
    ("first \\boxed{1}, finally \\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}", "en", True),
    ("\\boxed{5} no wait \\boxed{6}", "5", "en", False),
    ("\\boxed{5} no wait \\boxed{6}", "6", "en", True),
    ("\\boxed{\\frac{1}{2}}\nThe answer is 3.", "3", "en", False),
    ("\\boxed{\\frac{1}{2}}\nThe answer is 3.", "0.5", "en", True),
    ("\\boxed{\\dfrac{3}{4}}", "0.75", "en", True),
    ("The answer is 7. \\boxed{7", "7", "en", False),  # the last box was cut off: no answer
    ("\\boxed{}", "0", "en", False),
    # --- announcements: every form, last one wins, bold markdown
    ("The answer is 12.", "12", "en", True),
    ("The final answer is 12", "12", "en", True),
    ("Final answer: 12", "12", "en", True),
    ("Answer: 12", "12", "en", True),
    ("#### 72", "72", "en", True),
    ("**Final answer:** 12", "12", "en", True),
    ("**Answer**: 12", "12", "en", True),  # bold between a phrase and its colon
    ("**The answer is 12.**", "12", "en", True),
    ("The answer is **12**.", "12", "en", True),
    ("the answer is: 4", "4", "en", True),
    ("THE ANSWER IS 4", "4", "en", True),
    ("The answer is 12**2.", "122", "en", False),
    ("The answer is 12**2.", "144", "en", False),  # '**' is bold markdown, never a power
    ("The answer is 3.\nOn reflection, the answer is 5.", "3", "en", False),
    ("The answer is 3.\nOn reflection, the answer is 5.", "5", "en", True),
    ("The answer is 3. The answer is 007.", "3", "en", False),
    ("The answer is 3. The answer is 007.", "7", "en", True),
    ("The answer is 12. I am confident.", "12", "en", True),
    ("Answer 12", "12", "en", False),  # a bare 'Answer' is an ordinary word
    ("7 plus 5 is 12.", "12", "en", False),
    ("", "12", "en", False),
    ("The answer is", "12", "en", False),
    ("The answer is 12 or 13.", "12", "en", False),
    ("La réponse finale est 12.", "12", "fr", True),
    ("Réponse : 12", "12", "fr", True),
    ("Réponse finale : 12", "12", "fr", True),
    ("Die endgültige Antwort ist 12.", "12", "de", True),
    ("Endgültige Antwort: 12", "12", "de", True),
    ("Antwort: 12", "12", "de", True),
    ("La respuesta final es 12.", "12", "es", True),
    ("Respuesta final: 12", "12", "es", True),
    ("Respuesta: 12", "12", "es", True),
    ("La risposta finale è 12.", "12", "it", True),
    ("Risposta finale: 12", "12", "it", True),
    ("Risposta: 12", "12", "it", True),
    ("A resposta final é 12.", "12", "pt", True),
    ("Resposta final: 12", "12", "pt", True),
    ("Resposta: 12", "12", "pt", True),
    ("**La respuesta es** 13", "12", "es", False),
    # --- exact numbers: long integers, many-digit decimals, negatives, fractions
    ("The answer is 12345678901234567.", "12345678901234568", "en", False),
    ("The answer is 12345678901234567.", "12345678901234567", "en", True),
    ("The answer is 0.10000000000000000001.", "0.1", "en", False),
    ("The answer is 0.1000000000000000000.", "0.1", "en", True),
    ("The answer is 3.14159265358979323846.", "3.14159265358979323847", "en", False),
    ("The answer is 12.0", "12", "en", True),
    ("The answer is 012", "12", "en", True),
    ("The answer is -5.", "-5", "en", True),
    ("The answer is -5.", "5", "en", False),
    ("The answer is 5.", "-5", "en", False),
    ("The answer is \u22125.", "-5", "en", True),
    ("The answer is +5.", "5", "en", True),
    ("The answer is 3/4.", "0.75", "en", True),
    ("The answer is 3/4.", "4/3", "en", False),
    ("The answer is -3/4.", "-0.75", "en", True),
    ("The answer is 6/8.", "3/4", "en", True),
    ("The answer is 1/0.", "1", "en", False),
    ("The answer is 1/3.", "0.333333", "en", False),
    ("The answer is 12%.", "12", "en", True),
    ("The answer is 12 \\%.", "12", "en", True),
    ("The answer is 12%.", "0.12", "en", False),
    # --- thousands separators and decimal commas, per language
    ("The answer is 1,234.", "1234", "en", True),
    ("The answer is 1,234.5.", "1234.5", "en", True),
    ("The answer is 1,234,567.", "1234567", "en", True),
    ("The answer is 1,234.", "1.234", "en", False),
    ("The answer is 1,23.", "1.23", "en", False),  # a comma is never a decimal point in English
    ("The answer is 3,5.", "3.5", "en", False),
    ("The answer is 1 234.", "1234", "en", False),  # English does not group with spaces
    ("The answer is 1,2345.", "12345", "en", False),
    ("The answer is 12,34,567.", "1234567", "en", False),
    ("Die Antwort ist 1.234.", "1234", "de", True),
    ("Die Antwort ist 1.234.", "1.234", "de", False),
    ("Die Antwort ist 1.234,5.", "1234.5", "de", True),
    ("Die Antwort ist 3,5.", "3.5", "de", True),
    ("Die Antwort ist 3,5.", "35", "de", False),
    ("Die Antwort ist 1.5.", "1.5", "de", False),  # not how German writes it: graded wrong, never guessed
    ("Die Antwort ist 1.234.567.", "1234567", "de", True),
    ("Die Antwort ist 1.234 567.", "1234567", "de", False),  # mixed separators
    ("Die Antwort ist 12.34.", "1234", "de", False),
    ("La réponse est 1 234.", "1234", "fr", True),
    (f"La réponse est 1{NNBSP}234,5.", "1234.5", "fr", True),
    (f"La réponse est 1{NBSP}234.", "1234", "fr", True),
    ("La réponse est 0,5.", "\\frac{1}{2}", "fr", True),
    ("La respuesta es 2.500.", "2500", "es", True),
    ("La risposta è 2.500,75.", "2500.75", "it", True),
    ("A resposta é 1.000,5.", "1000.5", "pt", True),
    ("A resposta é 1.000,5.", "1000", "pt", False),
    ("The answer is 3,5.", "3.5", None, False),  # no language: English conventions
    ("The answer is 1,234.", "1234", None, True),
    # --- trailing punctuation, currency, units, scale words
    ("The answer is 12!", "12", "en", True),
    ("The answer is $12$.", "12", "en", True),
    ("The answer is \\$12.", "12", "en", True),
    ("The answer is 12 €.", "12", "en", True),
    ("The answer is 12 apples.", "12", "en", True),
    ("The answer is 12 square meters.", "12", "en", True),
    ("La réponse est 1 234 pommes.", "1234", "fr", True),
    ("The answer is 12 thousand.", "12", "en", False),
    ("The answer is 12 million.", "12", "en", False),
    ("The answer is 12k.", "12", "en", False),
    ("Die Antwort ist 12 Tausend.", "12", "de", False),
    ("La risposta è 3 mila.", "3", "it", False),
    ("The answer is 12 dozen.", "12", "en", False),
    # --- symbolic answers through math-verify
    ("The answer is \\sqrt{4}.", "2", "en", True),
    ("\\boxed{x+1}", "1+x", "en", True),
    ("\\boxed{x+2}", "1+x", "en", False),
    ("\\boxed{\\pi}", "3.14159", "en", False),
    ("\\boxed{\\text{blue}}", "\\text{red}", "en", False),
]


@pytest.mark.parametrize("response, gold, language, expected", CORPUS)
def test_corpus(response, gold, language, expected):
    assert is_correct(response, gold, language) is expected


def test_every_world_language_announcement_is_read():
    for language, phrase in ANSWER_PHRASES.items():
        for text in (f"{phrase} 12.", f"**{phrase}** 12", f"{phrase} **12**", f"{phrase}: 12"):
            assert final_answer(f"3 plus 9 is 12.\n{text}\n") == "12", text
            assert is_correct(text, "12", language) and not is_correct(text, "13", language)
    assert set(ANSWER_PHRASES.values()) <= set(ANNOUNCEMENTS)


@pytest.mark.parametrize(
    "text, answer",
    [
        ("\\boxed{a{b{c}d}e}", "a{b{c}d}e"),
        ("\\boxed{ 12 } and then", "12"),
        ("\\boxed{1} \\boxed{2", None),
        ("\\boxed{}", None),
        ("The answer is 5. \\boxed{6} The answer is 7.", "6"),
        ("The answer is 1\n\nThe answer is -2.5", "-2.5"),
        ("#### 1,234", "1,234"),
        ("The answer is:\n12", None),
        ("The answer is 12\nchecked\ndone", "12"),  # the answer ends with its line, not with the last line
        ("Final Answer: $\\frac{1}{2}$.", "\\frac{1}{2}"),
        ("no answer here", None),
    ],
)
def test_final_answer(text, answer):
    assert final_answer(text) == answer


@pytest.mark.parametrize(
    "answer, language, value",
    [
        ("12", None, Fraction(12)),
        ("-12", "en", Fraction(-12)),
        ("\u221212", "en", Fraction(-12)),
        ("1,234.5", "en", Fraction(2469, 2)),
        ("1.234,5", "de", Fraction(2469, 2)),
        ("1 234,5", "fr", Fraction(2469, 2)),
        (f"1{NNBSP}234", "pt", Fraction(1234)),
        ("3,5", "es", Fraction(7, 2)),
        ("3.5", "it", None),
        ("3,5", "en", None),
        ("2/4", "en", Fraction(1, 2)),
        ("1,5/3", "de", Fraction(1, 2)),
        ("1.5/3", "de", None),
        ("1/1,5", "de", Fraction(2, 3)),  # the denominator follows the language too
        ("1/1.5", "de", None),
        ("-1/2", "en", Fraction(-1, 2)),
        ("1/0", "en", None),
        ("50%", "en", Fraction(50)),
        ("**7**", "en", Fraction(7)),
        ("7 cm", "en", Fraction(7)),
        ("7 bn", "en", None),
        ("x", "en", None),
        ("", "en", None),
    ],
)
@pytest.mark.parametrize("fresh_patterns", [False, True])
def test_parse_number(answer, language, value, fresh_patterns, monkeypatch):
    """Also with the number patterns built anew: they are built once at import, out of mutation testing's reach."""
    if fresh_patterns:
        monkeypatch.setattr(
            grading, "_NUMBER_ANSWER", {comma: grading._answer_pattern(comma) for comma in (False, True)}
        )
    assert parse_number(answer, language) == value


def test_decimal_comma_languages_are_the_world_languages_but_english():
    assert set(LANGUAGES) - {"en"} == DECIMAL_COMMA


@pytest.mark.parametrize(
    "predicted, gold, language, same",
    [
        ("12", "12", "en", True),
        ("12.5", "12.5", "en", True),
        ("12,5", "12.5", "de", True),
        ("12.5", "12.5", "de", False),
        ("1,2", "1,2", "en", False),  # malformed numbers never match, not even themselves
        ("\\frac{1}{2}", "0.5", "en", True),
        ("0,5", "\\frac{1}{2}", "it", True),
        ("0,6", "\\frac{1}{2}", "it", False),
        ("red", "red", "en", True),
        ("Red", "red", "en", True),
        ("ab", "ba", "en", False),  # words are text, not products of symbols
        ("no", "yes", "en", False),
        ("{", "{", "en", True),  # nothing math-verify can read: compared as text
        ("{", "}", "en", False),
        ("ab", "a*b", "en", False),  # one side is words: compared as text, never as a product
        ("a*b", "ab", "en", False),
        ("\\frac{24}{2}", "12%", "en", True),
        ("\\frac{24}{2}", "12 red apples", "en", True),  # a gold with units compares by its number, not as 12·r·e·d
        ("\\$1.234,5", "1234.5", "de", True),  # an escaped dollar is a currency sign too
        ("\\text{}", "\\text{}", "en", True),  # math-verify reads neither: compared as text
        ("\\!", "\\", "en", True),  # neither readable; the same text once stripped
        ("\\", "\\text{}", "en", False),
        ("\\.", "\\", "en", True),  # math-verify reads only one side: compared as text ('.' is punctuation)
    ],
)
def test_answers_match(predicted, gold, language, same):
    assert answers_match(predicted, gold, language) is same


@pytest.mark.parametrize(
    "first, second, language, gold",
    [
        ("12", "12.0", "en", "12"),
        ("12 apples", "$12$", "en", "12"),
        ("1.234", "1234", "de", "1234"),
        ("3/6", "0.5", "en", "1/2"),
        ("\\frac{1}{2}", "0,5", "fr", "0.5"),
        ("\\sqrt{4}", "2", "en", "2"),
        ("x+1", "1+x", "en", "x+1"),
        ("Red", "**red**", "en", "red"),
    ],
)
def test_answers_that_grade_equal_share_a_vote_key(first, second, language, gold):
    assert answers_match(first, gold, language) and answers_match(second, gold, language)
    assert normalize_answer(first, language) == normalize_answer(second, language)


def test_vote_keys_keep_different_answers_apart():
    assert normalize_answer("12345678901234567", "en") == "12345678901234567"
    assert normalize_answer("12345678901234567", "en") != normalize_answer("12345678901234568", "en")
    assert normalize_answer("1,234", "en") == "1234" and normalize_answer("1,234", "de") == "617/500"
    assert normalize_answer("1,23", "en") == "1,23"  # malformed: kept as written, never read as a number
    assert normalize_answer(" **red**. ", "en") == "red"
    assert normalize_answer("{", "en") == "{"
    assert normalize_answer(None, "en") is None and normalize_answer("**", "en") is None


def vote(answers: list[str | None], correct: list[bool], languages: list[str]) -> float:
    ids = ["q"] * len(answers)
    return majority_vote(ParallelResults.from_graded(ids, languages, correct, answers, languages))["accuracy"]


def test_majority_vote_counts_the_graders_equal_answers_together():
    languages = ["en", "de", "fr", "it", "es"]
    # en "1,234", de "1.234" and fr "1 234" are one answer (1234): three votes beat two for "999"
    assert vote(["1,234", "1.234", "1 234", "999", "999"], [True, True, True, False, False], languages) == 1.0
    # "1.234" is 1.234 in English but 1234 in German and French: 1234 ties 999 and German comes before Italian
    assert vote(["1.234", "1.234", "1.234", "999", "999"], [False, True, True, False, False], languages) == 1.0


def test_majority_vote_ignores_answerless_responses_and_breaks_ties_by_language_order():
    languages = ["en", "fr", "de"]
    assert vote([None, None, "5"], [False, False, True], languages) == 1.0  # the only vote wins
    assert vote([None, None, None], [False, False, False], languages) == 0.0  # no votes: unsolved
    assert vote(["4", "5", None], [False, True, False], languages) == 0.0  # tie: English first
    assert vote(["5", "4", None], [True, False, False], languages) == 1.0


def test_math_verify_timeouts_on_in_the_main_thread_and_grading_works_in_worker_threads():
    """math-verify's signal timeouts are on where signals work; the reward worker's scoring threads still grade
    symbolic answers (their per-sample timeout bounds the work)."""
    assert math_verify_timeout() == MATH_VERIFY_TIMEOUT_S > 0
    seen: list[tuple[int | None, bool]] = []
    worker = threading.Thread(target=lambda: seen.append((math_verify_timeout(), answers_match("\\sqrt{4}", "2"))))
    worker.start()
    worker.join()
    assert seen == [(None, True)]


def test_math_verify_runs_with_its_timeouts_on(monkeypatch):
    """Every parse and comparison of a symbolic answer in the main thread is bounded by the grader's timeout."""
    timeouts: list[int | None] = []
    real_parse, real_verify = grading.parse, grading.verify

    def parse(*args, parsing_timeout, **kwargs):
        timeouts.append(parsing_timeout)
        return real_parse(*args, parsing_timeout=parsing_timeout, **kwargs)

    def verify(*args, timeout_seconds, **kwargs):
        timeouts.append(timeout_seconds)
        return real_verify(*args, timeout_seconds=timeout_seconds, **kwargs)

    monkeypatch.setattr(grading, "parse", parse)
    monkeypatch.setattr(grading, "verify", verify)
    assert answers_match("\\sqrt{4}", "2") and not answers_match("\\sqrt{9}", "2")
    assert timeouts == [MATH_VERIFY_TIMEOUT_S] * 6
