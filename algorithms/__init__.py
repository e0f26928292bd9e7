"""Algorithms: one module per algorithm, registered in rlcore.registry.ALGORITHMS and found through the
`rlcore.algorithms` entry points (pyproject.toml), so a module is imported only when a config names it."""

from algorithms.base import ALGORITHMS, Algorithm, AlgorithmConfig, build_algorithm

__all__ = ["ALGORITHMS", "Algorithm", "AlgorithmConfig", "build_algorithm"]
