"""The embedded world's sentence grammar: canonical (language-independent) sentences and their renderings.

A canonical sentence names a shape (statement, time-first statement, yes/no question), a subject, a verb, an object
with its determiner (definite, indefinite or a number 2..10) and optional adjective, place and time. Rendering it is
deterministic, so the renderings in two languages are each other's exact reference translations. Each language
keeps its own word order (adjective after the noun in French, Spanish, Italian and Portuguese; German verb-second,
time before object, and verb-first questions; Spanish inverted questions with ¿) and agreement (article and adjective
gender and number, German accusative articles and adjective endings, Portuguese "duas").
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache

from rlcore.world.sentences_words import (
    ADJECTIVES,
    COLUMNS,
    DEFINITE,
    FINAL_MARKS,
    GERMAN_ACCUSATIVE,
    GERMAN_ENDINGS,
    INDEFINITE,
    NAMES,
    OBJECTS,
    PLACES,
    SHAPES,
    SUBJECT_NOUNS,
    TIMES,
    VERBS,
)
from rlcore.world.tasks import number_word

SENTENCE_LANGUAGES: tuple[str, ...] = COLUMNS
SHAPE_NAMES: tuple[str, ...] = ("statement", "time_first", "question")
SHAPE_WEIGHTS: tuple[int, ...] = (2, 1, 1)
DEFINITE_COUNT, INDEFINITE_COUNT = 0, 1  # `count` codes; 2..MAX_COUNT is a number of objects
MAX_COUNT = 10
NONE = -1  # an optional slot left out
NUM_SUBJECTS = len(NAMES) + len(SUBJECT_NOUNS)  # subjects 0..5 are names, then the nouns
ROMANCE = ("fr", "es", "it", "pt")


@dataclass(frozen=True)
class CanonicalSentence:
    """A language-independent sentence: indices into the word tables of rlcore/world/sentences_words.py."""

    shape: str
    subject: int
    verb: int
    obj: int
    count: int  # 0 definite ("the ball"), 1 indefinite ("a ball"), 2..10 a number ("three balls")
    adjective: int = NONE
    place: int = NONE
    time: int = NONE

    def key(self) -> str:
        return (
            f"{self.shape}|{self.subject}|{self.verb}|{self.obj}|{self.count}|{self.adjective}|{self.place}|{self.time}"
        )


@dataclass(frozen=True)
class Noun:
    gender: str  # "" in English
    singular: str
    plural: str


def parse_noun(cell: str) -> Noun:
    """A noun cell "gender singular/plural" (English: "singular/plural")."""
    gender, _, forms = cell.rpartition(" ")
    singular, plural = forms.split("/")
    return Noun(gender, singular, plural)


def sample_sentence(rng: random.Random) -> CanonicalSentence:
    """Draw one canonical sentence; a time-first sentence always has a time."""
    shape = rng.choices(SHAPE_NAMES, weights=SHAPE_WEIGHTS)[0]
    kind = rng.random()
    count = DEFINITE_COUNT if kind < 0.4 else INDEFINITE_COUNT if kind < 0.7 else rng.randint(2, MAX_COUNT)
    time = rng.randrange(len(TIMES)) if shape == "time_first" else _optional(rng, len(TIMES), 0.3)
    return CanonicalSentence(
        shape=shape,
        subject=rng.randrange(NUM_SUBJECTS),
        verb=rng.randrange(len(VERBS)),
        obj=rng.randrange(len(OBJECTS)),
        count=count,
        adjective=_optional(rng, len(ADJECTIVES), 0.6),
        place=_optional(rng, len(PLACES), 0.4),
        time=time,
    )


def _optional(rng: random.Random, size: int, probability: float) -> int:
    """An index below `size` with `probability`, else NONE (the slot is left out)."""
    return rng.randrange(size) if rng.random() < probability else NONE


def render_sentence(sentence: CanonicalSentence, language: str) -> str:
    """The sentence in `language`: capitalised, with its final mark, no empty slots."""
    column = _column(language)
    slots = {
        "s": subject_phrase(sentence.subject, language),
        "v": verb_form(sentence.verb, language, base=language == "en" and sentence.shape == "question"),
        "o": object_phrase(sentence, language),
        "p": PLACES[sentence.place][column] if sentence.place != NONE else "",
        "t": TIMES[sentence.time][column] if sentence.time != NONE else "",
    }
    body = " ".join(_for_language(SHAPES[sentence.shape], language).format(**slots).split())
    if language == "fr":  # elision: "est-ce que Anna" -> "est-ce qu'Anna"
        body = re.sub(r"\bque (?=[aeiouyhéèê])", "qu'", body, flags=re.IGNORECASE)
    return _capitalise(body) + _for_language(FINAL_MARKS[sentence.shape], language)


def subject_phrase(subject: int, language: str) -> str:
    """A name, or a noun with its definite (nominative) article: "the boy", "der Junge"."""
    if subject < len(NAMES):
        return NAMES[subject]
    noun = parse_noun(SUBJECT_NOUNS[subject - len(NAMES)][_column(language)])
    return f"{DEFINITE[language][noun.gender]} {noun.singular}"


def verb_form(verb: int, language: str, base: bool = False) -> str:
    """Third person singular present (English `base`: the infinitive, after "does")."""
    cell = VERBS[verb][_column(language)]
    if language == "en":
        infinitive, third = cell.split("/")
        return infinitive if base else third
    return cell


def object_phrase(sentence: CanonicalSentence, language: str) -> str:
    """Determiner, number, adjective and noun in the language's order and agreement."""
    noun = parse_noun(OBJECTS[sentence.obj][_column(language)])
    plural = sentence.count >= 2
    word = noun.plural if plural else noun.singular
    adjective = adjective_form(sentence.adjective, language, noun.gender, plural, _kind(sentence.count))
    if plural:
        determiner = number_word(sentence.count, language, noun.gender)
    elif language == "de":
        determiner = GERMAN_ACCUSATIVE[_kind(sentence.count)][noun.gender]
    else:
        determiner = (DEFINITE if sentence.count == DEFINITE_COUNT else INDEFINITE)[language][noun.gender]
    words = [determiner, word, adjective] if language in ROMANCE else [determiner, adjective, word]
    if language == "en" and determiner == "a" and (adjective or word)[0] in "aeiou":
        words[0] = "an"
    return " ".join(w for w in words if w)


def adjective_form(adjective: int, language: str, gender: str, plural: bool, kind: str) -> str:
    """The adjective agreeing with its noun ('' for none): Romance gender and number, German declension."""
    if adjective == NONE:
        return ""
    cell = ADJECTIVES[adjective][_column(language)]
    if language == "de":
        return cell + GERMAN_ENDINGS[kind][gender]
    if language in ROMANCE:
        return cell.split("/")[2 * plural + (gender == "f")]
    return cell


def _kind(count: int) -> str:
    return {DEFINITE_COUNT: "definite", INDEFINITE_COUNT: "indefinite"}.get(count, "number")


def _column(language: str) -> int:
    if language not in COLUMNS:
        raise ValueError(f"the world's sentences are in {list(COLUMNS)}, not {language!r}")
    return COLUMNS.index(language)


def _for_language(table: dict[str, str], language: str) -> str:
    return table.get(language, table["*"])


def _capitalise(text: str) -> str:
    """Upper-case the first letter (after a leading '¿'), leaving the rest as it is (names, German nouns)."""
    match = re.search(r"[^\W\d_]", text)
    return text if match is None else text[: match.start()] + text[match.start()].upper() + text[match.start() + 1 :]


@cache
def language_words(language: str) -> frozenset[str]:
    """Every word form the grammar can write in `language`, lower-cased (the language detector's vocabulary)."""
    column = _column(language)
    cells = [row[column] for table in (VERBS, PLACES, TIMES) for row in table]
    for table in (SUBJECT_NOUNS, OBJECTS):
        cells += [f"{n.singular} {n.plural}" for n in (parse_noun(row[column]) for row in table)]
    cells += [row[column].replace("/", " ") for row in ADJECTIVES]
    if language == "de":
        cells += [row[column] + ending for row in ADJECTIVES for ending in ("e", "en", "es")]
        cells += [article for table in GERMAN_ACCUSATIVE.values() for article in table.values()]
    cells += [*DEFINITE[language].values(), *INDEFINITE[language].values(), "an" if language == "en" else ""]
    cells += [number_word(n, language, g) for n in range(2, MAX_COUNT + 1) for g in ("m", "f")]
    cells += [_for_language(shape, language) for shape in SHAPES.values()]
    return frozenset(tokenize(" ".join(cells)))


def tokenize(text: str) -> list[str]:
    """Lower-cased letter runs ("aujourd'hui" -> "aujourd", "hui"; slots and punctuation dropped) and '¿', which
    only Spanish writes (it tells "¿Compra Clara un libro?" from the Italian "Clara compra un libro?")."""
    return re.findall(r"[^\W\d_]+|¿", re.sub(r"\{\w\}", " ", text).lower())
