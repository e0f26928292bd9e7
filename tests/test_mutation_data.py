"""Row validation, the seeded prompt sampler and the parallel sampler on hand-made rows (`make mutation`).

Pure logic only: `_normalize`, `load_rows`' filtering, `load_eval_rows`' choice of source, `PromptSampler`,
`parallel_rows` and `ParallelSampler`. `read_records` (file formats, `datasets`) is I/O and stays with test_data.py.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

import rlcore.world.tasks  # noqa: F401  (imported here once, not inside every mutant's test run)
from rlcore.config import DataSection
from rlcore.data import DataError, PromptSampler, _normalize, load_eval_rows, load_rows
from rlcore.parallel_data import ParallelSampler, parallel_rows


def test_normalize_maps_configured_keys_and_fills_defaults():
    data = DataSection(prompt_key="q", answer_key="a", language_key="lang", id_key="uid")
    row = {"q": "1+1?", "a": 2, "lang": "de", "uid": 17, "extra": [1]}
    out = _normalize(row, data, "f.jsonl", 4)
    assert out == {**row, "prompt": "1+1?", "answer": "2", "language": "de", "id": "17"}
    assert _normalize({"q": "x", "a": "y"}, data, "f.jsonl", 9) == {
        "q": "x",
        "a": "y",
        "prompt": "x",
        "answer": "y",
        "language": "en",
        "id": "row-9",
    }
    assert row == {"q": "1+1?", "a": 2, "lang": "de", "uid": 17, "extra": [1]}  # input left alone


def test_normalize_applies_the_prompt_template():
    data = DataSection(prompt_template="<user>{prompt}</user>")
    assert _normalize({"prompt": "hi", "answer": "1"}, data, "f", 1)["prompt"] == "<user>hi</user>"


def test_normalize_errors_name_source_line_and_keys():
    data = DataSection(prompt_key="q", answer_key="a")
    with pytest.raises(DataError) as error:
        _normalize({"z": 1, "b": 2}, data, "f.jsonl", 3)
    assert str(error.value) == (
        "f.jsonl:3: row lacks ['q', 'a'] (has ['b', 'z']); set data.prompt_key (or data.messages_key) / "
        "data.answer_key if the columns are named differently"
    )
    with pytest.raises(DataError, match=r"^f.jsonl:5: row lacks \['a'\]"):
        _normalize({"q": "x"}, data, "f.jsonl", 5)
    for bad in ("", 12):
        with pytest.raises(DataError, match=r"^f.jsonl:6: 'q' must be a non-empty string$"):
            _normalize({"q": bad, "a": 1}, data, "f.jsonl", 6)


def test_load_rows_filters_file_rows_by_language(tmp_path):
    path = tmp_path / "rows.jsonl"
    lines = [{"prompt": "a", "answer": 1, "language": "en"}, {"prompt": "b", "answer": 2, "language": "fr"}]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    assert [r["prompt"] for r in load_rows(str(path), "train", DataSection(), ["fr"], 0, 1)] == ["b"]
    assert [r["prompt"] for r in load_rows(str(path), "train", DataSection(), None, 0, 1)] == ["a", "b"]
    with pytest.raises(DataError, match=r"rows.jsonl: no rows in languages \['de'\]$"):
        load_rows(str(path), "train", DataSection(), ["de"], 0, 1)
    assert [r["id"] for r in load_rows(str(path), "train", DataSection(), None, 0, 1)] == ["row-1", "row-2"]
    path.write_text(json.dumps(lines[0]) + "\n" + json.dumps({"prompt": ""}) + "\n")
    with pytest.raises(DataError, match=r"rows.jsonl:2: row lacks \['answer'\]"):
        load_rows(str(path), "train", DataSection(), None, 0, 1)


def test_load_rows_builtin_world_checks_languages():
    rows = load_rows("builtin:arith", "train", DataSection(), ["fr"], 3, 4)
    assert len(rows) == 4 and {r["language"] for r in rows} == {"fr"}
    assert len({r["language"] for r in load_rows("builtin:arith", "train", DataSection(), None, 3, 1)}) > 1
    again = load_rows("builtin:arith", "train", DataSection(), ["fr"], 3, 4)
    other_seed = load_rows("builtin:arith", "train", DataSection(), ["fr"], 4, 4)
    assert again == rows and other_seed != rows  # seeded
    with pytest.raises(DataError, match=r"the builtin world has no language\(s\) \['xx', 'yy'\]; it has \["):
        load_rows("builtin:arith", "train", DataSection(), ["yy", "en", "xx"], 0, 1)


def test_load_eval_rows_picks_eval_source_then_builtin_then_nothing(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps({"prompt": "p", "answer": 1, "language": "de"}) + "\n")
    assert [r["prompt"] for r in load_eval_rows(DataSection(eval_source=str(path)))] == ["p"]
    assert load_eval_rows(DataSection(source=str(path))) == []
    builtin = load_eval_rows(DataSection(eval_languages=["de"], eval_questions_per_language=3))
    assert len(builtin) == 3 and {r["language"] for r in builtin} == {"de"}
    assert load_eval_rows(DataSection(eval_languages=["de"], eval_questions_per_language=3, eval_seed=0)) == builtin
    assert load_eval_rows(DataSection(eval_languages=["de"], eval_questions_per_language=3, eval_seed=1)) != builtin
    with pytest.raises(DataError, match="no rows in languages"):
        load_eval_rows(DataSection(eval_source=str(path), eval_languages=["fr"]))


ROWS = [{"id": i} for i in range(8)]


def ids(rows: list[dict]) -> list[int]:
    return [row["id"] for row in rows]


def test_sampler_needs_rows():
    with pytest.raises(DataError, match=r"^no training rows$"):
        PromptSampler([], seed=0)


def test_unshuffled_sampler_walks_the_rows_in_order_across_epochs():
    sampler = PromptSampler(ROWS[:3], seed=0, shuffle=False)
    assert [ids(sampler.next_batch(2)) for _ in range(4)] == [[0, 1], [2, 0], [1, 2], [0, 1]]
    assert sampler.state() == {"epoch": 2, "index": 2}


def test_each_epoch_is_a_permutation_and_epochs_are_shuffled_differently():
    sampler = PromptSampler(ROWS, seed=5)
    epochs = [ids(sampler.next_batch(8)) for _ in range(3)]
    assert all(sorted(epoch) == list(range(8)) for epoch in epochs)
    assert epochs[0] != list(range(8))  # shuffled (8! orders; this seed is not the identity)
    assert epochs[0] != epochs[1] and epochs[1] != epochs[2]  # a new order every epoch
    assert sampler.state() == {"epoch": 2, "index": 8}
    again = PromptSampler(ROWS, seed=5)
    assert [ids(again.next_batch(8)) for _ in range(3)] == epochs  # seeded: the same orders again
    assert ids(PromptSampler(ROWS, seed=6).next_batch(8)) != epochs[0]


def test_a_step_crossing_an_epoch_boundary_finishes_the_epoch_then_starts_the_next():
    sampler = PromptSampler(ROWS, seed=2)
    whole = PromptSampler(ROWS, seed=2)
    epoch0, epoch1 = ids(whole.next_batch(8)), ids(whole.next_batch(8))
    assert ids(sampler.next_batch(5)) == epoch0[:5]
    assert ids(sampler.next_batch(6)) == epoch0[5:] + epoch1[:3]
    assert sampler.state() == {"epoch": 1, "index": 3}
    assert ids(sampler.next_batch(20)) == epoch1[3:] + ids(whole.next_batch(8)) + ids(whole.next_batch(8))[:7]


def test_sampler_state_round_trips_through_json_like_values():
    sampler = PromptSampler(ROWS, seed=4)
    reference = PromptSampler(ROWS, seed=4)
    reference.next_batch(11)
    sampler.load_state({"epoch": "1", "index": 3.0})
    assert sampler.state() == {"epoch": 1, "index": 3}
    assert type(sampler.state()["epoch"]) is int and type(sampler.state()["index"]) is int
    assert sampler.next_batch(7) == reference.next_batch(7)


PARALLEL = [
    {"id": q, "language": lang, "prompt": f"{q}-{lang}"}
    for q in ("q0", "q1", "q2", "q3")
    for lang in ("en", "fr", "de")
    if not (q == "q2" and lang == "de")
]


def test_parallel_rows_keep_only_questions_in_every_wanted_language():
    assert {r["prompt"] for r in parallel_rows(PARALLEL, ["en", "de"])} == {
        f"{q}-{lang}" for q in ("q0", "q1", "q3") for lang in ("en", "de")
    }
    assert len(parallel_rows(PARALLEL, ["en", "fr"])) == 8
    with pytest.raises(DataError, match=r"no question id is present in all of the languages \['xx'\]"):
        parallel_rows(PARALLEL, ["xx"])


def full_rows(n: int, languages: list[str]) -> list[dict]:
    return [{"id": f"q{i}", "language": lang, "prompt": f"q{i}-{lang}"} for i in range(n) for lang in languages]


def test_question_batching_carries_a_cut_question_into_the_next_step():
    langs = ["en", "fr", "de"]
    sampler = ParallelSampler(full_rows(4, langs), langs, seed=0, batching="question")
    order = ids(PromptSampler([{"id": f"q{i}"} for i in range(4)], 0).next_batch(4))
    first = sampler.next_batch(4)
    assert [(r["id"], r["language"]) for r in first] == [(order[0], lang) for lang in langs] + [(order[1], "en")]
    assert sampler.state()["pending"] == [[order[1], "fr"], [order[1], "de"]]
    second = sampler.next_batch(2)
    assert [(r["id"], r["language"]) for r in second] == [(order[1], "fr"), (order[1], "de")]
    assert sampler.state()["pending"] == []


def test_language_batching_rotates_the_remainder_and_shuffles_each_language_on_its_own():
    langs = ["en", "fr", "de"]
    sampler = ParallelSampler(full_rows(6, langs), langs, seed=0, batching="language")
    steps = [Counter(r["language"] for r in sampler.next_batch(4)) for _ in range(3)]
    assert steps == [{"en": 2, "fr": 1, "de": 1}, {"en": 1, "fr": 2, "de": 1}, {"en": 1, "fr": 1, "de": 2}]
    assert sampler.state()["turn"] == 0
    steps = [Counter(r["language"] for r in sampler.next_batch(5)) for _ in range(3)]  # a remainder of two
    assert steps == [{"en": 2, "fr": 2, "de": 1}, {"en": 2, "fr": 1, "de": 2}, {"en": 1, "fr": 2, "de": 2}]
    one = ParallelSampler(full_rows(6, langs), langs, seed=0, batching="language").next_batch(1)
    assert [r["language"] for r in one] == ["en"]  # languages with no share this step draw nothing
    orders = ParallelSampler(full_rows(6, langs), langs, seed=0, batching="language").next_batch(18)
    per_language = {lang: [r["id"] for r in orders if r["language"] == lang] for lang in langs}
    assert per_language["en"] != per_language["fr"] != per_language["de"] != per_language["en"]


def test_parallel_sampler_state_resumes_every_mode():
    langs = ["en", "fr"]
    for batching in ("question", "language", "random"):
        sampler = ParallelSampler(full_rows(5, langs), langs, seed=3, batching=batching)
        sampler.next_batch(3)
        state = json.loads(json.dumps(sampler.state()))
        expected = sampler.next_batch(7)
        resumed = ParallelSampler(full_rows(5, langs), langs, seed=3, batching=batching)
        resumed.load_state(state)
        assert resumed.next_batch(7) == expected, batching
        assert resumed.state() == sampler.state()


def test_random_batching_is_one_shuffle_over_all_rows_and_shuffle_false_keeps_file_order():
    langs = ["en", "fr"]
    rows = full_rows(6, langs)
    random = ParallelSampler(rows, langs, seed=1, batching="random").next_batch(12)
    assert sorted(r["prompt"] for r in random) == sorted(r["prompt"] for r in rows) and random != rows
    ordered = ParallelSampler(rows, langs, seed=1, batching="random", shuffle=False).next_batch(12)
    assert ordered == rows
    by_question = ParallelSampler(rows, langs, seed=1, batching="question", shuffle=False).next_batch(12)
    assert by_question == rows
    by_language = ParallelSampler(rows, langs, seed=1, batching="language", shuffle=False).next_batch(12)
    assert by_language == rows[0::2] + rows[1::2]
