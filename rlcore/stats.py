"""Uncertainty of what a run reports, all at 95%:

- `wilson_interval`: the Wilson score interval of a proportion (an accuracy on n questions).
- `paired_change_interval`: the change of an accuracy measured before and after on the same questions, by
  Newcombe's hybrid score interval for paired proportions (Newcombe 1998, Stat. Med. 17:2635, method 10: the two
  Wilson intervals combined with the phi correlation of the 2x2 before/after table).
- `paired_bootstrap_interval`: the change of a mean over per-question differences (e.g. the mean across languages),
  percentile paired bootstrap over questions with a fixed seed.
- `seed_spread`: mean, standard deviation, standard error and Student-t interval across seeds.
- `bootstrap_interval`: percentile interval of any statistic of resampled items (fitted law, leap), fixed seed.

Pure functions of numpy arrays; no scipy (not installed): the t quantiles come from a table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Z95 = 1.959963984540054
# Two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30 (beyond: the Cornish-Fisher expansion, within 0.1%).
_T975: tuple[float, ...] = (
    *(12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228),
    *(2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086),
    *(2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042),
)
BOOTSTRAP_SEED = 0
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval; `significant` when the interval excludes zero (for changes)."""

    estimate: float
    low: float
    high: float
    n: int
    method: str

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"significant": self.significant}


def t_quantile(df: int) -> float:
    """t_{0.975, df}: the multiplier of a two-sided 95% interval with df degrees of freedom."""
    if df < 1:
        raise ValueError(f"a t interval needs df >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    return Z95 + (Z95**3 + Z95) / (4 * df) + (5 * Z95**5 + 16 * Z95**3 + 3 * Z95) / (96 * df**2)


def wilson_interval(successes: int, n: int) -> Interval:
    """Wilson score interval of successes/n (n = 0 gives the uninformative [0, 1])."""
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return Interval(float("nan"), 0.0, 1.0, 0, "wilson")
    p, z2 = successes / n, Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # Exact bounds at 0/n and n/n (the formula gives them up to rounding).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(p, low, high, n, "wilson")


def paired_change_interval(before: Sequence[float] | np.ndarray, after: Sequence[float] | np.ndarray) -> Interval:
    """after − before accuracy on the same questions (0/1 per question, aligned), Newcombe method 10."""
    x, y = np.asarray(before, dtype=bool), np.asarray(after, dtype=bool)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"before and after must be aligned 1-d arrays, got shapes {x.shape} and {y.shape}")
    n = len(x)
    if n == 0:
        return Interval(float("nan"), -1.0, 1.0, 0, "newcombe-paired")
    both, only_before = int((x & y).sum()), int((x & ~y).sum())
    only_after, neither = int((~x & y).sum()), int((~x & ~y).sum())
    p1, p2 = (both + only_before) / n, (both + only_after) / n
    w1, w2 = wilson_interval(both + only_before, n), wilson_interval(both + only_after, n)
    margins = (both + only_before) * (only_after + neither) * (both + only_after) * (only_before + neither)
    phi = (both * neither - only_before * only_after) / math.sqrt(margins) if margins else 0.0
    change = p2 - p1
    # Newcombe's interval is for p2 - p1 from the Wilson bounds of each: the lower end pairs p2's lower bound with
    # p1's upper bound, corrected for their correlation.
    down = math.sqrt(max((p2 - w2.low) ** 2 - 2 * phi * (p2 - w2.low) * (w1.high - p1) + (w1.high - p1) ** 2, 0.0))
    up = math.sqrt(max((w2.high - p2) ** 2 - 2 * phi * (w2.high - p2) * (p1 - w1.low) + (p1 - w1.low) ** 2, 0.0))
    return Interval(change, max(-1.0, change - down), min(1.0, change + up), n, "newcombe-paired")


def bootstrap_interval(
    items: int,
    statistic: Callable[[np.ndarray], float],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """2.5 and 97.5 percentiles of `statistic(indices)` over resamples of `items` indices with replacement.
    Resamples where the statistic is undefined (NaN, or raises ValueError, e.g. a fit without positive points)
    are dropped; the interval is NaN when fewer than half are left."""
    if items < 1:
        raise ValueError("a bootstrap needs at least one item")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        try:
            value = float(statistic(rng.integers(0, items, items)))
        except ValueError:
            continue
        if not math.isnan(value):
            values.append(value)
    if len(values) < resamples / 2:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def paired_bootstrap_interval(differences: Sequence[float] | np.ndarray, seed: int = BOOTSTRAP_SEED) -> Interval:
    """Mean of per-question differences (after − before) with its percentile paired-bootstrap interval."""
    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError(f"need a non-empty 1-d array of per-question differences, got shape {d.shape}")
    low, high = bootstrap_interval(len(d), lambda idx: float(d[idx].mean()), seed=seed)
    return Interval(float(d.mean()), low, high, len(d), "paired-bootstrap")


@dataclass(frozen=True)
class SeedSpread:
    """A quantity measured once per seed: mean, sample std, standard error, range and the t-based 95% interval of
    the mean (None with one seed)."""

    mean: float
    std: float | None
    stderr: float | None
    low: float | None
    high: float | None
    minimum: float
    maximum: float
    seeds: int

    @property
    def significant(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"significant": self.significant}


def seed_spread(values: Sequence[float]) -> SeedSpread:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError("need one value per seed")
    mean = float(v.mean())
    if len(v) == 1:
        return SeedSpread(mean, None, None, None, None, mean, mean, 1)
    std = float(v.std(ddof=1))
    stderr = std / math.sqrt(len(v))
    half = t_quantile(len(v) - 1) * stderr
    return SeedSpread(mean, std, stderr, mean - half, mean + half, float(v.min()), float(v.max()), len(v))
