"""The iteration store: an iteration counts once its pairs are written; a fresh run moves old data aside."""

from __future__ import annotations

import json

import pytest

from rlcore.iteration_store import IterationStore


def test_saved_iteration_reloads_with_counts_in_its_summary(tmp_path):
    store = IterationStore(tmp_path)
    assert not store.has(1) and store.num_pairs(1) is None
    pairs = [{"prompt": "p", "chosen": "a", "rejected": "b", "ref_chosen_logp": -1.25}]
    store.save(1, pairs, [{"response": "é"}, {"response": "b"}], {"sampler_after": {"index": 3}})
    loaded, summary = store.load(1)
    assert loaded == pairs and store.num_pairs(1) == 1
    assert summary == {"iteration": 1, "pairs": 1, "generations": 2, "sampler_after": {"index": 3}}
    assert "é" in (tmp_path / "iterations" / "iter_1" / "generations.jsonl").read_text(encoding="utf-8")


def test_iteration_without_pairs_file_is_incomplete(tmp_path):
    store = IterationStore(tmp_path)
    store.folder(2).mkdir(parents=True)
    (store.folder(2) / "summary.json").write_text(json.dumps({"pairs": 4}))  # crashed before pairs.jsonl
    assert not store.has(2) and store.num_pairs(2) is None
    with pytest.raises(FileNotFoundError, match="iteration 2"):
        store.load(2)
