"""The synthetic multilingual arithmetic tasks: determinism, parallelism, splits, correctness, corruption."""

import json
import random
import re

import pytest

from rlcore.grading import final_answer, is_correct
from rlcore.world.tasks import (
    ANSWER_PHRASES,
    LANGUAGES,
    NUMBER_WORDS,
    Problem,
    Step,
    corrupt_solution,
    generate_problems,
    prompt_for,
    render_solution,
    to_records,
)

OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


@pytest.fixture(scope="module")
def train() -> list[Problem]:
    return generate_problems("train", 200)


def test_deterministic_and_ordered(train):
    again = generate_problems("train", 200)
    assert train == again
    assert len(train) == 200 * len(LANGUAGES)
    assert [(p.id, p.language) for p in train] == sorted(
        ((p.id, p.language) for p in train), key=lambda t: (t[0], LANGUAGES.index(t[1]))
    )
    assert train[0].id == "train-000000"
    assert generate_problems("train", 50, seed=1) != generate_problems("train", 50, seed=0)


def test_prefix_stable_when_num_grows():
    small = generate_problems("eval", 20, languages=("en",))
    assert generate_problems("eval", 40, languages=("en",))[:20] == small


def test_parallel_across_languages(train):
    by_id: dict[str, list[Problem]] = {}
    for p in train:
        by_id.setdefault(p.id, []).append(p)
    for group in by_id.values():
        assert [p.language for p in group] == list(LANGUAGES)
        assert len({p.answer for p in group}) == 1
        assert len({p.numbers for p in group}) == 1
        assert len({p.kind for p in group}) == 1
        assert len({p.question for p in group}) == len(LANGUAGES)  # really translated


def test_language_subset_matches_full():
    full = {(p.id, p.language): p for p in generate_problems("train", 30)}
    for p in generate_problems("train", 30, languages=("de", "pt")):
        assert full[(p.id, p.language)] == p


def test_train_eval_disjoint():
    train_q = {p.question for p in generate_problems("train", 2000, languages=("en",))}
    eval_q = {p.question for p in generate_problems("eval", 500, languages=("en",))}
    assert len(train_q) == 2000 and len(eval_q) == 500  # distinct within a split
    assert not train_q & eval_q
    assert not {p.question for p in generate_problems("eval", 500, languages=("en",), seed=3)} & train_q


def test_invalid_arguments():
    with pytest.raises(ValueError):
        generate_problems("test", 3)
    with pytest.raises(ValueError):
        generate_problems("train", 3, languages=("xx",))


def test_steps_correct_and_answer_consistent(train):
    kinds = set()
    for p in train:
        kinds.add(p.kind)
        assert all(s.correct for s in p.steps)
        for s in p.steps:
            assert OPS[s.op](s.left, s.right) == s.result
            assert f"{s.left}" in s.text and f"{s.result}" in s.text
        for prev, nxt in zip(p.steps, p.steps[1:], strict=False):
            assert nxt.left == prev.result
        assert p.steps[-1].result == p.answer >= 0
        assert all(2 <= n <= 20 for n in p.numbers)
        lines = p.solution.split("\n")
        assert lines[:-1] == [s.text for s in p.steps]
        assert lines[-1] == f"{ANSWER_PHRASES[p.language]} {p.answer}."
        assert p.prompt == prompt_for(p.question, p.language) and p.prompt.startswith(p.question)
        assert "</s>" not in p.solution and "\n" not in p.question
        assert "[" not in p.question and "{" not in p.question  # every placeholder filled
    assert kinds == {"add", "sub", "add_sub", "mul"}


def test_localized_step_phrasing(train):
    words = {"en": "is", "fr": "font", "de": "ist", "es": "son", "it": "fa", "pt": "são"}
    sub_words = {"en": "minus", "fr": "moins", "de": "weniger", "es": "menos", "it": "meno", "pt": "menos"}
    for p in train:
        if p.kind in ("add", "sub", "add_sub"):
            assert words[p.language] in p.solution
        if p.kind in ("sub", "add_sub"):
            assert sub_words[p.language] in p.solution


def test_number_words_in_questions(train):
    for lang in LANGUAGES:
        assert all(len(NUMBER_WORDS[lang]) >= 21 for lang in LANGUAGES)
        questions = [p.question for p in train if p.language == lang]
        vocab = set(NUMBER_WORDS[lang][2:]) | {"duas"}
        with_words = [q for q in questions if vocab & set(re.findall(r"[\w-]+", q))]
        with_digits = [q for q in questions if re.search(r"\d", q)]
        assert 0.3 < len(with_words) / len(questions) < 0.95
        assert 0.3 < len(with_digits) / len(questions) < 0.99


def test_feminine_number_agreement():
    pt = generate_problems("train", 3000, languages=("pt",))
    assert any(" duas " in p.question for p in pt)
    assert not any(re.search(r"dois (maçãs|flores|cartas|bolinhas|caixas)", p.question) for p in pt)


def test_corrupt_solution_marks_first_error(train):
    rng = random.Random(0)
    seen_positions = set()
    for p in train[:600]:
        steps, first = corrupt_solution(p, rng)
        seen_positions.add((len(steps), first))
        assert len(steps) == len(p.steps)
        assert all(isinstance(s, Step) for s in steps)
        assert all(s.correct for s in steps[:first])
        assert steps[:first] == p.steps[:first]
        assert not steps[first].correct
        assert OPS[steps[first].op](steps[first].left, steps[first].right) != steps[first].result  # the slip
        for prev, nxt in zip(steps[first:], steps[first + 1 :], strict=False):
            assert nxt.left == prev.result  # the error propagates
            assert OPS[nxt.op](nxt.left, nxt.right) == nxt.result
            assert not nxt.correct
        assert steps[-1].result != p.answer and steps[-1].result >= 0
        wrong = render_solution(steps, p.language)
        assert final_answer(wrong) == str(steps[-1].result) and not is_correct(wrong, str(p.answer), p.language)
    assert {(2, 0), (2, 1), (1, 0)} <= seen_positions


def test_to_records_json(train):
    rows = to_records(train[:12])
    json.dumps(rows)
    assert set(rows[0]) >= {"id", "language", "prompt", "question", "answer", "solution", "steps"}
    assert rows[0]["answer"] == str(train[0].answer)
    assert rows[0]["steps"][0]["op"] in OPS


def test_solutions_grade_correct_in_each_language(train):
    """The world's solutions end with an answer line the one grader (rlcore.grading) reads in every language."""
    for p in train[: len(LANGUAGES) * 5]:
        assert final_answer(p.solution) == str(p.answer)
        assert is_correct(p.solution, str(p.answer), p.language)
    for lang, phrase in ANSWER_PHRASES.items():
        assert final_answer(f"3 plus 9 is 12.\n{phrase} 12.\n") == "12"
        assert is_correct(f"{phrase} 012.", "12", lang) and not is_correct(f"{phrase} 13.", "12", lang)
    assert final_answer("7 plus 5 is 12.") is None and final_answer("") is None
