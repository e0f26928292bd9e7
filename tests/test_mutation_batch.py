"""Batch container: construction, selection, split/concat and padding on hand-made cases (`make mutation`)."""

from __future__ import annotations

import numpy as np
import pytest

from rlcore.batch import Batch, pad_sequences


def test_construction_converts_values_and_checks_sizes():
    batch = Batch(tensors={"x": [1, 2]}, columns={"t": ("a", "b")}, meta={"step": 1})
    assert isinstance(batch.tensors["x"], np.ndarray) and batch.columns["t"] == ["a", "b"]
    assert isinstance(batch.columns["t"], list)
    with pytest.raises(ValueError, match=r"disagree on the number of samples: \{'x': 2, 't': 3\}"):
        Batch(tensors={"x": np.zeros(2)}, columns={"t": [1, 2, 3]})
    assert len(Batch(tensors={"x": np.zeros(3)}, columns={"t": [1, 2, 3]})) == 3


def test_from_rows_keeps_keys_and_meta():
    batch = Batch.from_rows([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], meta={"v": 3})
    assert batch.columns == {"a": [1, 2], "b": ["x", "y"]} and batch.meta == {"v": 3}
    single = Batch.from_rows([{"a": 1}])
    assert single.columns == {"a": [1]}
    empty = Batch.from_rows([])
    assert len(empty) == 0 and empty.columns == {} and empty.meta == {}


def test_len_comes_from_tensors_or_columns_and_is_zero_when_empty():
    assert len(Batch(tensors={"x": np.zeros((4, 2))})) == 4
    assert len(Batch(columns={"t": ["a", "b"]})) == 2
    assert len(Batch()) == 0


def test_lookup_membership_and_keys():
    batch = Batch(tensors={"x": np.arange(2)}, columns={"b": ["p", "q"], "a": ["r", "s"]})
    assert batch["x"].tolist() == [0, 1] and batch["a"] == ["r", "s"]
    assert "x" in batch and "a" in batch and "z" not in batch
    assert batch.keys() == ["x", "b", "a"]
    with pytest.raises(KeyError, match=r"Batch has no column 'z'; it has \['a', 'b', 'x'\]"):
        batch["z"]


def test_rows_leave_tensors_out():
    batch = Batch(tensors={"x": np.arange(2)}, columns={"a": [1, 2], "b": ["p", "q"]})
    assert batch.rows() == [{"a": 1, "b": "p"}, {"a": 2, "b": "q"}]


def test_with_methods_add_or_replace_and_leave_the_original_alone():
    batch = Batch(tensors={"x": np.arange(2)}, columns={"a": [1, 2]}, meta={"m": 1})
    more = batch.with_tensors(y=np.ones(2)).with_columns(a=[5, 6], b=["u", "v"]).with_meta(n=2, m=3)
    assert sorted(more.tensors) == ["x", "y"] and more.columns == {"a": [5, 6], "b": ["u", "v"]}
    assert more.meta == {"m": 3, "n": 2}
    assert list(batch.tensors) == ["x"] and batch.columns == {"a": [1, 2]} and batch.meta == {"m": 1}
    assert batch.with_tensors(y=np.ones(2)).meta == {"m": 1} and batch.with_columns(b=[3, 4]).meta == {"m": 1}
    assert batch.with_meta(n=2).columns == {"a": [1, 2]} and list(batch.with_meta(n=2).tensors) == ["x"]
    with pytest.raises(ValueError):
        batch.with_columns(c=[1, 2, 3])


def test_select_and_repeat_interleave_keep_meta():
    batch = Batch(tensors={"x": np.array([10, 11, 12])}, columns={"a": ["p", "q", "r"]}, meta={"m": 1})
    chosen = batch.select([2, 0, 2])
    assert chosen["x"].tolist() == [12, 10, 12] and chosen["a"] == ["r", "p", "r"] and chosen.meta == {"m": 1}
    repeated = batch.repeat_interleave(3)
    assert repeated["x"].tolist() == [10, 10, 10, 11, 11, 11, 12, 12, 12] and repeated.meta == {"m": 1}
    nothing = batch.select([])
    assert nothing["a"] == [] and nothing["x"].shape == (0,)


def test_split_gives_the_first_shards_the_extra_samples_in_order():
    batch = Batch(columns={"i": list(range(7))})
    assert [s["i"] for s in batch.split(3)] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [s["i"] for s in batch.split(1)] == [list(range(7))]
    assert [s["i"] for s in batch.split(9)] == [[0], [1], [2], [3], [4], [5], [6], [], []]
    with pytest.raises(ValueError, match=r"^parts must be >= 1$"):
        batch.split(0)


def test_chunks_are_contiguous_with_a_short_last_one():
    batch = Batch(columns={"i": list(range(5))})
    assert [c["i"] for c in batch.chunks(2)] == [[0, 1], [2, 3], [4]]
    assert [c["i"] for c in batch.chunks(5)] == [[0, 1, 2, 3, 4]]


def test_concat_pads_per_token_arrays_and_merges_meta_in_order():
    first = Batch(tensors={"x": np.ones((2, 2)), "s": np.array([1, 2])}, columns={"a": ["p", "q"]}, meta={"m": 1})
    second = Batch(tensors={"x": np.full((1, 3), 2.0), "s": np.array([3])}, columns={"a": ["r"]}, meta={"m": 2, "n": 5})
    joined = Batch.concat([first, None, second])
    np.testing.assert_array_equal(joined["x"], [[1, 1, 0], [1, 1, 0], [2, 2, 2]])
    assert joined["s"].tolist() == [1, 2, 3] and joined["a"] == ["p", "q", "r"]
    assert joined.meta == {"m": 2, "n": 5}


def test_concat_skips_empty_shards_but_keeps_their_meta():
    empty = Batch(meta={"e": 1})
    full = Batch(tensors={"x": np.ones((1, 2))}, columns={"a": ["p"]}, meta={"f": 2})
    joined = Batch.concat([empty, full])
    assert joined["a"] == ["p"] and joined["x"].shape == (1, 2) and joined.meta == {"e": 1, "f": 2}
    only_empty = Batch.concat([Batch(tensors={"x": np.zeros((0, 2))}, meta={"e": 1})])
    assert len(only_empty) == 0 and only_empty["x"].shape == (0, 2) and only_empty.meta == {"e": 1}
    shards = Batch.concat([Batch(tensors={"x": np.zeros((0, 2))}), Batch(columns={"a": []})])
    assert shards.keys() == ["x"]  # all empty: the first shard's layout
    nothing = Batch.concat([None])
    assert len(nothing) == 0 and nothing.keys() == [] and nothing.meta == {}


def test_concat_pads_only_the_token_axis_of_higher_rank_arrays():
    a = Batch(tensors={"x": np.ones((1, 1, 2))})
    b = Batch(tensors={"x": np.full((1, 2, 2), 3.0)})
    np.testing.assert_array_equal(Batch.concat([a, b])["x"], [[[1, 1], [0, 0]], [[3, 3], [3, 3]]])


def test_pad_sequences_right_pads_with_value_and_mask():
    out, mask = pad_sequences([[1, 2, 3], [], [4]], value=-1)
    assert out.dtype == np.int64 and mask.dtype == np.float32
    assert out.tolist() == [[1, 2, 3], [-1, -1, -1], [4, -1, -1]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 0], [1, 0, 0]]
    floats, _ = pad_sequences([[0.5]], dtype=np.float32)
    assert floats.dtype == np.float32 and floats.tolist() == [[0.5]]
    zeros, zero_mask = pad_sequences([[7], [8, 9]])
    assert zeros.tolist() == [[7, 0], [8, 9]] and zero_mask.tolist() == [[1, 0], [1, 1]]
    none, none_mask = pad_sequences([])
    assert none.shape == (0, 0) and none_mask.shape == (0, 0)


def test_rows_to_batch_gives_each_row_its_own_seed():
    from rlcore.batch import rows_to_batch

    rows = [{"prompt": "a", "id": "1"}, {"prompt": "b", "id": "2"}, {"prompt": "c", "id": "3"}]
    plain = rows_to_batch(rows)
    assert plain["prompt"] == ["a", "b", "c"] and "seed" not in plain.columns
    seeded = rows_to_batch(rows, seed=10)
    assert seeded["seed"] == [10, 11, 12] and seeded["id"] == ["1", "2", "3"]
    assert rows_to_batch(rows, seed=0)["seed"] == [0, 1, 2]  # seed 0 is a seed, not "no seed"
