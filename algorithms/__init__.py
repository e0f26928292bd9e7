"""Algorithms: one module per algorithm, each registered in ALGORITHMS under the name configs use."""

from algorithms import (
    grpo,  # noqa: F401  (registers "grpo")
    iterative_dpo,  # noqa: F401  (registers "iterative_dpo")
    parallel_rpt,  # noqa: F401  (registers "parallel_rpt")
)
from algorithms.base import ALGORITHMS, Algorithm, AlgorithmConfig

__all__ = ["ALGORITHMS", "Algorithm", "AlgorithmConfig", "build_algorithm"]


def build_algorithm(config) -> Algorithm:
    """The algorithm named by config.algorithm.name, ready to `.run()`."""
    return ALGORITHMS.get(config.algorithm.name)(config)
