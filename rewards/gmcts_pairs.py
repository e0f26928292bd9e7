"""Preference pairs from a searched G-MCTS tree (METHODS.md §6, "Pairs").

Items are the tree's translations in order of creation (initial samples first, then one per expansion round), with
utility u = value / visits, halved for a translation whose detected language is not trg. Identical strings merge
into one item at the position of their first occurrence, with the sum of their utilities. For each item i, the
first later item j with u_j > u_i, u_j > the root's utility and j detected in trg gives the pair (chosen = j,
rejected = i): at most one pair per i. A translation whose language cannot be detected (detect gives None) counts as
not in trg. "Chosen must be in trg" is part of the search for j, so an earlier better j in the wrong language is
skipped rather than ending the search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rewards.gmcts_tree import Tree

# text -> language code (e.g. "de"), or None when it cannot tell; e.g. a lingua detector wrapped by the caller.
Detect = Callable[[str], str | None]


@dataclass
class PairItem:
    """One distinct translation of the tree with its (summed, language-adjusted) utility."""

    text: str
    utility: float
    in_trg: bool


def pair_items(tree: Tree, detect: Detect) -> list[PairItem]:
    """The tree's distinct translations in order of first creation, utilities halved outside trg and summed."""
    items: dict[str, PairItem] = {}  # insertion order = order of first creation
    for node in tree.nodes[1:]:
        if node.translation not in items:  # identical strings share one detection
            in_trg = detect(node.translation) == tree.trg
            items[node.translation] = PairItem(node.translation, 0.0, in_trg)
        item = items[node.translation]
        item.utility += node.mean_value if item.in_trg else node.mean_value / 2
    return list(items.values())


def extract_pairs(tree: Tree, detect: Detect) -> list[dict[str, Any]]:
    """Pairs (chosen, rejected) of the tree as plain dicts: source, src, trg, chosen, rejected, chosen_utility,
    rejected_utility."""
    items, root_utility = pair_items(tree, detect), tree.root.mean_value
    pairs = []
    for i, rejected in enumerate(items):
        chosen = next(
            (j for j in items[i + 1 :] if j.utility > rejected.utility and j.utility > root_utility and j.in_trg),
            None,
        )
        if chosen is not None:
            pairs.append(
                {
                    "source": tree.source,
                    "src": tree.src,
                    "trg": tree.trg,
                    "chosen": chosen.text,
                    "rejected": rejected.text,
                    "chosen_utility": chosen.utility,
                    "rejected_utility": rejected.utility,
                }
            )
    return pairs
