"""Cross-lingual transfer measures of parallel-language RPT (METHODS.md §1; formulas in docs/parallel_rpt.md).

- gain(l) = Acc_after(l) − Acc_before(l)
- Transferability index of an unseen language l: TI(l) = gain(l) / mean_{t ∈ trained} gain(t); undefined (None)
  when the trained gain is at most `min_trained_gain` (a ratio to a gain of about zero, or to a loss, means nothing).
- First-Parallel Leap: Perf(2) − Perf(1), also relative to Perf(1) and compared with the mean later step.
- Parallel scaling law: Perf(N) = a·N^b, least squares on log Perf = log a + b·log N over N ≥ 2.
- Monolingual Generalization Gap: Perf(1) − a·1^b = Perf(1) − a.
- Their uncertainty: 95% percentile intervals by a bootstrap over the held-out questions (`bootstrap_law`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np

from rlcore.stats import BOOTSTRAP_RESAMPLES, bootstrap_interval


def gains(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """Absolute accuracy change per language present in both."""
    return {lang: after[lang] - before[lang] for lang in after if lang in before}


def transferability(
    before: Mapping[str, float], after: Mapping[str, float], trained: Sequence[str], min_trained_gain: float = 0.0
) -> dict[str, Any]:
    """TI(l) for every evaluated language not in `trained`, plus the trained gain it is relative to."""
    delta = gains(before, after)
    trained_here = [lang for lang in trained if lang in delta]
    if not trained_here:
        raise ValueError(f"none of the trained languages {list(trained)} was evaluated")
    trained_gain = float(np.mean([delta[lang] for lang in trained_here]))
    defined = trained_gain > min_trained_gain
    index = {lang: (delta[lang] / trained_gain if defined else None) for lang in delta if lang not in trained}
    values = [v for v in index.values() if v is not None]
    return {
        "trained_gain": trained_gain,
        "index": index,
        "mean": float(np.mean(values)) if values else None,
        "defined": defined,
    }


def first_parallel_leap(perf: Mapping[int, float], stderr: Mapping[int, float] | None = None) -> dict[str, Any]:
    """The N=1 -> N=2 jump; `detected` when it is above twice its standard error (if given) and larger than the
    mean later step Perf(N+1) − Perf(N), N ≥ 2 (a leap is a jump, not the start of a steady climb)."""
    if 1 not in perf or 2 not in perf:
        raise ValueError("the First-Parallel Leap needs Perf at N=1 and N=2")
    leap = perf[2] - perf[1]
    later = [perf[n + 1] - perf[n] for n in sorted(perf) if n >= 2 and n + 1 in perf]
    later_mean = float(np.mean(later)) if later else None
    noise = 2 * math.hypot(stderr[1], stderr[2]) if stderr and 1 in stderr and 2 in stderr else None
    detected = leap > 0 and (noise is None or leap > noise) and (later_mean is None or leap > later_mean)
    return {
        "leap": leap,
        "relative": leap / perf[1] if perf[1] else None,
        "later_mean_step": later_mean,
        "two_sigma": noise,
        "detected": bool(detected),
    }


@dataclass
class PowerLaw:
    """Perf(N) = a·N^b fitted on `ns`; r2 in the original space, r2_log in log-log space."""

    a: float
    b: float
    r2: float | None
    r2_log: float | None
    ns: list[int]

    def predict(self, n: float | np.ndarray) -> float | np.ndarray:
        return self.a * np.power(n, self.b)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_power_law(perf: Mapping[int, float], min_n: int = 2) -> PowerLaw:
    """Least squares on log Perf = log a + b·log N over N ≥ min_n. Needs two points with Perf > 0; with exactly
    two the fit is exact and R² is reported as None (no degrees of freedom left to measure quality)."""
    ns = sorted(n for n in perf if n >= min_n)
    if len(ns) < 2:
        raise ValueError(f"a power law needs Perf at two or more N >= {min_n}, got {ns}")
    values = np.array([perf[n] for n in ns], dtype=float)
    if (values <= 0).any():
        raise ValueError(f"a power law needs Perf > 0 (log-log fit), got {dict(zip(ns, values.tolist(), strict=True))}")
    log_n, log_v = np.log(ns), np.log(values)
    b, log_a = np.polyfit(log_n, log_v, 1)
    law = PowerLaw(a=float(np.exp(log_a)), b=float(b), r2=None, r2_log=None, ns=ns)
    if len(ns) > 2:
        law.r2 = _r2(values, np.asarray(law.predict(np.array(ns, dtype=float))))
        law.r2_log = _r2(log_v, log_a + b * log_n)
    return law


def _r2(observed: np.ndarray, predicted: np.ndarray) -> float:
    total = float(((observed - observed.mean()) ** 2).sum())
    residual = float(((observed - predicted) ** 2).sum())
    return 1.0 - residual / total if total > 0 else (1.0 if residual == 0 else 0.0)


def monolingual_generalization_gap(perf: Mapping[int, float], law: PowerLaw) -> float:
    """Actual Perf(1) minus the law's prediction at N=1 (= a). Negative: monolingual training falls short of what
    the parallel trend predicts (the paper's finding)."""
    return float(perf[1] - law.predict(1.0))


def accuracy_stderr(accuracy: float, count: int) -> float:
    """Binomial standard error of an accuracy measured on `count` independent items."""
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / count) if count else float("nan")


def bootstrap_law(per_question: Mapping[int, np.ndarray], min_n: int = 2) -> dict[str, Any]:
    """95% intervals of Perf(N), the law's a and b, the MGG and the First-Parallel Leap by a percentile bootstrap
    over questions (every N resamples the same questions, so the runs stay paired). `per_question[N]`: each
    question's accuracy averaged over the series' languages (and the runs with that N), aligned across N. A
    quantity is left out when it is undefined (e.g. no law through fewer than two N >= min_n)."""
    ns = sorted(per_question)
    grades = np.array([per_question[n] for n in ns], dtype=float)  # [N, questions]

    def perf(idx: np.ndarray) -> dict[int, float]:
        return dict(zip(ns, grades[:, idx].mean(axis=1).tolist(), strict=True))

    def perf_at(n: int, idx: np.ndarray) -> float:
        return perf(idx)[n]

    statistics: dict[str, Callable[[np.ndarray], float]] = {f"perf_{n}": partial(perf_at, n) for n in ns}
    if sum(n >= min_n for n in ns) >= 2:
        statistics["a"] = lambda idx: fit_power_law(perf(idx), min_n).a
        statistics["b"] = lambda idx: fit_power_law(perf(idx), min_n).b
        if 1 in ns:
            statistics["mgg"] = lambda idx: monolingual_generalization_gap(perf(idx), fit_power_law(perf(idx), min_n))
    if 1 in ns and 2 in ns:
        statistics["leap"] = lambda idx: perf(idx)[2] - perf(idx)[1]
    out: dict[str, Any] = {"questions": grades.shape[1], "method": f"bootstrap over questions ({BOOTSTRAP_RESAMPLES})"}
    for name, statistic in statistics.items():
        low, high = bootstrap_interval(grades.shape[1], statistic)
        out[name] = None if math.isnan(low) else [low, high]
    return out
