"""Acc@k over languages, majority vote across languages and the parallel sampler, on small hand-made tables."""

from __future__ import annotations

import pytest

from rlcore.data import DataError
from rlcore.multilingual import (
    ParallelResults,
    acc_at_k,
    accuracy_per_language,
    majority_vote,
    normalize_answer,
    parallel_report,
    report_metrics,
)
from rlcore.parallel_data import ParallelSampler, parallel_rows

LANGS = ["en", "fr", "de"]
# question -> per language (correct, answer); gold answers: q1=5, q2=7, q3=9, q4=2
TABLE = {
    "q1": [(True, "5"), (False, "6"), (False, "6")],  # vote 6 wins 2:1 -> wrong
    "q2": [(False, "8"), (True, "7"), (True, "7,0")],  # vote 7 (7 == 7,0 in German) -> right
    "q3": [(False, "1"), (False, "2"), (True, "9")],  # three-way tie -> English's answer -> wrong
    "q4": [(False, None), (False, None), (False, None)],  # no votes -> unsolved
}


def results() -> ParallelResults:
    ids, langs, correct, answers = [], [], [], []
    for qid, cells in TABLE.items():
        for lang, (ok, answer) in zip(LANGS, cells, strict=True):
            ids.append(qid), langs.append(lang), correct.append(ok), answers.append(answer)
    return ParallelResults.from_graded(ids, langs, correct, answers, LANGS)


def test_accuracy_per_language():
    assert accuracy_per_language(results()) == {"en": 0.25, "fr": 0.25, "de": 0.5}


def test_acc_at_k_best_subset_and_mean():
    table = acc_at_k(results())
    assert table[1]["best"] == 0.5 and table[1]["best_subset"] == ["de"]
    assert table[1]["mean"] == pytest.approx((0.25 + 0.25 + 0.5) / 3)
    # pairs: en+fr solves q1,q2; en+de q1,q2,q3; fr+de q2,q3
    assert table[2]["best"] == 0.75 and table[2]["best_subset"] == ["en", "de"]
    assert table[2]["mean"] == pytest.approx((0.5 + 0.75 + 0.5) / 3)
    assert table[3] == {"best": 0.75, "best_subset": LANGS, "mean": 0.75, "subsets": 1, "greedy": False}


def test_majority_vote_with_ties_going_to_the_earliest_language():
    assert majority_vote(results()) == {"accuracy": 0.25, "questions": 4}  # only q2
    swapped = ParallelResults.from_graded(
        ["q"] * 3, ["de", "fr", "en"], [True, False, False], ["9", "2", "1"], ["de", "fr", "en"]
    )
    assert majority_vote(swapped)["accuracy"] == 1.0  # now German is first in the order and wins the tie


def test_questions_missing_a_language_are_left_out_and_report_is_flat():
    partial = ParallelResults.from_graded(["a", "a", "b"], ["en", "fr", "en"], [True, False, True], ["1", "2", "3"])
    assert partial.ids == ["a"] and partial.languages == ["en", "fr"]
    report = parallel_report(results())
    assert report["questions"] == 4 and report["mean_accuracy"] == pytest.approx(1 / 3)
    metrics = report_metrics(report)
    assert metrics == {
        "eval/acc_at_k/1": 0.5,
        "eval/acc_at_k/2": 0.75,
        "eval/acc_at_k/3": 0.75,
        "eval/majority_vote": 0.25,
        "eval/parallel_questions": 4,
    }


def test_normalize_answer_is_the_graders_key():
    assert normalize_answer("12", "en") == normalize_answer("12.0", "en") == normalize_answer(" 12. ", "en") == "12"
    assert normalize_answer("2,5", "de") == normalize_answer("2.5", "en") == "5/2"
    assert normalize_answer("\\frac{1}{2}", "en") == normalize_answer("0.5", "en") == "1/2"
    assert normalize_answer(None, "en") is None


def rows(ids, languages):
    return [{"id": q, "language": lang, "prompt": f"{q}-{lang}"} for q in ids for lang in languages]


def test_parallel_rows_keep_questions_present_in_every_language():
    data = rows(["a", "b"], ["en", "fr"]) + rows(["c"], ["en"])
    assert {(r["id"], r["language"]) for r in parallel_rows(data, ["en", "fr"])} == {
        ("a", "en"),
        ("a", "fr"),
        ("b", "en"),
        ("b", "fr"),
    }
    assert len(parallel_rows(data, ["en"])) == 3
    with pytest.raises(DataError, match="no question id"):
        parallel_rows(data, ["de"])


def test_question_batching_keeps_language_versions_together_and_the_budget_exact():
    data = rows([f"q{i}" for i in range(10)], ["en", "fr", "de"])
    sampler = ParallelSampler(data, ["en", "fr", "de"], seed=3, batching="question")
    first = sampler.next_batch(6)
    assert len(first) == 6 and len({r["id"] for r in first}) == 2
    for qid in {r["id"] for r in first}:
        assert sorted(r["language"] for r in first if r["id"] == qid) == ["de", "en", "fr"]
    second = sampler.next_batch(4)  # 4 = one whole question + one version of the next, carried over
    state = sampler.state()
    third = sampler.next_batch(5)
    assert [r["id"] for r in third[:2]] == [second[-1]["id"]] * 2  # the cut question's other versions come first
    resumed = ParallelSampler(data, ["en", "fr", "de"], seed=3, batching="question")
    resumed.load_state(state)
    assert resumed.next_batch(5) == third


def test_language_batching_balances_languages_and_resumes():
    data = rows([f"q{i}" for i in range(10)], ["en", "fr", "de"])
    sampler = ParallelSampler(data, ["en", "fr", "de"], seed=1, batching="language")
    counts = {"en": 0, "fr": 0, "de": 0}
    for _ in range(3):
        for row in sampler.next_batch(8):  # 8 = 2 each + a remainder of 2 that rotates
            counts[row["language"]] += 1
    assert counts == {"en": 8, "fr": 8, "de": 8}
    state = sampler.state()
    expected = sampler.next_batch(5)
    resumed = ParallelSampler(data, ["en", "fr", "de"], seed=1, batching="language")
    resumed.load_state(state)
    assert resumed.next_batch(5) == expected
    random_batch = ParallelSampler(data, ["en", "fr", "de"], seed=1, batching="random").next_batch(30)
    assert sorted(r["prompt"] for r in random_batch) == sorted(r["prompt"] for r in data)


def test_mgsm_style_file_with_prompt_template_loads_as_parallel_rows(tmp_path):
    import json

    from rlcore.config import DataSection
    from rlcore.data import load_rows

    path = tmp_path / "mgsm.jsonl"
    items = [("q1", "en", "Two plus two?", 4), ("q1", "fr", "Deux plus deux ?", 4), ("q2", "en", "One?", 1)]
    path.write_text(
        "".join(
            json.dumps({"qid": q, "lang": lang, "question": text, "answer_number": a}) + "\n"
            for q, lang, text, a in items
        )
    )
    data = DataSection(
        prompt_key="question",
        answer_key="answer_number",
        language_key="lang",
        id_key="qid",
        prompt_template="<|im_start|>user\n{prompt}\nPut your final answer within \\boxed{}.<|im_end|>",
    )
    rows = parallel_rows(load_rows(str(path), "train", data, ["en", "fr"], 0, 0), ["en", "fr"])
    assert [(r["id"], r["language"], r["answer"]) for r in rows] == [("q1", "en", "4"), ("q1", "fr", "4")]
    assert rows[1]["prompt"] == "<|im_start|>user\nDeux plus deux ?\nPut your final answer within \\boxed{}.<|im_end|>"


def test_vote_keys_follow_the_answer_language():
    assert normalize_answer("1.234", "de") == normalize_answer("1234", "en")  # German thousands separator
    assert normalize_answer("12345678901234567", "en") != normalize_answer("12345678901234568", "en")
