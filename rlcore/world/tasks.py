"""Deterministic synthetic multilingual arithmetic word problems (the embedded default task).

A *canonical* problem is language-independent (kind, numbers, template, entities, which numbers are written as
words); rendering it in a language gives a localized question, a localized step-by-step solution and the same
answer and id in every language. Solutions are phrased per language ("7 plus 5 font 12."), so that skill learned
in one language does not transfer for free to the others.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from rlcore.grading import ANSWER_PHRASES
from rlcore.world.lexicon import (
    CONTAINERS,
    FEMININE_NUMBER_WORDS,
    NAMES,
    NUMBER_WORDS,
    OBJECTS,
    STEP_FORMATS,
    TEMPLATES,
)

LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "it", "pt")
KINDS: tuple[str, ...] = ("add", "sub", "add_sub", "mul")
KIND_WEIGHTS: tuple[int, ...] = (3, 3, 3, 1)
WORD_PROBABILITY = 0.4  # chance that a number in a question is written as a word
EVAL_PERCENT = 10  # share of canonical problems (by stable hash) reserved for the eval split


NUM_TEMPLATES = 3
_AGREE = re.compile(r"\[([poc]):([^/\]]*)/([^\]]*)\]")
_OPS = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y}


@dataclass(frozen=True)
class Step:
    """One solution step `left op right = result`; `correct` is False when result differs from the reference."""

    text: str
    left: int
    op: str
    right: int
    result: int
    correct: bool


@dataclass(frozen=True)
class Canonical:
    """A language-independent problem: what is asked and how it is dressed, not the words."""

    kind: str
    numbers: tuple[int, ...]
    template: int
    name: int
    obj: int
    as_words: tuple[bool, ...]  # per number: written as a word (True) or digits in the question

    def key(self) -> str:
        return f"{self.kind}|{self.numbers}|{self.template}|{self.name}|{self.obj}|{self.as_words}"


@dataclass(frozen=True)
class Problem:
    """A canonical problem rendered in one language."""

    id: str
    language: str
    question: str
    prompt: str
    steps: tuple[Step, ...]
    answer: int
    kind: str = ""
    numbers: tuple[int, ...] = ()

    @property
    def solution(self) -> str:
        """Completion text: step lines and the final answer line, newline-separated, no EOS."""
        return render_solution(self.steps, self.language)


def prompt_for(question: str, language: str) -> str:
    """The prompt format used everywhere (SFT, rollout, eval): the question, then a newline."""
    del language  # same format in every language; kept in the signature for future localized prompts
    return f"{question}\n"


def number_word(n: int, language: str, gender: str = "m") -> str:
    """The word for n (0..20) in language, agreeing with gender where the language needs it."""
    if gender == "f" and n in FEMININE_NUMBER_WORDS.get(language, {}):
        return FEMININE_NUMBER_WORDS[language][n]
    return NUMBER_WORDS[language][n]


def step_text(left: int, op: str, right: int, result: int, language: str) -> str:
    """The localized sentence for one step, e.g. '7 plus 5 font 12.'."""
    return STEP_FORMATS[language][op].format(l=left, r=right, res=result)


def final_line(answer: int | str, language: str) -> str:
    """The localized final answer line, e.g. 'Die Antwort ist 12.'."""
    return f"{ANSWER_PHRASES[language]} {answer}."


def render_solution(steps: Iterable[Step], language: str) -> str:
    """Step lines plus the final line; the final answer is the last step's (claimed) result."""
    steps = list(steps)
    return "\n".join([s.text for s in steps] + [final_line(steps[-1].result, language)])


def reference_steps(kind: str, numbers: tuple[int, ...], language: str) -> tuple[Step, ...]:
    """The correct solution steps of a problem, localized."""
    ops = {"add": ("+",), "sub": ("-",), "add_sub": ("+", "-"), "mul": ("*",)}[kind]
    steps, acc = [], numbers[0]
    for op, right in zip(ops, numbers[1:], strict=False):
        result = _OPS[op](acc, right)
        steps.append(Step(step_text(acc, op, right, result, language), acc, op, right, result, True))
        acc = result
    return tuple(steps)


def sample_canonical(rng: random.Random) -> Canonical:
    """Draw one canonical problem: numbers 2..20 with non-negative small results."""
    kind = rng.choices(KINDS, weights=KIND_WEIGHTS)[0]
    numbers: tuple[int, ...]
    if kind == "add":
        numbers = (rng.randint(2, 20), rng.randint(2, 20))
    elif kind == "sub":
        a = rng.randint(3, 20)
        numbers = (a, rng.randint(2, a - 1))
    elif kind == "add_sub":
        a, b = rng.randint(2, 20), rng.randint(2, 20)
        numbers = (a, b, rng.randint(2, min(20, a + b)))
    else:
        numbers = (rng.randint(2, 5), rng.randint(2, 10))
    template, name = rng.randrange(NUM_TEMPLATES), rng.randrange(len(NAMES["en"]))
    if not _mentions_person(kind, template):
        name = 0  # the name would not show: keep one canonical form so that texts and keys stay in 1:1
    return Canonical(
        kind=kind,
        numbers=numbers,
        template=template,
        name=name,
        obj=rng.randrange(len(OBJECTS["en"])),
        as_words=tuple(rng.random() < WORD_PROBABILITY for _ in numbers),
    )


def _mentions_person(kind: str, template: int) -> bool:
    """Whether a template shows the person (name or pronoun) in any language."""
    return any("{name}" in t[kind][template] or "[p:" in t[kind][template] for t in TEMPLATES.values())


def split_of(canon: Canonical) -> str:
    """'eval' or 'train', from a stable hash of the canonical problem (independent of seed and order)."""
    digest = hashlib.sha256(canon.key().encode()).digest()
    return "eval" if int.from_bytes(digest[:8], "big") % 100 < EVAL_PERCENT else "train"


def render(canon: Canonical, language: str, problem_id: str) -> Problem:
    """Render a canonical problem in one language."""
    name, name_gender = NAMES[language][canon.name]
    obj, obj_gender = OBJECTS[language][canon.obj]
    box, box_gender = CONTAINERS[language][canon.template] if canon.kind == "mul" else ("", "m")
    genders = {"p": name_gender, "o": obj_gender, "c": box_gender}
    count_genders = [box_gender if canon.kind == "mul" and i == 0 else obj_gender for i in range(len(canon.numbers))]
    shown = [
        number_word(n, language, g) if word else str(n)
        for n, word, g in zip(canon.numbers, canon.as_words, count_genders, strict=False)
    ]
    template = TEMPLATES[language][canon.kind][canon.template]
    template = _AGREE.sub(lambda m: m.group(2) if genders[m.group(1)] == "m" else m.group(3), template)
    slots = dict(zip("abc", shown, strict=False))
    obj_dat = obj + "n" if language == "de" and not obj.endswith(("n", "s")) else obj
    question = template.format(name=name, obj=obj, obj_dat=obj_dat, box=box, **slots)
    steps = reference_steps(canon.kind, canon.numbers, language)
    return Problem(
        id=problem_id,
        language=language,
        question=question,
        prompt=prompt_for(question, language),
        steps=steps,
        answer=steps[-1].result,
        kind=canon.kind,
        numbers=canon.numbers,
    )


def generate_canonical(split: str, num: int, seed: int = 0) -> list[Canonical]:
    """`num` distinct canonical problems of a split, deterministic in (split, seed)."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    rng = random.Random(f"rlcore-world:{split}:{seed}")
    out: list[Canonical] = []
    seen: set[str] = set()
    for _ in range(200 * num + 10_000):
        if len(out) == num:
            break
        canon = sample_canonical(rng)
        if split_of(canon) == split and canon.key() not in seen:
            seen.add(canon.key())
            out.append(canon)
    if len(out) < num:
        raise ValueError(f"could not draw {num} distinct {split} problems")
    return out


def generate_problems(split: str, num: int, languages: Iterable[str] = LANGUAGES, seed: int = 0) -> list[Problem]:
    """`num` problems per language, ordered by id then language; ids like 'train-000123' are shared by languages."""
    languages = tuple(languages)
    unknown = set(languages) - set(LANGUAGES)
    if unknown:
        raise ValueError(f"unknown languages: {sorted(unknown)}")
    return [
        render(canon, lang, f"{split}-{i:06d}")
        for i, canon in enumerate(generate_canonical(split, num, seed))
        for lang in languages
    ]


def corrupt_solution(problem: Problem, rng: random.Random) -> tuple[tuple[Step, ...], int]:
    """A flawed solution: an arithmetic slip in one step, carried into later steps and the final answer.

    Returns (steps, first_error_index). Steps from the slip on have `correct=False`; later steps compute
    correctly from the wrong value, as a real solver would. Render with `render_solution(steps, language)`.
    """
    ref = problem.steps
    first = rng.randrange(len(ref))
    candidates = [_propagate(ref, first, d, problem.language) for d in (-3, -2, -1, 1, 2, 3, 10, -10)]
    candidates = [c for c in candidates if all(s.result >= 0 for s in c)]  # keep every value non-negative
    return tuple(ref[:first]) + rng.choice(candidates), first


def _propagate(ref: tuple[Step, ...], first: int, delta: int, language: str) -> tuple[Step, ...]:
    """Steps first.. with `delta` added to step `first`'s result and the error carried forward."""
    steps, acc = [], ref[first].left
    for i in range(first, len(ref)):
        s = ref[i]
        result = _OPS[s.op](acc, s.right) + (delta if i == first else 0)
        steps.append(Step(step_text(acc, s.op, s.right, result, language), acc, s.op, s.right, result, False))
        acc = result
    return tuple(steps)


def to_records(problems: Iterable[Problem]) -> list[dict]:
    """JSON-able rows: id, language, kind, prompt, question, answer (str), solution, steps."""
    return [
        {
            "id": p.id,
            "language": p.language,
            "kind": p.kind,
            "prompt": p.prompt,
            "question": p.question,
            "answer": str(p.answer),
            "solution": p.solution,
            "steps": [asdict(s) for s in p.steps],
        }
        for p in problems
    ]
