"""Advantage estimators for outcome rewards over groups of samples of the same prompt, registered by name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rlcore.registry import Registry

AdvantageFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
ADVANTAGES: Registry[AdvantageFn] = Registry("advantage estimator", "rlcore.advantages")


def _grouped(rewards: np.ndarray, group_ids: np.ndarray, per_group: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    rewards = np.asarray(rewards, dtype=np.float64)
    out = np.zeros_like(rewards)
    for group in np.unique(group_ids):
        members = np.flatnonzero(group_ids == group)
        out[members] = per_group(rewards[members])
    return out.astype(np.float32)


def grpo_advantages(
    rewards: np.ndarray, group_ids: np.ndarray, eps: float = 1e-6, scale_by_std: bool = True
) -> np.ndarray:
    """A_i = (r_i − mean(r_group)) / (std(r_group) + ε), sample std (n−1); scale_by_std=False gives Dr. GRPO."""

    def per_group(r: np.ndarray) -> np.ndarray:
        centred = r - r.mean()
        if not scale_by_std or len(r) < 2:
            return centred
        return centred / (r.std(ddof=1) + eps)

    return _grouped(rewards, group_ids, per_group)


ADVANTAGES.register("grpo")(grpo_advantages)  # not as a decorator, which would type it without its scale_by_std


@ADVANTAGES.register("rloo")
def rloo_advantages(rewards: np.ndarray, group_ids: np.ndarray) -> np.ndarray:
    """A_i = r_i − mean of the other samples' rewards (leave-one-out baseline)."""

    def per_group(r: np.ndarray) -> np.ndarray:
        if len(r) < 2:
            return np.zeros_like(r)
        return r - (r.sum() - r) / (len(r) - 1)

    return _grouped(rewards, group_ids, per_group)
