"""Algorithms: one module per algorithm, registered in rlcore.registry.ALGORITHMS and found through the
`rlcore.algorithms` entry points (pyproject.toml), so a module is imported only when a config names it."""

from algorithms.base import Algorithm, AlgorithmConfig
from rlcore.config import RunConfig
from rlcore.registry import ALGORITHMS

__all__ = ["ALGORITHMS", "Algorithm", "AlgorithmConfig", "build_algorithm"]


def build_algorithm(config: RunConfig) -> Algorithm:
    """The algorithm named by config.algorithm.name, ready to `.run()`."""
    return ALGORITHMS.get(config.algorithm.name)(config)
