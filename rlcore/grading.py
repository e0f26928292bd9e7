"""The one grader: final-answer extraction, exact language-aware numbers, and answer equivalence.

The math reward, held-out evaluation, cross-language majority vote and the tiny model's card all grade here.
Gold answers are written in the canonical format (English number conventions, or LaTeX); a response's numbers
follow its language. Numbers compare exactly (fractions.Fraction), never as floats; anything else goes to
math-verify with its timeouts on. When in doubt an answer is graded wrong: a malformed number never matches.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from rlcore.bounded import BoundedPool, in_groups, shared_pool

# Languages that write 3,5 for three and a half and group thousands with a dot or a (narrow no-break) space:
# fr (1 234,5), de (1.234,5), es (1.234,5; RAE: 1 234,5), it (1.234,5), pt (1.234,5 in Brazil; 1 234,5 in Portugal).
DECIMAL_COMMA: frozenset[str] = frozenset({"fr", "de", "es", "it", "pt"})

# How each language announces its answer ("The answer is 12."); the embedded world writes its solutions so.
ANSWER_PHRASES: dict[str, str] = {
    "en": "The answer is",
    "fr": "La réponse est",
    "de": "Die Antwort ist",
    "es": "La respuesta es",
    "it": "La risposta è",
    "pt": "A resposta é",
}

# A ':' in a phrase is required (bare "Answer" is an ordinary word); other phrases take an optional colon.
ANNOUNCEMENTS: tuple[str, ...] = (
    *ANSWER_PHRASES.values(),
    "The final answer is",
    "Final answer",
    "Answer:",
    "####",
    "La réponse finale est",
    "Réponse finale",
    "Réponse:",
    "Die endgültige Antwort ist",
    "Endgültige Antwort",
    "Antwort:",
    "La respuesta final es",
    "Respuesta final",
    "Respuesta:",
    "La risposta finale è",
    "Risposta finale",
    "Risposta:",
    "A resposta final é",
    "Resposta final",
    "Resposta:",
)

MATH_VERIFY_TIMEOUT_S = 5  # per parse and per comparison (math-verify's own signal-based timeouts)
GRADING_TIMEOUT_S = 15.0  # per answer in grade_answers: the process is killed when math-verify's own limit fails
ANSWERS_PER_CALL = 32  # answers graded per call to a worker process: pickling and a round trip are paid per call


def math_verify_timeout() -> int | None:
    """math-verify's timeouts are signals, which only the main thread may use: there they are on; in a worker
    thread (the reward worker's scoring pool) the caller's per-sample timeout bounds the work instead."""
    return MATH_VERIFY_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


_BOXED = "\\boxed{"
_ANNOUNCEMENT = re.compile(
    "(?:"
    + "|".join(re.escape(p).replace(":", r"\s*:") for p in sorted(ANNOUNCEMENTS, key=len, reverse=True))
    + r")(?:\s*:)?",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"\.\s")
_EDGES = re.compile(r"[\s*$€£]*(?P<body>.*?)[\s*$€£.!;]*", re.DOTALL)
_NUMERIC = re.compile(r"[-−+]?[\d.,/\s\u00a0\u202f]*\d[\d.,/\s\u00a0\u202f]*%?")
# A unit that multiplies ("12 thousand", "3k") changes the value: such an answer is not a plain number.
_SCALE_WORD = re.compile(
    r"(?:thousand|hundred|dozen|mill|milh|bill|bilh|trill|tausend|hundert|dutzend|douzaine|docena|dozzin|d[uú]zia"
    r"|centinai|centena|ciento)\w*|mil|mila|cent|cento|cien|mrd|mio|bn|mn|[kmb]",
    re.IGNORECASE,
)
_WORDS = re.compile(r"[^\W\d_]{2,}(?:\s+[^\W\d_]+)*")  # plain words: text, not a product of symbols


def final_answer(text: str) -> str | None:
    """The response's final answer: the last \\boxed{...} (nested braces allowed), else what follows the last
    announcement ("The answer is", "Final answer:", "####", bold or not, in any world language), else None."""
    start = text.rfind(_BOXED)
    if start >= 0:
        return _braced(text, start + len(_BOXED) - 1)
    plain = text.replace("**", " ")  # a space, so that 12**2 does not read as 122
    matches = list(_ANNOUNCEMENT.finditer(plain))
    if not matches:
        return None
    line = plain[matches[-1].end() :].split("\n", maxsplit=1)[0]
    answer = _SENTENCE_END.split(line, maxsplit=1)[0]
    return _strip_edges(answer) or None


def _braced(text: str, open_at: int) -> str | None:
    """The content of the brace group opening at `open_at`; None if it never closes (the response was cut)."""
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_at + 1 : i].strip() or None
    return None


def _strip_edges(answer: str) -> str:
    """Without bold markers, currency signs, '$' math delimiters and trailing punctuation."""
    edges = _EDGES.fullmatch(answer.replace("\\$", "$"))
    assert edges is not None  # the pattern matches any string
    return edges.group("body")


def _number(decimal_comma: bool, name: str) -> str:
    """One number as a language writes it; thousands come in groups of exactly three digits, one separator."""
    thousands, point = (r"[. \u00a0\u202f]", ",") if decimal_comma else (",", r"\.")
    return rf"\d{{1,3}}(?P<{name}>{thousands})\d{{3}}(?:(?P={name})\d{{3}})*(?:{point}\d+)?|\d+(?:{point}\d+)?"


def _answer_pattern(decimal_comma: bool) -> re.Pattern[str]:
    """A whole answer that is a number: signed, maybe a fraction a/b, maybe a percent sign or a unit word or two."""
    return re.compile(
        rf"(?P<sign>[-−+]?)\s*(?P<num>{_number(decimal_comma, 'sep')})"
        rf"(?:\s*/\s*(?P<den>{_number(decimal_comma, 'densep')}))?"
        r"(?:\s*\\?%|\s*(?P<unit>[^\W\d_]+(?:\s+[^\W\d_]+)?))?"
    )


_NUMBER_ANSWER = {decimal_comma: _answer_pattern(decimal_comma) for decimal_comma in (False, True)}


def _value(number: str, decimal_comma: bool) -> Fraction:
    if decimal_comma:
        return Fraction(re.sub(r"[. \u00a0\u202f]", "", number).replace(",", "."))
    return Fraction(number.replace(",", ""))


def parse_number(answer: str, language: str | None = None) -> Fraction | None:
    """The exact value of an answer that is a plain number in `language`'s format ('1.234,5' in German, '1,234.5'
    in English; None means English), a fraction '3/4', a percentage '12%' (12) or a number with a unit
    ('12 apples'); else None."""
    decimal_comma = language in DECIMAL_COMMA
    match = _NUMBER_ANSWER[decimal_comma].fullmatch(_strip_edges(answer))
    if match is None or (match["unit"] and _SCALE_WORD.fullmatch(match["unit"].split()[0])):
        return None
    value = _value(match["num"], decimal_comma)
    if match["den"] is not None:
        denominator = _value(match["den"], decimal_comma)
        if denominator == 0:
            return None
        value /= denominator
    return -value if match["sign"] in ("-", "−") else value


def _symbolic(answer: str) -> list:
    """math-verify's reading of a LaTeX or plain-text expression ([] when it has none)."""
    return parse(
        f"${answer}$",
        extraction_config=[LatexExtractionConfig(), ExprExtractionConfig()],
        parsing_timeout=math_verify_timeout(),
    )


def answers_match(predicted: str, gold: str, language: str | None = None) -> bool:
    """Whether an extracted answer (written in `language`) equals the gold answer (canonical format)."""
    value, gold_value = parse_number(predicted, language), parse_number(gold)
    if value is not None and gold_value is not None:
        return value == gold_value
    if value is None and _NUMERIC.fullmatch(_strip_edges(predicted)):
        return False  # digits and separators that are no number in this language ('1,23', '1.5' in German)
    if _WORDS.fullmatch(_strip_edges(predicted)) or _WORDS.fullmatch(_strip_edges(gold)):
        return _strip_edges(predicted).casefold() == _strip_edges(gold).casefold()
    predicted_expr = _symbolic(predicted if value is None else str(value))
    gold_expr = _symbolic(gold if gold_value is None else str(gold_value))
    if not predicted_expr or not gold_expr:
        return _strip_edges(predicted) == _strip_edges(gold)
    return bool(verify(gold_expr, predicted_expr, timeout_seconds=math_verify_timeout()))


def is_correct(response_text: str, gold: str, language: str | None = None) -> bool:
    """Whether the response's final answer equals the gold answer; a response without one is wrong."""
    return grade_answer(final_answer(response_text), gold, language)


def grade_answer(answer: str | None, gold: str, language: str | None = None) -> bool:
    """is_correct for an answer already extracted with final_answer (None: the response stated none)."""
    return answer is not None and answers_match(answer, str(gold), language)


def grade_answers(
    answers: Sequence[str | None],
    golds: Sequence[Any],
    languages: Sequence[str | None],
    timeout_s: float | None = None,
    pool: BoundedPool | None = None,
) -> list[bool]:
    """grade_answer for many answers in worker processes (rlcore.bounded), so that no answer can hang the caller: a
    batch of ANSWERS_PER_CALL that overruns is graded again answer by answer, and an answer that overruns timeout_s
    on its own (default GRADING_TIMEOUT_S) is graded wrong."""
    rows = list(zip(answers, [str(gold) for gold in golds], languages, strict=True))
    return [grade is True for grade in _bounded(_grade_rows, rows, timeout_s, pool)]


def normalize_answers(
    answers: Sequence[str | None],
    languages: Sequence[str | None],
    timeout_s: float | None = None,
    pool: BoundedPool | None = None,
) -> list[str | None]:
    """normalize_answer for many answers, bounded as grade_answers is; an answer whose normalisation overruns (or
    fails) keeps its stripped text as its key."""
    keys = _bounded(_normalize_rows, list(zip(answers, languages, strict=True)), timeout_s, pool)
    return [
        (_strip_edges(answer) or None if answer is not None else None) if isinstance(key, BaseException) else key
        for answer, key in zip(answers, keys, strict=True)
    ]


def _bounded(
    function: Any, rows: list[tuple[Any, ...]], timeout_s: float | None, pool: BoundedPool | None
) -> list[Any]:
    """function(group of rows) in worker processes, ANSWERS_PER_CALL rows a call; per row its result or error."""
    workers = pool or shared_pool()
    timeout = timeout_s or GRADING_TIMEOUT_S

    def run(groups: list[list[tuple[Any, ...]]]) -> list[Any]:
        return workers.run([(function, (group,)) for group in groups], timeout)

    return in_groups(run, rows, ANSWERS_PER_CALL)


def _grade_rows(rows: list[tuple[str | None, str, str | None]]) -> list[bool]:
    return [grade_answer(*row) for row in rows]


def _normalize_rows(rows: list[tuple[str | None, str | None]]) -> list[str | None]:
    return [normalize_answer(*row) for row in rows]


def normalize_answer(answer: str | None, language: str | None = None) -> str | None:
    """A majority-vote key, the grader's normalisation: numbers by exact value ('12', '12.0', '1.234' in German
    and '1,234' in English), expressions by math-verify's canonical form, the rest as stripped text."""
    if answer is None:
        return None
    value = parse_number(answer, language)
    if value is not None:
        return str(value)
    text = _strip_edges(answer)
    if _NUMERIC.fullmatch(text) or _WORDS.fullmatch(text):
        return text.casefold() or None
    expressions = _symbolic(text)
    return str(getattr(expressions[0], "doit", lambda: expressions[0])()) if expressions else text or None
