"""The world's critique teacher: verdicts without noise, noise rates, gold-labelled steps only, determinism, the
R-PRM data files, the CLI's split and the compact prompt's token budget on the tiny model."""

from __future__ import annotations

import itertools
import json
import random
import re

import pytest

from rlcore.chat import PromptFormatter
from rlcore.pair_files import load_pair_file, read_jsonl
from rlcore.prm import NO, YES, parse_verdict
from rlcore.prm_data import labelled_steps
from rlcore.processbench import read_processbench
from rlcore.world.critiques import answer_error_rows, critique, critiqued_steps, main, write_prm_data
from rlcore.world.labelled import labelled_rows
from rlcore.world.lexicon import NAMES, NUMBER_WORDS, OBJECTS
from rlcore.world.tasks import KINDS, LANGUAGES, NUM_TEMPLATES, Canonical, generate_problems, render

ROWS = labelled_rows(generate_problems("train", 50, seed=5), seed=5)
CHECK = re.compile(r"Check: .*?(-?\d+)\. The step says (-?\d+): (?:same|different)\.")


def _row(label: int) -> dict:
    return next(row for row in ROWS if row["label"] == label and len(row["steps"]) == 3)


def test_noiseless_critiques_recompute_in_the_step_language_and_judge_right():
    wrong = _row(1)  # two operations: step 0 right, step 1 the slip, step 2 (the answer) unlabelled
    rng = random.Random(0)
    first, second = (
        critique(wrong, index, label, rng, 0.0, 0.0)
        for index, label in labelled_steps(wrong["label"], len(wrong["steps"]))
    )
    gold = wrong["gold_steps"]
    assert parse_verdict(first) is True and wrong["steps"][0] in first
    assert parse_verdict(second) is False
    assert f"{gold[1]['result']}." in second.split(" The step says ")[0]  # the right result, in the step's words
    assert second.split("\n")[0].endswith(f"The step says {wrong['steps'][1].split()[-1][:-1]}: different.")
    reference = _row(-1)
    final = critique(reference, 2, True, rng, 0.0, 0.0)  # the answer line: the previous result vs the answer
    assert parse_verdict(final) is True and final.startswith(f"Check: {reference['steps'][2]} The step says")
    with pytest.raises(ValueError, match="disagrees"):
        critique(wrong, 1, True, rng, 0.0, 0.0)


def test_only_gold_labelled_steps_are_critiqued():
    steps = critiqued_steps(ROWS, k=2, seed=0)
    by_row: dict[str, list[tuple[int, bool]]] = {}
    for step in steps:
        row_id, index = step.id.rsplit("/", 1)
        by_row.setdefault(row_id, []).append((int(index), step.label))
    for row in ROWS:
        count, label = len(row["steps"]), row["label"]
        expected = [(i, True) for i in range(count)] if label < 0 else [(i, i != label) for i in range(label + 1)]
        assert by_row[row["id"]] == expected
    assert all(len(step.critiques) == 2 for step in steps)
    assert {row["label"] for row in ROWS} >= {-1, 0, 1}  # references, and slips at the first and a later step


def test_noise_rates_and_verdicts_follow_the_teachers_own_check():
    rows = labelled_rows(generate_problems("train", 300, seed=1), seed=1)
    steps = critiqued_steps(rows, k=4, seed=2, slip=0.2, no_verdict=0.05)
    verdicts = [(parse_verdict(text), step.label, text) for step in steps for text in step.critiques]
    missing = sum(verdict is None for verdict, _, _ in verdicts)
    judged = [(verdict, label) for verdict, label, _ in verdicts if verdict is not None]
    wrong = sum(verdict != label for verdict, label in judged)
    assert len(verdicts) > 10_000
    assert missing / len(verdicts) == pytest.approx(0.05, abs=0.01)  # about 5 standard errors: fixed seed, cannot flake
    assert wrong / len(judged) == pytest.approx(0.2, abs=0.02)
    for verdict, _, text in verdicts:  # a wrong verdict comes with a wrong analysis, as in a sampled critique
        recomputed, stated = CHECK.match(text).groups()
        assert verdict is None or verdict == (recomputed == stated)
    assert all(
        parse_verdict(text) is not None
        for step in critiqued_steps(rows[:50], no_verdict=0.0)
        for text in step.critiques
    )


def test_critiques_are_deterministic_and_per_step_seeded():
    once = critiqued_steps(ROWS, seed=3)
    assert once == critiqued_steps(ROWS, seed=3)
    assert once != critiqued_steps(ROWS, seed=4)
    subset = critiqued_steps(ROWS[10:20], seed=3)  # a step's critiques do not depend on the other rows
    assert subset == [step for step in once if step.id in {s.id for s in subset}]
    with pytest.raises(ValueError, match="slip"):
        critiqued_steps(ROWS, slip=1.5)
    with pytest.raises(ValueError, match="k must"):
        critiqued_steps(ROWS, k=0)


def test_written_data_is_balanced_and_loads_as_pairs(tmp_path, tiny_model_path):
    counts = write_prm_data(ROWS, tmp_path, k=4, seed=0)
    sft, pairs = read_jsonl(tmp_path / "prm_sft.jsonl"), read_jsonl(tmp_path / "prm_dpo.jsonl")
    assert counts["sft"]["rows"] == len(sft) > 0 and counts["dpo"]["pairs"] == len(pairs) > 0
    assert sum(row["completion"].endswith(YES) for row in sft) == sum(row["completion"].endswith(NO) for row in sft)
    assert all(row["prompt"].startswith("Question: ") and "Now Step: " in row["prompt"] for row in sft)
    for pair in pairs:
        assert parse_verdict(pair["chosen"]) == pair["step_label"] != parse_verdict(pair["rejected"])
    assert counts["yes_steps"] + counts["no_steps"] == counts["steps"] and "heldout" not in counts["paths"]
    loaded = load_pair_file(str(tmp_path / "prm_dpo.jsonl"), PromptFormatter.for_model(tiny_model_path))
    assert [row["id"] for row in loaded] == [pair["id"] for pair in pairs]


def test_cli_writes_the_three_files_with_disjoint_questions(tmp_path, capsys):
    main([str(tmp_path), "--problems", "20", "--heldout", "10", "--seed", "1"])
    counts = json.loads(capsys.readouterr().out)
    heldout = read_processbench(tmp_path / "processbench_heldout.jsonl")
    assert counts["rows"] == 20 * len(LANGUAGES) and len(heldout) == counts["heldout_rows"] == 10 * len(LANGUAGES)
    questions = {
        row["prompt"].split("\n")[0].removeprefix("Question: ") for row in read_jsonl(tmp_path / "prm_sft.jsonl")
    }
    assert questions and not questions & {solution.problem for solution in heldout}
    assert all(solution.id.startswith("eval-") for solution in heldout)


def _longest_problems(formatter: PromptFormatter) -> list:
    """Every kind, template, name and object in every language, with each kind's numbers written as the words
    that take the most tokens: the longest questions the world asks."""
    ranges = {
        "add": itertools.product(range(2, 21), range(2, 21)),
        "sub": ((a, b) for a in range(3, 21) for b in range(2, a)),
        "add_sub": ((a, b, c) for a in range(2, 21) for b in range(2, 21) for c in range(2, min(20, a + b) + 1)),
        "mul": itertools.product(range(2, 6), range(2, 11)),
    }
    choices = {kind: list(numbers) for kind, numbers in ranges.items()}
    problems = []
    for language in LANGUAGES:
        cost = {n: len(formatter.response_ids(f" {word}")) for n, word in enumerate(NUMBER_WORDS[language])}
        for kind in KINDS:
            numbers = max(choices[kind], key=lambda ns: (sum(cost[n] for n in ns), sum(ns)))
            for template, name, obj in itertools.product(
                range(NUM_TEMPLATES), range(len(NAMES[language])), range(len(OBJECTS[language]))
            ):
                canon = Canonical(kind, numbers, template, name, obj, (True,) * len(numbers))
                problems.append(render(canon, language, f"long-{len(problems)}"))
    return problems


def test_compact_prompt_and_critique_fit_the_tiny_models_window(tiny_model_path):
    formatter = PromptFormatter.for_model(tiny_model_path)
    problems = _longest_problems(formatter)
    rows = labelled_rows(problems, error_share=0.0) + labelled_rows(problems, error_share=1.0)
    steps = critiqued_steps(rows, k=2, slip=1.0, no_verdict=0.0)  # slipped checks can add a digit
    assert max(len(row["steps"]) for row in rows) == 3  # the longest solutions: two operations and the answer
    longest = max(
        len(formatter.encode(step.prompt).ids) + len(formatter.response_ids(text))
        for step in steps
        for text in step.critiques
    )
    assert longest <= 256 - 64  # measured 161 + EOS: room for longer critiques at the PRM's sampling


def test_answer_error_rows_state_the_answer_early_or_off_and_label_that_line():
    rows = labelled_rows(generate_problems("train", 30), 0)
    errors = answer_error_rows(rows)
    assert len(errors) == sum(row["label"] == -1 for row in rows)
    rng = random.Random(0)
    for row in errors:
        answer_line = row["label"]
        assert answer_line == len(row["steps"]) - 1  # the answer line is the first (and last) error
        verdicts = [
            parse_verdict(critique(row, i, ok, rng, 0.0, 0.0))
            for i, ok in labelled_steps(answer_line, len(row["steps"]))
        ]
        assert verdicts == [True] * answer_line + [False]
