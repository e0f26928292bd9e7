"""Transfer measures of parallel-language RPT on hand-made numbers (formulas in docs/parallel_rpt.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from algorithms.parallel_sweep.transfer import (
    accuracy_stderr,
    first_parallel_leap,
    fit_power_law,
    gains,
    monolingual_generalization_gap,
    transferability,
)

BEFORE = {"en": 0.40, "fr": 0.30, "it": 0.20, "pt": 0.25}


def test_transferability_is_unseen_gain_over_mean_trained_gain():
    after = {"en": 0.60, "fr": 0.40, "it": 0.25, "pt": 0.21}
    result = transferability(BEFORE, after, ["en", "fr"])
    assert result["trained_gain"] == pytest.approx(0.15)  # mean of +0.20 and +0.10
    assert result["index"] == pytest.approx({"it": 0.05 / 0.15, "pt": -0.04 / 0.15})
    assert result["mean"] == pytest.approx((0.05 - 0.04) / 2 / 0.15)
    assert gains(BEFORE, after)["pt"] == pytest.approx(-0.04)


def test_transferability_is_undefined_without_a_trained_gain():
    after = {"en": 0.405, "fr": 0.30, "it": 0.30, "pt": 0.30}
    result = transferability(BEFORE, after, ["en"], min_trained_gain=0.01)
    assert not result["defined"] and result["index"] == {"fr": None, "it": None, "pt": None}
    assert result["mean"] is None
    assert transferability(BEFORE, after, ["en"])["index"]["it"] == pytest.approx(0.10 / 0.005)
    with pytest.raises(ValueError, match="trained"):
        transferability(BEFORE, after, ["de"])


def test_power_law_fit_recovers_known_a_and_b():
    a, b = 0.42, 0.17
    perf = {n: a * n**b for n in range(1, 8)}
    law = fit_power_law(perf)
    assert law.a == pytest.approx(a, rel=1e-9) and law.b == pytest.approx(b, rel=1e-9)
    assert law.r2 == pytest.approx(1.0) and law.r2_log == pytest.approx(1.0)
    assert law.ns == [2, 3, 4, 5, 6, 7]  # N = 1 is left out of the fit


def test_power_law_fit_quality_drops_with_noise():
    rng = np.random.default_rng(0)
    perf = {n: 0.5 * n**0.1 * math.exp(rng.normal(0, 0.05)) for n in range(2, 12)}
    law = fit_power_law(perf)
    assert 0.3 < law.a < 0.7 and -0.05 < law.b < 0.25
    assert 0 < law.r2 < 1 and 0 < law.r2_log < 1
    two_points = fit_power_law({2: 0.5, 4: 0.6})
    assert two_points.b == pytest.approx(math.log(1.2) / math.log(2)) and two_points.r2 is None
    with pytest.raises(ValueError, match="two or more"):
        fit_power_law({1: 0.4, 2: 0.5})
    with pytest.raises(ValueError, match="> 0"):
        fit_power_law({2: 0.5, 3: 0.0})


def test_first_parallel_leap_and_monolingual_generalization_gap():
    perf = {1: 0.40, 2: 0.50, 3: 0.52, 4: 0.53}
    leap = first_parallel_leap(perf, stderr={1: 0.01, 2: 0.01})
    assert leap["leap"] == pytest.approx(0.10) and leap["relative"] == pytest.approx(0.25)
    assert leap["later_mean_step"] == pytest.approx(0.015)
    assert leap["two_sigma"] == pytest.approx(2 * math.sqrt(2) * 0.01)
    assert leap["detected"]
    steady = first_parallel_leap({1: 0.40, 2: 0.42, 3: 0.44, 4: 0.46})
    assert not steady["detected"]  # a steady climb, not a leap
    noisy = first_parallel_leap({1: 0.40, 2: 0.45, 3: 0.45}, stderr={1: 0.03, 2: 0.03})
    assert not noisy["detected"]  # +5 pts is inside 2σ ≈ 8.5 pts

    law = fit_power_law({2: 0.5, 3: 0.5 * 1.5**0.1, 4: 0.5 * 2**0.1})
    predicted_at_1 = law.a
    assert predicted_at_1 == pytest.approx(0.5 / 2**0.1)
    assert monolingual_generalization_gap({1: 0.40, **perf}, law) == pytest.approx(0.40 - predicted_at_1)


def test_accuracy_stderr():
    assert accuracy_stderr(0.5, 100) == pytest.approx(0.05)
    assert math.isnan(accuracy_stderr(0.5, 0))
