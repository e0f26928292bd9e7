"""Pair builders for iterative DPO, one module each, selected by `algorithm.pair_builder.name`; registered in
rlcore.registry.PAIR_BUILDERS and found through the `rlcore.pair_builders` entry points."""

from algorithms.pairs.base import BuildResult, PairBuilder, PairBuilderConfig, PairContext
from rlcore.registry import PAIR_BUILDERS

__all__ = ["PAIR_BUILDERS", "BuildResult", "PairBuilder", "PairBuilderConfig", "PairContext"]
