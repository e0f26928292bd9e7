"""Micro-batch plans under a token budget and token-balanced data-parallel shards (pure list logic).

Rows are planned in units: one row, or for pair losses a pair's two adjacent rows (2i, 2i+1), which must share a
micro-batch and a rank. A micro-batch's cost is its token count when sequences are packed into one row, or rows x
longest row when they are right-padded, so the budget bounds what the forward actually computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rlcore.batch import Batch

Cost = Literal["packed", "padded"]


def sequence_lengths(batch: Batch) -> list[int]:
    """Prompt plus response tokens of every row."""
    return [len(p) + len(r) for p, r in zip(batch["prompt_ids"], batch["response_ids"], strict=True)]


def units_of(lengths: Sequence[int], rows_per_unit: int) -> list[list[int]]:
    """Row indices grouped into units of `rows_per_unit` consecutive rows."""
    if rows_per_unit < 1 or len(lengths) % rows_per_unit:
        raise ValueError(f"{len(lengths)} rows do not make units of {rows_per_unit}")
    return [list(range(start, start + rows_per_unit)) for start in range(0, len(lengths), rows_per_unit)]


def micro_batch_cost(lengths: Sequence[int], rows: Sequence[int], cost: Cost) -> int:
    if not rows:
        return 0
    if cost == "packed":
        return sum(lengths[row] for row in rows)
    return len(rows) * max(lengths[row] for row in rows)


def plan_micro_batches(
    lengths: Sequence[int], max_tokens: int, cost: Cost = "packed", rows_per_unit: int = 1
) -> list[list[int]]:
    """First-fit decreasing: units, longest first, each into the first micro-batch whose cost stays within
    `max_tokens`, else into a new one. A unit longer than the budget goes alone (it cannot be split). Rows keep
    their original order inside each micro-batch."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    units = units_of(lengths, rows_per_unit)
    units.sort(key=lambda unit: -max(lengths[row] for row in unit))
    plan: list[list[int]] = []
    for unit in units:
        for rows in plan:
            if micro_batch_cost(lengths, rows + unit, cost) <= max_tokens:
                rows.extend(unit)
                break
        else:
            plan.append(list(unit))
    return [sorted(rows) for rows in plan]


def split_to_count(plan: Sequence[Sequence[int]], count: int, rows_per_unit: int = 1) -> list[list[int]]:
    """`plan` with its largest micro-batches halved (at unit boundaries) until it has `count` micro-batches, so
    that every rank runs the same number of forwards; fewer units than `count` leaves it short (the caller pads)."""
    out = [list(rows) for rows in plan]
    while len(out) < count:
        largest = max(range(len(out)), key=lambda index: len(out[index]), default=None)
        if largest is None or len(out[largest]) <= rows_per_unit:
            break
        rows = out.pop(largest)
        half = (len(rows) // rows_per_unit // 2) * rows_per_unit
        out[largest:largest] = [rows[:half], rows[half:]]
    return out


def balance_across_ranks(lengths: Sequence[int], ranks: int, rows_per_unit: int = 1) -> list[list[int]]:
    """Rows split into `ranks` shards of equal row count whose token totals are as even as the greedy allows:
    units, longest first, each to the shard with the fewest tokens that still has room (longest-processing-time
    first with a cardinality bound, as verl and OpenRLHF balance their data-parallel ranks)."""
    units = units_of(lengths, rows_per_unit)
    if len(units) % ranks:
        raise ValueError(f"{len(units)} units of {rows_per_unit} rows do not split evenly over {ranks} ranks")
    capacity = len(units) // ranks
    shards: list[list[int]] = [[] for _ in range(ranks)]
    tokens = [0] * ranks
    for unit in sorted(units, key=lambda unit: -sum(lengths[row] for row in unit)):
        rank = min((r for r in range(ranks) if len(shards[r]) < capacity * rows_per_unit), key=lambda r: tokens[r])
        shards[rank].extend(unit)
        tokens[rank] += sum(lengths[row] for row in unit)
    return [sorted(shard) for shard in shards]


def micro_batches(
    lengths: Sequence[int], max_rows: int, max_tokens: int | None, cost: Cost, rows_per_unit: int = 1
) -> list[list[int]]:
    """The learner's micro-batches: with a token budget, `plan_micro_batches`; without, consecutive chunks of
    `max_rows` rows (the row-count micro-batch)."""
    if max_tokens is not None:
        return plan_micro_batches(lengths, max_tokens, cost, rows_per_unit)
    return [list(range(start, min(start + max_rows, len(lengths)))) for start in range(0, len(lengths), max_rows)]


def balanced_shards(lengths: Sequence[int], ranks: int, mini_batches: int, rows_per_unit: int = 1) -> list[list[int]]:
    """Row indices of each rank's shard: every mini-batch holds the rows it holds with contiguous shards (rank r's
    m-th slice of the r-th block), so the optimizer steps see the same data, but its rows are dealt to the ranks by
    `balance_across_ranks`; each shard lists its rows mini-batch by mini-batch, an equal number per mini-batch."""
    if len(lengths) % (ranks * mini_batches * rows_per_unit):
        raise ValueError(
            f"{len(lengths)} rows do not split into {ranks} ranks x {mini_batches} mini-batches of whole "
            f"{rows_per_unit}-row units"
        )
    per_rank = len(lengths) // ranks
    shards: list[list[int]] = [[] for _ in range(ranks)]
    per_slice = per_rank // mini_batches
    for mini in range(mini_batches):
        rows = [rank * per_rank + mini * per_slice + offset for rank in range(ranks) for offset in range(per_slice)]
        dealt = balance_across_ranks([lengths[row] for row in rows], ranks, rows_per_unit)
        for shard, picked in zip(shards, dealt, strict=True):
            shard += [rows[index] for index in picked]
    return shards
