"""G-MCTS (rewards/gmcts*.py): tree arithmetic, operators, simulation, pair extraction and lockstep engine calls,
on hand-built trees and deterministic fake engines."""

from __future__ import annotations

import math
import random

import pytest

from rewards.gmcts import (
    GMCTSSettings,
    SearchStats,
    TranslateRequest,
    Translation,
    choose_operator,
    expansion_proposal,
    merge_choice,
    reference_calls_per_round,
    run_round,
    run_trees,
    score_simulations,
    simulate,
)
from rewards.gmcts_pairs import extract_pairs
from rewards.gmcts_tree import Node, Tree, backpropagate, best_node, select_leaf, uct


def jaccard(a, b):
    """A simple symmetric similarity: word-set overlap."""
    return [
        len(set(x.split()) & set(y.split())) / len(set(x.split()) | set(y.split())) for x, y in zip(a, b, strict=True)
    ]


class FakeEngine:
    """Deterministic: sample i of a request is '<text> -><trg>.<i>' (with '+ex' after in-context examples); its
    log-prob is `example_logprob` with examples, -1 without. Records every call."""

    def __init__(self, example_logprob: float = -0.5):
        self.calls: list[list[TranslateRequest]] = []
        self.example_logprob = example_logprob

    def translate(self, requests):
        self.calls.append(list(requests))
        return [
            Translation(
                [f"{r.text} ->{r.trg}{'+ex' if r.examples else ''}.{i}" for i in range(r.n)],
                [self.example_logprob if r.examples else -1.0] * r.n,
            )
            for r in requests
        ]


def hand_tree() -> tuple[Tree, Node, Node, Node]:
    """root x ─┬─ a (0.6, recon ra) ── c (0.9, recon rc)
    └─ b (0.2, recon rb)"""
    tree = Tree("x", "en", "de")
    a = tree.add(tree.root, "a", "ra", 0.6)
    b = tree.add(tree.root, "b", "rb", 0.2)
    c = tree.add(a, "c", "rc", 0.9)
    return tree, a, b, c


def test_backpropagation_sums_values_and_visits_to_the_root():
    tree, a, b, c = hand_tree()
    assert (c.value, c.visits) == (0.9, 1)
    assert (a.value, a.visits) == (pytest.approx(1.5), 2)
    assert (b.value, b.visits) == (0.2, 1)
    assert (tree.root.value, tree.root.visits) == (pytest.approx(1.7), 3)
    backpropagate(c, 0.5)
    assert (c.visits, a.visits, tree.root.visits, b.visits) == (2, 3, 4, 1)
    assert tree.root.value == pytest.approx(2.2)
    assert [node.order for node in tree.nodes] == [0, 1, 2, 3]


def test_uct_values_and_selection():
    tree, a, b, c = hand_tree()
    assert uct(a, 3, 2.0) == pytest.approx(0.75 + 2.0 * math.sqrt(2 * math.log(3) / 2))
    assert uct(b, 3, 2.0) == pytest.approx(0.2 + 2.0 * math.sqrt(2 * math.log(3) / 1))
    assert uct(Node("new", "de"), 3, 2.0) == math.inf
    assert select_leaf(tree, 2.0) is b  # b's exploration bonus (3.16) beats a's (2.85)
    assert select_leaf(tree, 0.0) is c  # exploitation only: a (0.75 > 0.2), then its only child
    unvisited = Node("u", "de", parent=tree.root)
    tree.root.children.append(unvisited)
    assert select_leaf(tree, 0.0) is unvisited  # +inf beats any visited child


def test_best_node_is_the_highest_mean_value_never_the_root():
    tree, _, _, c = hand_tree()
    assert best_node(tree) is c
    assert best_node(Tree("x", "en", "de")) is None
    tree.root.value = 100.0
    assert best_node(tree) is c


def test_operator_choice():
    tree, _, b, c = hand_tree()
    assert choose_operator(c, best_node(tree)) == "mutation"  # the leaf is the best node
    assert choose_operator(b, best_node(tree)) == "merge"
    c.recon = None
    assert choose_operator(b, best_node(tree)) == "mutation"  # the best node has no recon
    assert choose_operator(b, None) == "mutation"


def test_expansion_requests_of_mutation_and_merge():
    tree, _, b, c = hand_tree()
    settings = GMCTSSettings(expansion_temperature=0.7)
    merge = expansion_proposal(tree, settings)  # UCT selects b; the best node is c
    assert merge.parent is b and merge.operator == "merge"
    with_examples, plain = merge.requests
    assert with_examples.examples == (("rc", "c"), ("rb", "b"))  # (best.recon -> best), (leaf.recon -> leaf)
    assert (with_examples.text, plain.text, plain.examples) == ("x", "x", ())
    assert {(r.src, r.trg, r.n, r.temperature) for r in merge.requests} == {("en", "de", 1, 0.7)}
    b.recon = None  # a leaf without recon gives no example
    assert expansion_proposal(tree, settings).requests[0].examples == (("rc", "c"),)
    mutation = expansion_proposal(tree, settings.model_copy(update={"c": 0.0}))  # selects c, the best node
    assert mutation.parent is c and mutation.operator == "mutation"
    assert [(r.text, r.src, r.trg, r.examples) for r in mutation.requests] == [("rc", "en", "de", ())]


def test_merge_keeps_the_higher_likelihood_output():
    with_ex, without = Translation(["in-context"], [-0.5]), Translation(["plain"], [-0.2])
    assert merge_choice(with_ex, without) == ("plain", False)
    assert merge_choice(Translation(["in-context"], [-0.1]), without) == ("in-context", True)
    assert merge_choice(Translation(["in-context"], [-0.2]), without) == ("in-context", True)  # ties: in-context
    for example_logprob, expected in [(-0.5, "x ->de+ex.0"), (-2.0, "x ->de.0")]:
        tree, _, b, _ = hand_tree()
        stats = SearchStats()
        settings = GMCTSSettings()
        proposal = expansion_proposal(tree, settings)
        run_round([proposal], FakeEngine(example_logprob), FakeEngine(), settings, jaccard, random.Random(0), stats)
        assert [child.translation for child in b.children] == [expected]
        assert stats.operators == {"mutation": 0, "merge": 1, "merge_with_examples": int(example_logprob > -1)}


def test_simulation_value_and_recon_by_hand():
    x, dummy = "the cat sat", "a cat sat"
    recons = ["the cat sat down", "a dog sat", "a cat sat"]
    # jaccard vs x: 3/4, 1/5, 2/4; vs dummy: 2/5, 2/4, 1
    (value, recon), *_ = score_simulations([x], [dummy], [recons], jaccard, 0.25)
    assert value == pytest.approx(max((0.75 + 0 + 0.5) / 3, (0.4 + 0.5 + 1.0) / 3))  # 0.2 is zeroed
    assert recon == "a cat sat"  # sums 1.15, 0.5, 1.5
    (value, recon), *_ = score_simulations([x], [dummy], [recons], jaccard, 0.45)
    assert value == pytest.approx(max((0.75 + 0 + 0.5) / 3, (0 + 0.5 + 1.0) / 3))  # now 0.4 is zeroed too
    assert score_simulations([x], [dummy], [["dog ran"]], jaccard, 0.25) == [(0.0, None)]  # nothing kept: no recon
    many = score_simulations([x, "dog ran"], [dummy, "dog ran"], [recons, ["dog ran"]], jaccard, 0.25)
    assert many[1] == (1.0, "dog ran") and many[0][1] == "a cat sat"


def test_simulation_hops_go_through_distinct_bridges_and_back():
    tree = Tree("x", "en", "de")
    reference, stats = FakeEngine(), SearchStats(rounds=[{"policy": 0, "reference": 0}])
    settings = GMCTSSettings(depth=2, bridges=3, reference_temperature=0.1)
    simulate([(tree, "y1"), (tree, "y2")], reference, settings, jaccard, random.Random(1), stats)
    back, out1, home1, out2, home2 = reference.calls
    assert [(r.text, r.src, r.trg) for r in back] == [("y1", "de", "en"), ("y2", "de", "en")]
    for out, home in [(out1, home1), (out2, home2)]:
        assert len(out) == len(home) == 6  # k = 3 chains for each of 2 simulations
        for group in (out[:3], out[3:]):
            assert len({r.trg for r in group}) == 3 and not {r.trg for r in group} & {"en", "de"}
        assert {r.src for r in out} == {"en"} and {r.trg for r in home} == {"en"}
        assert [r.src for r in home] == [r.trg for r in out]
        assert {r.temperature for r in out + home} == {0.1}
    assert {r.text for r in out1[:3]} == {"y1 ->en.0"}  # the dummy fans out to all k bridges
    assert [r.text for r in out2[:3]] == [f"{r.text} ->en.0" for r in home1[:3]]  # chain i stays chain i


def test_pair_extraction():
    tree = Tree("x", "en", "de")
    languages = {"A": "de", "B": "fr", "C": "de", "D": "de", "E": "de", "F": "de", "G": "fr", "H": None}
    for text, value in [("A", 0.3), ("B", 0.8), ("C", 0.5), ("A", 0.2), ("D", 0.9), ("E", 0.35), ("F", 0.4)]:
        tree.add(tree.root, text, None, value)
    tree.add(tree.root, "G", None, 1.6)
    tree.add(tree.nodes[5], "H", None, 2.0)  # under D: utilities are per node, D's is (0.9 + 2.0) / 2 visits
    tree.root.value, tree.root.visits = 0.45, 1
    detected = []

    def detect(text):
        detected.append(text)
        return languages[text]

    pairs = extract_pairs(tree, detect)
    assert sorted(detected) == sorted(set(detected))  # one detection per distinct string
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("D", "A"), ("C", "B"), ("D", "C")]
    by_rejected = {p["rejected"]: p for p in pairs}
    assert by_rejected["A"]["rejected_utility"] == pytest.approx(0.5)  # identical strings: 0.3 + 0.2
    assert by_rejected["B"]["rejected_utility"] == pytest.approx(0.4)  # not in trg: 0.8 halved
    assert by_rejected["B"]["chosen"] == "C"  # first later better item, one pair per i (D is better too)
    # E: F is better but not above the root (0.45); G (0.8) and H (1.0, undetected) are better but not in trg
    assert "E" not in by_rejected and "F" not in by_rejected
    assert pairs[0] == {
        "source": "x",
        "src": "en",
        "trg": "de",
        "chosen": "D",
        "rejected": "A",
        "chosen_utility": pytest.approx(1.45),
        "rejected_utility": pytest.approx(0.5),
    }


@pytest.mark.parametrize("n_trees", [1, 5])
def test_lockstep_rounds_make_one_policy_call_and_constant_reference_calls(n_trees):
    trees = [Tree(f"sentence number {i}", "en", "de") for i in range(n_trees)]
    policy, reference = FakeEngine(), FakeEngine()
    settings = GMCTSSettings(initial_samples=3, expansions=4, depth=2, bridges=2)
    stats = run_trees(trees, policy, reference, settings)  # the default similarity: symmetric chrF
    per_round = {"policy": 1, "reference": reference_calls_per_round(settings)}
    assert reference_calls_per_round(settings) == 5
    assert stats.rounds == [per_round] * (1 + settings.expansions)
    assert len(policy.calls) == 1 + settings.expansions and len(reference.calls) == 5 * (1 + settings.expansions)
    assert all(len(tree.nodes) == 1 + 3 + 4 for tree in trees)
    assert all(tree.root.visits == 3 + 4 for tree in trees)
    assert stats.operators["mutation"] + stats.operators["merge"] == 4 * n_trees
    assert [len(call) for call in policy.calls[:1]] == [n_trees]  # round 0: one request of n = m per tree
    assert {r.n for r in policy.calls[0]} == {3} and {r.temperature for r in policy.calls[0]} == {0.5}
    assert stats.requests["reference"] == sum(len(call) for call in reference.calls)


def test_a_tree_without_enough_bridge_languages_fails_before_any_call():
    policy = FakeEngine()
    with pytest.raises(ValueError, match="tree en->de: 1 bridge languages"):
        run_trees([Tree("x", "en", "de")], policy, FakeEngine(), GMCTSSettings(bridge_languages=["en", "de", "fr"]))
    assert policy.calls == []
    assert run_trees([], policy, FakeEngine(), GMCTSSettings()).rounds == []


def test_an_engine_answering_the_wrong_number_of_samples_is_an_error():
    class Short(FakeEngine):
        def translate(self, requests):
            return super().translate(requests)[:-1]

    with pytest.raises(ValueError, match="the policy engine answered 2 requests"):
        run_trees([Tree("x", "en", "de"), Tree("y", "en", "de")], Short(), FakeEngine(), GMCTSSettings())
