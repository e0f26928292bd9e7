"""BuildResult's filtering and metrics, and the pair builders' config check (hand-made cases; `make mutation`)."""

from __future__ import annotations

import pytest

from algorithms.pairs.base import BuildResult
from algorithms.pairs.reward_ranked import RewardRanked
from algorithms.pairs.self_refinement import SelfRefinementConfig
from rlcore.config import ConfigError


def pair(chosen: list[int], rejected: list[int]) -> dict:
    return {"chosen_ids": chosen, "rejected_ids": rejected}


def test_identical_pairs_are_dropped_and_counted_beside_other_reasons():
    result = BuildResult(
        [pair([1, 2], [1, 3]), pair([4], [4]), pair([5, 6], [5, 6]), pair([7], [8])],
        generations=[{"g": 1}],
        dropped={"tie": 2},
        stats={"alpha/en": 0.5},
    )
    kept = result.without_identical()
    assert kept.pairs == [pair([1, 2], [1, 3]), pair([7], [8])]
    assert kept.dropped == {"tie": 2, "identical": 2}
    assert kept.generations == [{"g": 1}] and kept.stats == {"alpha/en": 0.5}
    assert result.dropped == {"tie": 2}  # the original is left as it was
    assert BuildResult([pair([1], [2])], []).without_identical().dropped == {"identical": 0}


def test_build_metrics_name_counts_drops_and_stats():
    result = BuildResult([pair([1], [2])] * 3, [], dropped={"tie": 2, "identical": 1}, stats={"alpha/fr": 0.25})
    assert result.metrics(1.5) == {
        "pairs/count": 3.0,
        "pairs/build_s": 1.5,
        "pairs/dropped_tie": 2.0,
        "pairs/dropped_identical": 1.0,
        "pairs/alpha/fr": 0.25,
    }
    assert BuildResult([], []).metrics(0.0) == {"pairs/count": 0.0, "pairs/build_s": 0.0}


def test_a_builder_refuses_another_builders_config():
    with pytest.raises(ConfigError, match=r"^RewardRanked needs a RewardRankedConfig: SelfRefinementConfig\("):
        RewardRanked(SelfRefinementConfig(name="self_refinement"), ["en"])
