"""Pair builders for iterative DPO, one module each, selected by `algorithm.pair_builder.name`."""

from algorithms.pairs import implicit_cross_lingual, language_imbalance, reward_ranked, self_refinement  # noqa: F401
from algorithms.pairs.base import PAIR_BUILDERS, BuildResult, PairBuilder, PairBuilderConfig, PairContext

__all__ = ["PAIR_BUILDERS", "BuildResult", "PairBuilder", "PairBuilderConfig", "PairContext"]
