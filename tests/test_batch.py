"""Batch: split/concat round trip, padding of per-token arrays, selection."""

import numpy as np
import pytest

from rlcore.batch import Batch, pad_sequences


def make_batch(n: int = 7) -> Batch:
    tokens, mask = pad_sequences([list(range(i % 3 + 1)) for i in range(n)], dtype=np.float32)
    return Batch(
        tensors={"score": np.arange(n, dtype=np.float32), "logprobs": tokens, "mask": mask},
        columns={"text": [f"t{i}" for i in range(n)], "language": ["en", "fr"] * (n // 2) + ["en"] * (n % 2)},
        meta={"step": 3},
    )


@pytest.mark.parametrize("parts", [1, 2, 3, 7, 9])
def test_split_concat_round_trip(parts):
    batch = make_batch()
    shards = batch.split(parts)
    assert len(shards) == parts and sum(len(s) for s in shards) == len(batch)
    assert max(len(s) for s in shards) - min(len(s) for s in shards) <= 1
    again = Batch.concat(shards)
    assert again.columns == batch.columns and again.meta == batch.meta
    for key in batch.tensors:
        np.testing.assert_array_equal(again[key], batch[key])


def test_concat_pads_per_token_arrays_to_the_longest():
    short = Batch(tensors={"x": np.ones((2, 2))})
    long = Batch(tensors={"x": np.full((1, 4), 2.0)})
    joined = Batch.concat([short, long])
    assert joined["x"].shape == (3, 4)
    np.testing.assert_array_equal(joined["x"][0], [1, 1, 0, 0])


def test_select_repeat_and_errors():
    batch = make_batch(3)
    repeated = batch.repeat_interleave(2)
    assert repeated["text"] == ["t0", "t0", "t1", "t1", "t2", "t2"]
    assert batch.select([2, 0])["score"].tolist() == [2.0, 0.0]
    with pytest.raises(KeyError, match="no column 'nope'"):
        batch["nope"]
    with pytest.raises(ValueError, match="disagree"):
        Batch(tensors={"a": np.zeros(2)}, columns={"b": [1, 2, 3]})


def test_rows_and_chunks():
    batch = Batch.from_rows([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": "z"}])
    assert batch.rows()[1] == {"a": 2, "b": "y"}
    assert [len(c) for c in batch.chunks(2)] == [2, 1]
