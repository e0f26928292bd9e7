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
    assert t_quantile(30) == pytest.approx(2.042)
    assert t_quantile(40) == pytest.approx(2.021, abs=1e-3) and t_quantile(120) == pytest.approx(1.980, abs=1e-3)
    assert t_quantile(100000) == pytest.approx(1.960, abs=1e-3)
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


def _graded(values: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    return {lang: {f"q{i}": v for i, v in enumerate(grades)} for lang, grades in values.items()}


def test_accuracy_changes_pair_questions_and_group_means():
    from rlcore.evaluation import accuracy_changes

    before = _graded({"en": [0] * 30 + [1] * 10, "fr": [0] * 20 + [1] * 20, "de": [1] * 20 + [0] * 20})
    after = _graded({"en": [1] * 30 + [1] * 10, "fr": [0] * 20 + [1] * 20, "de": [1] * 21 + [0] * 19})
    after["en"]["extra"] = 1  # graded only after: left out of the paired comparison
    changes = accuracy_changes(before, after)
    assert set(changes) == {"en", "fr", "de", "mean", "mean_non_en"}
    assert changes["en"]["n"] == 40 and changes["en"]["estimate"] == pytest.approx(0.75)
    assert changes["en"]["significant"] and changes["en"]["low"] > 0.5
    assert changes["fr"]["estimate"] == 0.0 and not changes["fr"]["significant"]
    assert changes["de"]["estimate"] == pytest.approx(1 / 40) and not changes["de"]["significant"]
    assert changes["mean"]["estimate"] == pytest.approx((0.75 + 0 + 1 / 40) / 3)
    assert changes["mean"]["method"] == "paired-bootstrap" and changes["mean"]["significant"]
    assert changes["mean_non_en"]["estimate"] == pytest.approx(1 / 80) and not changes["mean_non_en"]["significant"]
    assert changes["mean_non_en"]["before"] == pytest.approx(0.5)


def test_change_table_marks_only_intervals_that_exclude_zero():
    from algorithms.run_summary import change_rows
    from rlcore.evaluation import accuracy_changes

    before = _graded({"en": [0] * 30 + [1] * 10, "fr": [0] * 20 + [1] * 20})
    after = _graded({"en": [1] * 40, "fr": [0] * 19 + [1] * 21})
    first = {"eval/accuracy/en": 0.25, "eval/accuracy/fr": 0.5, "eval/accuracy/mean": 0.375}
    first |= {"eval/accuracy_low/en": 0.142, "eval/accuracy_high/en": 0.4}
    last = {"eval/accuracy/en": 1.0, "eval/accuracy/fr": 0.525, "eval/accuracy/mean": 0.7625}
    rows = {row[0]: row for row in change_rows(first, last, accuracy_changes(before, after))}
    assert list(rows) == ["en", "fr", "mean"]
    assert rows["en"][1] == "25.0% [14.2, 40.0]" and rows["en"][2] == "100.0%"
    assert rows["en"][3].startswith("+75.0 pts [+") and rows["en"][4] == "yes"
    assert rows["fr"][3].startswith("+2.5 pts [-") and rows["fr"][4] == "no"
    assert rows["mean"][4] == "yes"
    no_grades = change_rows(first, last, {})
    assert no_grades[0] == ["en", "25.0% [14.2, 40.0]", "100.0%", "+75.0 pts", "-"]


def test_accuracy_metrics_report_n_and_wilson_bounds_per_language():
    from rlcore.batch import Batch
    from rlcore.evaluation import accuracy_metrics, graded_by_language

    rows = [{"id": f"q{i}", "language": lang} for lang in ("en", "fr") for i in range(10)]
    samples = Batch.from_rows(rows)
    correct = np.array([1.0] * 5 + [0.0] * 5 + [0.0] * 10, dtype=np.float32)
    metrics = accuracy_metrics(samples, correct)
    assert metrics["eval/n/en"] == 10 and metrics["eval/accuracy/en"] == 0.5
    assert (metrics["eval/accuracy_low/en"], metrics["eval/accuracy_high/en"]) == pytest.approx(
        (0.2366, 0.7634), abs=1e-4
    )
    assert (metrics["eval/accuracy_low/fr"], metrics["eval/accuracy_high/fr"]) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert metrics["eval/accuracy/mean"] == 0.25
    assert graded_by_language(samples, correct)["en"] == {f"q{i}": int(i < 5) for i in range(10)}
