"""rlcore.stats against published values and by simulation of coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlcore.stats import (
    bootstrap_interval,
    paired_bootstrap_interval,
    paired_change_interval,
    seed_spread,
    t_quantile,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    # Wilson score 95% intervals as tabulated by Newcombe (1998, Stat. Med. 17:857, Table I) and Brown, Cai &
    # DasGupta (2001): 0/10, 5/10, 10/10, 1/29, 81/263.
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_published_values(successes, n, low, high):
    interval = wilson_interval(successes, n)
    assert interval.estimate == pytest.approx(successes / n)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-4)


def test_wilson_rejects_impossible_counts_and_handles_no_items():
    with pytest.raises(ValueError, match="successes <= n"):
        wilson_interval(11, 10)
    empty = wilson_interval(0, 0)
    assert (empty.low, empty.high, empty.n) == (0.0, 1.0, 0) and math.isnan(empty.estimate)


def _independent_newcombe(p1, w1, p2, w2):
    return (p2 - p1) - math.hypot(p2 - w2.low, w1.high - p1), (p2 - p1) + math.hypot(w2.high - p2, p1 - w1.low)


def test_paired_change_without_correlation_is_newcombe_for_independent_samples():
    # 2x2 table with a*d == b*c (phi = 0): both 10, before only 10, after only 20, neither 20 (n = 60).
    before = np.array([1] * 10 + [1] * 10 + [0] * 20 + [0] * 20)
    after = np.array([1] * 10 + [0] * 10 + [1] * 20 + [0] * 20)
    interval = paired_change_interval(before, after)
    expected = _independent_newcombe(20 / 60, wilson_interval(20, 60), 30 / 60, wilson_interval(30, 60))
    assert interval.estimate == pytest.approx(10 / 60)
    assert (interval.low, interval.high) == pytest.approx(expected)
    assert interval.method == "newcombe-paired"


def test_paired_change_is_narrower_when_before_and_after_agree():
    # Same marginals as an independent design, but most questions keep their grade: the paired interval is tighter.
    before = np.array([1] * 40 + [0] * 50 + [0] * 10)
    after = np.array([1] * 40 + [0] * 50 + [1] * 10)
    paired = paired_change_interval(before, after)
    independent = _independent_newcombe(0.4, wilson_interval(40, 100), 0.5, wilson_interval(50, 100))
    assert paired.high - paired.low < independent[1] - independent[0]
    assert paired.significant and paired.low > 0


def test_paired_change_of_identical_grades_is_not_significant():
    grades = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    interval = paired_change_interval(grades, grades)
    # No discordant question: Newcombe's interval collapses to [0, 0], which does not exclude zero.
    assert (interval.estimate, interval.low, interval.high) == (0.0, 0.0, 0.0) and not interval.significant
    one_flip = paired_change_interval(grades, np.array([1, 1, 1, 1, 0, 0, 1, 0]))
    assert one_flip.low < 0 < one_flip.high and not one_flip.significant


def test_paired_change_coverage_by_simulation():
    """About 95% of intervals cover the true change (Newcombe's method is close to nominal)."""
    rng = np.random.default_rng(7)
    n, trials, covered = 80, 600, 0
    p_before, p_flip_up, p_flip_down = 0.4, 0.2, 0.05
    true_change = (1 - p_before) * p_flip_up - p_before * p_flip_down
    for _ in range(trials):
        before = rng.random(n) < p_before
        after = np.where(before, rng.random(n) >= p_flip_down, rng.random(n) < p_flip_up)
        interval = paired_change_interval(before, after)
        covered += interval.low <= true_change <= interval.high
    assert 0.92 <= covered / trials <= 0.98


def test_paired_change_rejects_misaligned_grades():
    with pytest.raises(ValueError, match="aligned"):
        paired_change_interval([1, 0], [1, 0, 1])


def test_paired_bootstrap_is_reproducible_and_brackets_the_mean():
    d = np.array([0.5, 0.25, 0.0, 0.75, 0.5, -0.25, 0.5, 0.25] * 5)
    first, second = paired_bootstrap_interval(d), paired_bootstrap_interval(d)
    assert first == second
    assert first.estimate == pytest.approx(d.mean())
    assert first.low < first.estimate < first.high
    assert first.significant


def test_bootstrap_drops_undefined_resamples():
    values = np.array([1.0, 2.0, 3.0, 4.0])

    def mean_unless_all_equal(idx):
        if len(set(idx.tolist())) == 1:
            raise ValueError("undefined")
        return values[idx].mean()

    low, high = bootstrap_interval(4, mean_unless_all_equal)
    assert 1.0 <= low < 2.5 < high <= 4.0
    assert all(math.isnan(v) for v in bootstrap_interval(4, lambda idx: float("nan")))


def test_t_quantiles_and_seed_spread():
    assert t_quantile(1) == pytest.approx(12.706)
    assert t_quantile(2) == pytest.approx(4.303)
    assert t_quantile(1000) == pytest.approx(1.96, abs=1e-3)
    spread = seed_spread([0.1, 0.2, 0.3])
    assert spread.mean == pytest.approx(0.2) and spread.std == pytest.approx(0.1)
    assert spread.stderr == pytest.approx(0.1 / math.sqrt(3))
    assert (spread.low, spread.high) == pytest.approx(
        (0.2 - 4.303 * 0.1 / math.sqrt(3), 0.2 + 4.303 * 0.1 / math.sqrt(3))
    )
    assert (spread.minimum, spread.maximum, spread.seeds) == (0.1, 0.3, 3)
    assert not spread.significant  # three seeds: t_{0.975,2} = 4.3 makes the interval cross zero
    assert seed_spread([0.1, 0.12, 0.11]).significant
    single = seed_spread([0.4])
    assert single.low is None and single.std is None and not single.significant
    with pytest.raises(ValueError, match="df >= 1"):
        t_quantile(0)
