"""The search tree of G-MCTS (METHODS.md §6): nodes, UCT selection, back-propagation and the best node.

Pure data and arithmetic, no engines: rewards/gmcts.py drives many of these trees in lockstep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(eq=False)  # identity, not value, equality: two nodes may hold the same translation
class Node:
    """A candidate translation (the root: the source sentence x) and its search statistics."""

    translation: str
    language: str
    recon: str | None = None  # best back-translation into src: a paraphrase of x; None if none scored above 0
    value: float = 0.0  # sum of the values back-propagated through this node
    visits: int = 0
    parent: Node | None = field(default=None, repr=False)
    children: list[Node] = field(default_factory=list, repr=False)
    order: int = 0  # creation index in its tree (root 0): the order of pair extraction

    @property
    def mean_value(self) -> float:
        """value / visits, 0 for an unvisited node."""
        return self.value / self.visits if self.visits else 0.0


class Tree:
    """One tree per source sentence x (language src) searched for translations into trg."""

    def __init__(self, source: str, src: str, trg: str):
        self.src, self.trg = src, trg
        self.root = Node(source, src)
        self.nodes: list[Node] = [self.root]  # every node, in creation order

    @property
    def source(self) -> str:
        return self.root.translation

    def add(self, parent: Node, translation: str, recon: str | None, value: float) -> Node:
        """A new child of `parent` whose simulation gave `value`, back-propagated to the root."""
        node = Node(translation, self.trg, recon=recon, parent=parent, order=len(self.nodes))
        parent.children.append(node)
        self.nodes.append(node)
        backpropagate(node, value)
        return node


def uct(node: Node, parent_visits: int, c: float) -> float:
    """value/visits + c·sqrt(2·ln N_parent / visits); +inf for an unvisited node, so it is tried first."""
    if node.visits == 0:
        return math.inf
    return node.mean_value + c * math.sqrt(2.0 * math.log(parent_visits) / node.visits)


def select_leaf(tree: Tree, c: float) -> Node:
    """From the root, follow the child with the highest UCT (the first created on ties) down to a leaf."""
    node = tree.root
    while node.children:
        visits = node.visits
        node = max(node.children, key=lambda child: uct(child, visits, c))  # max keeps the first of equals
    return node


def best_node(tree: Tree) -> Node | None:
    """The translation with the highest mean value (the first created on ties); None before any exists. The root
    is the source, not a translation, so it never is the best node."""
    candidates = tree.nodes[1:]
    return max(candidates, key=lambda node: node.mean_value) if candidates else None


def backpropagate(node: Node, value: float) -> None:
    """Add `value` and one visit to `node` and to each of its ancestors up to the root."""
    current: Node | None = node
    while current is not None:
        current.value += value
        current.visits += 1
        current = current.parent
