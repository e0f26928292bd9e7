"""Batch: the one columnar container that flows between the driver and every worker.

- `tensors`: numpy arrays whose first axis is the sample axis; per-token arrays are right-padded [B, T] and paired
  with a mask (e.g. `response_mask`). numpy, so they cross the Ray object store without copies.
- `columns`: plain per-sample Python values (text, language, ids, token-id lists).
- `meta`: batch-level values (policy version, step, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Batch:
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    columns: dict[str, list] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tensors = {key: np.asarray(value) for key, value in self.tensors.items()}
        self.columns = {key: list(value) for key, value in self.columns.items()}
        sizes = {key: len(value) for key, value in self.tensors.items()}
        sizes |= {key: len(value) for key, value in self.columns.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"Batch columns disagree on the number of samples: {sizes}")

    @classmethod
    def from_rows(cls, rows: Sequence[dict], meta: dict | None = None) -> Batch:
        """Plain rows (e.g. dataset records) -> a Batch with one column per key."""
        keys = list(rows[0]) if rows else []
        return cls(columns={key: [row[key] for row in rows] for key in keys}, meta=dict(meta or {}))

    def __len__(self) -> int:
        for tensor in self.tensors.values():
            return len(tensor)
        for column in self.columns.values():
            return len(column)
        return 0

    def __getitem__(self, key: str) -> Any:
        if key in self.tensors:
            return self.tensors[key]
        if key in self.columns:
            return self.columns[key]
        raise KeyError(f"Batch has no column {key!r}; it has {sorted(self.keys())}")

    def __contains__(self, key: str) -> bool:
        return key in self.tensors or key in self.columns

    def keys(self) -> list[str]:
        return [*self.tensors, *self.columns]

    def rows(self) -> list[dict]:
        """Per-sample dicts of the plain columns (tensors left out)."""
        return [{key: values[i] for key, values in self.columns.items()} for i in range(len(self))]

    def with_tensors(self, **tensors: np.ndarray) -> Batch:
        return Batch({**self.tensors, **tensors}, dict(self.columns), dict(self.meta))

    def with_columns(self, **columns: Sequence) -> Batch:
        return Batch(
            dict(self.tensors),
            {**self.columns, **{key: list(value) for key, value in columns.items()}},
            dict(self.meta),
        )

    def with_meta(self, **meta: Any) -> Batch:
        return Batch(dict(self.tensors), dict(self.columns), {**self.meta, **meta})

    def select(self, indices: Sequence[int] | np.ndarray) -> Batch:
        indices = np.asarray(indices, dtype=np.int64)
        return Batch(
            {key: value[indices] for key, value in self.tensors.items()},
            {key: [value[i] for i in indices] for key, value in self.columns.items()},
            dict(self.meta),
        )

    def repeat_interleave(self, times: int) -> Batch:
        """Each sample `times` times in a row: the layout of n samples per prompt."""
        return self.select(np.repeat(np.arange(len(self)), times))

    def split(self, parts: int) -> list[Batch]:
        """Contiguous, near-equal shards in order (the first len % parts shards get one extra sample)."""
        if parts < 1:
            raise ValueError("parts must be >= 1")
        bounds = np.cumsum([0] + [len(self) // parts + (i < len(self) % parts) for i in range(parts)])
        return [self.select(np.arange(bounds[i], bounds[i + 1])) for i in range(parts)]

    def chunks(self, size: int) -> list[Batch]:
        return [self.select(np.arange(start, min(start + size, len(self)))) for start in range(0, len(self), size)]

    @staticmethod
    def concat(batches: Iterable[Batch]) -> Batch:
        """Inverse of split: samples in order; per-token arrays are right-padded with zeros to the longest."""
        batches = [batch for batch in batches if batch is not None]
        if not batches:
            return Batch()
        nonempty = [batch for batch in batches if len(batch)] or batches[:1]
        tensors = {key: _concat_padded([batch.tensors[key] for batch in nonempty]) for key in nonempty[0].tensors}
        columns = {key: [v for batch in nonempty for v in batch.columns[key]] for key in nonempty[0].columns}
        meta: dict[str, Any] = {}
        for batch in batches:
            meta.update(batch.meta)
        return Batch(tensors, columns, meta)


def _concat_padded(arrays: list[np.ndarray]) -> np.ndarray:
    if arrays[0].ndim < 2:
        return np.concatenate(arrays)
    width = max(array.shape[1] for array in arrays)
    padded = [np.pad(array, [(0, 0), (0, width - array.shape[1])] + [(0, 0)] * (array.ndim - 2)) for array in arrays]
    return np.concatenate(padded)


def pad_sequences(
    sequences: Sequence[Sequence[float]], dtype=np.int64, value: float = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Ragged lists -> right-padded [B, T] array and its 0/1 mask."""
    width = max((len(seq) for seq in sequences), default=0)
    out = np.full((len(sequences), width), value, dtype=dtype)
    mask = np.zeros((len(sequences), width), dtype=np.float32)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = seq
        mask[i, : len(seq)] = 1
    return out, mask


def rows_to_batch(rows: Sequence[dict[str, Any]], seed: int | None = None) -> Batch:
    """A Batch of data rows; with `seed`, row i gets sampling seed `seed + i`."""
    batch = Batch.from_rows(rows)
    if seed is not None:
        batch = batch.with_columns(seed=[seed + i for i in range(len(batch))])
    return batch
