"""Transfer measures and the parallel scaling-law fit on hand-made numbers (`make mutation`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from algorithms.parallel_sweep.transfer import (
    PowerLaw,
    _r2,
    accuracy_stderr,
    first_parallel_leap,
    fit_power_law,
    gains,
    monolingual_generalization_gap,
    transferability,
)


def test_gains_cover_languages_in_both_evaluations_only():
    assert gains({"en": 0.5, "fr": 0.25, "de": 0.75}, {"en": 0.75, "fr": 0.125, "it": 1.0}) == {
        "en": 0.25,
        "fr": -0.125,
    }


def test_transferability_divides_by_the_mean_gain_of_the_trained_languages_that_were_evaluated():
    before = {"en": 0.5, "fr": 0.25, "de": 0.25, "it": 0.5}
    after = {"en": 0.75, "fr": 0.75, "de": 0.5, "it": 0.25}
    result = transferability(before, after, ["en", "fr", "zh"])  # zh was not evaluated: left out of the mean
    assert result == {"trained_gain": 0.375, "index": {"de": 0.25 / 0.375, "it": -0.25 / 0.375}, "mean": 0.0,
                      "defined": True}  # fmt: skip
    assert type(result["trained_gain"]) is float and type(result["mean"]) is float


def test_transferability_is_undefined_at_or_below_the_minimum_trained_gain():
    before, after = {"en": 0.5, "fr": 0.5}, {"en": 0.625, "fr": 0.75}
    at_threshold = transferability(before, after, ["en"], min_trained_gain=0.125)
    assert at_threshold == {"trained_gain": 0.125, "index": {"fr": None}, "mean": None, "defined": False}
    assert transferability(before, after, ["en"], min_trained_gain=0.1)["index"] == {"fr": 2.0}
    flat = transferability({"en": 0.5, "fr": 0.5}, {"en": 0.5, "fr": 0.75}, ["en"])  # default threshold 0
    assert flat["defined"] is False and flat["index"] == {"fr": None}
    only_trained = transferability({"en": 0.5}, {"en": 0.75}, ["en"])
    assert only_trained["index"] == {} and only_trained["mean"] is None and only_trained["defined"] is True


def test_transferability_needs_an_evaluated_trained_language():
    with pytest.raises(ValueError, match=r"none of the trained languages \['zh'\] was evaluated"):
        transferability({"en": 0.5}, {"en": 0.75}, ["zh"])


def test_first_parallel_leap_against_noise_and_the_mean_later_step():
    perf = {1: 0.25, 2: 0.5, 3: 0.5625, 4: 0.625}
    leap = first_parallel_leap(perf, {1: 0.03, 2: 0.04})
    assert leap == {"leap": 0.25, "relative": 1.0, "later_mean_step": 0.0625, "two_sigma": 0.1, "detected": True}
    assert first_parallel_leap(perf, {1: 0.09, 2: 0.12})["detected"] is False  # 2σ = 0.3 > leap
    assert first_parallel_leap(perf, {1: 0.075, 2: 0.1})["detected"] is False  # leap == 2σ: not above it
    assert first_parallel_leap(perf, {1: 0.03})["two_sigma"] is None  # needs both errors
    assert first_parallel_leap(perf, {2: 0.03})["two_sigma"] is None
    steady = first_parallel_leap({1: 0.25, 2: 0.5, 3: 0.75, 4: 1.0})
    assert steady["later_mean_step"] == 0.25 and steady["detected"] is False  # a steady climb, not a leap
    alone = first_parallel_leap({1: 0.5, 2: 0.625})
    assert alone == {"leap": 0.125, "relative": 0.25, "later_mean_step": None, "two_sigma": None, "detected": True}
    assert first_parallel_leap({1: 0.5, 2: 0.5})["detected"] is False  # no jump
    assert first_parallel_leap({1: 0.0, 2: 0.25})["relative"] is None
    assert first_parallel_leap({1: 0.25, 2: 0.5, 4: 0.75})["later_mean_step"] is None  # N=3 missing: no step


def test_first_parallel_leap_counts_only_steps_from_n_2_on():
    perf = {0: 0.0, 1: 0.25, 2: 0.5, 3: 0.625, 5: 1.0, 6: 1.0}
    assert first_parallel_leap(perf)["later_mean_step"] == 0.0625  # (0.125 + 0.0) / 2: 3->4 and 4->5 absent
    with pytest.raises(ValueError, match=r"^the First-Parallel Leap needs Perf at N=1 and N=2$"):
        first_parallel_leap({1: 0.5, 3: 0.7})
    with pytest.raises(ValueError, match="needs Perf at N=1 and N=2"):
        first_parallel_leap({2: 0.5, 3: 0.7})


def test_power_law_fit_is_exact_on_a_power_law_and_ignores_n_below_min_n():
    perf = {1: 0.9, 2: 0.2 * 2**0.5, 3: 0.2 * 3**0.5, 4: 0.4}
    law = fit_power_law(perf)
    assert law.a == pytest.approx(0.2) and law.b == pytest.approx(0.5) and law.ns == [2, 3, 4]
    assert law.r2 == pytest.approx(1.0) and law.r2_log == pytest.approx(1.0)
    assert law.predict(9.0) == pytest.approx(0.6)
    np.testing.assert_allclose(law.predict(np.array([1.0, 16.0])), [0.2, 0.8])
    assert monolingual_generalization_gap(perf, law) == pytest.approx(0.7)
    assert law.to_dict() == {"a": law.a, "b": law.b, "r2": law.r2, "r2_log": law.r2_log, "ns": [2, 3, 4]}
    with_one = fit_power_law({1: 0.1, 2: 0.2, 4: 0.4}, min_n=1)
    assert with_one.a == pytest.approx(0.1) and with_one.b == pytest.approx(1.0) and with_one.ns == [1, 2, 4]


def test_power_law_with_two_points_is_exact_and_reports_no_r2():
    law = fit_power_law({2: 0.5, 4: 1.0})
    assert law.b == pytest.approx(1.0) and law.a == pytest.approx(0.25)
    assert law.r2 is None and law.r2_log is None


def test_power_law_r2_measures_the_fit_in_both_spaces():
    perf = {2: 1.0, 3: 4.0, 4: 2.0}
    law = fit_power_law(perf)
    log_n, log_v = np.log([2, 3, 4]), np.log([1.0, 4.0, 2.0])
    b, log_a = np.polyfit(log_n, log_v, 1)
    residual_log = ((log_v - (log_a + b * log_n)) ** 2).sum()
    assert law.r2_log == pytest.approx(1 - residual_log / ((log_v - log_v.mean()) ** 2).sum())
    predicted = np.exp(log_a) * np.array([2, 3, 4]) ** b
    observed = np.array([1.0, 4.0, 2.0])
    assert law.r2 == pytest.approx(1 - ((observed - predicted) ** 2).sum() / ((observed - 7 / 3) ** 2).sum())
    assert 0 < law.r2_log < 1


def test_power_law_needs_two_positive_points():
    with pytest.raises(ValueError, match=r"two or more N >= 2, got \[3\]"):
        fit_power_law({1: 0.5, 3: 0.6})
    with pytest.raises(ValueError, match=r"Perf > 0 \(log-log fit\), got \{2: 0.5, 3: 0.0\}"):
        fit_power_law({2: 0.5, 3: 0.0})
    with pytest.raises(ValueError, match=r"got \{2: 1.0, 3: -1.0\}$"):  # integer Perf is reported as floats
        fit_power_law({2: 1, 3: -1})


def test_r2_by_hand_and_for_constant_observations():
    assert _r2(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])) == pytest.approx(0.5)
    assert _r2(np.array([2.0, 2.0]), np.array([2.0, 2.0])) == 1.0
    assert _r2(np.array([2.0, 2.0]), np.array([2.0, 3.0])) == 0.0


def test_monolingual_gap_is_perf_at_one_minus_a():
    assert monolingual_generalization_gap({1: 0.25}, PowerLaw(a=0.5, b=2.0, r2=None, r2_log=None, ns=[2, 3])) == -0.25


def test_accuracy_stderr_is_binomial():
    assert accuracy_stderr(0.5, 100) == pytest.approx(0.05)
    assert accuracy_stderr(0.2, 4) == pytest.approx(0.2)
    assert accuracy_stderr(1.0, 9) == 0.0
    assert accuracy_stderr(1.0000001, 9) == 0.0  # rounding above 1 does not give a NaN
    assert math.isnan(accuracy_stderr(0.5, 0))
