"""Prompt data: local files with clear errors, the builtin world, and a sampler that resumes exactly."""

from __future__ import annotations

import json

import pytest

from rlcore.config import DataSection
from rlcore.data import DataError, PromptSampler, load_rows


def test_jsonl_rows_and_errors_name_file_and_line(tmp_path):
    good = tmp_path / "train.jsonl"
    good.write_text(
        json.dumps({"question": "1+1?", "gold": 2, "lang": "en"})
        + "\n\n"
        + json.dumps({"question": "2+2?", "gold": 4})
        + "\n"
    )
    data = DataSection(prompt_key="question", answer_key="gold", language_key="lang")
    rows = load_rows(str(good), "train", data, None, 0, 10)
    assert [(r["prompt"], r["answer"], r["language"], r["id"]) for r in rows] == [
        ("1+1?", "2", "en", "row-1"),
        ("2+2?", "4", "en", "row-3"),
    ]

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "a", "answer": 1}) + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: not valid JSON"):
        load_rows(str(bad), "train", DataSection(), None, 0, 10)
    bad.write_text(json.dumps({"prompt": "a", "answer": 1}) + "\n" + json.dumps({"text": "b"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: row lacks \['prompt', 'answer'\]"):
        load_rows(str(bad), "train", DataSection(), None, 0, 10)
    with pytest.raises(DataError, match="not found"):
        load_rows(str(tmp_path / "missing.jsonl"), "train", DataSection(), None, 0, 10)


def test_parquet_rows(tmp_path):
    import datasets

    path = tmp_path / "train.parquet"
    datasets.Dataset.from_list([{"prompt": "p", "answer": "1", "language": "de", "id": "q1"}]).to_parquet(str(path))
    assert load_rows(str(path), "train", DataSection(), ["de"], 0, 10)[0]["id"] == "q1"


def test_builtin_world_is_parallel():
    rows = load_rows("builtin:arith", "train", DataSection(), ["en", "de"], 0, 5)
    assert len(rows) == 10 and {r["language"] for r in rows} == {"en", "de"}
    by_id = {}
    for row in rows:
        by_id.setdefault(row["id"], set()).add(row["answer"])
    assert all(len(answers) == 1 for answers in by_id.values())
    with pytest.raises(DataError, match="no language"):
        load_rows("builtin:arith", "train", DataSection(), ["xx"], 0, 5)


def test_sampler_resumes_exactly_including_at_epoch_boundaries():
    rows = [{"id": i} for i in range(6)]
    reference = PromptSampler(rows, seed=1)
    expected = [[r["id"] for r in reference.next_batch(4)] for _ in range(5)]
    for cut in range(1, 5):
        sampler = PromptSampler(rows, seed=1)
        for _ in range(cut):
            sampler.next_batch(4)
        resumed = PromptSampler(rows, seed=1)
        resumed.load_state(sampler.state())
        assert [[r["id"] for r in resumed.next_batch(4)] for _ in range(5 - cut)] == expected[cut:]
    at_boundary = PromptSampler(rows, seed=1)
    at_boundary.next_batch(6)
    assert at_boundary.state() == {"epoch": 0, "index": 6}
    assert len(at_boundary.next_batch(3)) == 3  # an epoch boundary never yields an empty step
