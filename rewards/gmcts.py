"""Genetic MCTS (G-MCTS, TRANS-ZERO, METHODS.md §6): self-play search for translations of monolingual sentences,
as pure logic over two abstract translation engines, the policy being trained and the frozen reference.

Many trees (one per source sentence x) run in lockstep, round by round: round 0 initialises every tree with m
samples of x, each later round expands every tree once. In every round all trees' policy requests go out in ONE
batched policy call, and the simulations of all new translations take 1 + 2·depth batched reference calls
(back-translate; then, per depth level, out to the bridge languages and back into src), however many trees run.
The tree itself (nodes, UCT, back-propagation) is in rewards/gmcts_tree.py, pair extraction in gmcts_pairs.py.

Choices where METHODS.md is silent or ambiguous, one line each:
- likelihood: the engine returns each sample's mean token log-prob; merge keeps the higher (fair across lengths).
- a merge whose two decodings tie keeps the one decoded with the in-context examples.
- bridges: each depth level draws k distinct bridge languages per simulation, chain i goes through bridge i: k chains
  and k final reconstructions (not k^depth).
- recon is None when every reconstruction scores 0 after the threshold (none of them paraphrases x).
- mutation of a leaf without recon translates x itself; merge leaves out the example of a leaf without recon.
- best node: the translation with the highest mean value, the root excluded; initial values reach the root too.
- not published, defaults here: k = 2, expansion temperature 0.5 (as initialisation), metric chrF (the paper's
  BLEURT-20 is not available offline; BLEU or any symmetric similarity callable can replace it).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from pydantic import Field

from rewards.gmcts_tree import Node, Tree, best_node, select_leaf
from rlcore.config import Section

# The engine types live on the ground floor (actors implement engines without importing rewards); public here too.
from rlcore.translation import TranslateRequest, Translation, TranslationEngine
from rlcore.translation_metrics import MetricName, Similarity, symmetric_similarity, thresholded

Operator = Literal["initial", "mutation", "merge"]


class GMCTSSettings(Section):
    """The search's knobs (METHODS.md §6); defaults are the paper's where it gives them."""

    c: float = Field(2.0, ge=0, description="UCT exploration constant.")
    initial_samples: int = Field(5, ge=1, description="m: translations of x sampled to initialise a tree.")
    expansions: int = Field(20, ge=0, description="Expansion rounds after initialisation (one expansion per tree).")
    depth: int = Field(2, ge=1, description="Simulation levels, each out to the bridge languages and back into src.")
    bridges: int = Field(2, ge=1, description="k: bridge languages per level, the chains of one simulation.")
    bridge_languages: list[str] = Field(
        default_factory=lambda: ["de", "pt", "it", "en", "zh", "ru"],
        description="Languages bridges are drawn from; each tree's src and trg are left out.",
    )
    threshold: float = Field(0.25, ge=0, le=1, description="Similarity scores below this count as 0.")
    initial_temperature: float = Field(0.5, ge=0, description="Policy temperature of the m initial samples.")
    expansion_temperature: float = Field(0.5, ge=0, description="Policy temperature of mutation and merge.")
    reference_temperature: float = Field(0.1, ge=0, description="Reference temperature of simulation hops.")
    metric: MetricName = Field("chrf", description="Metric of the symmetric similarity, unless a callable is given.")
    seed: int = Field(0, description="Seeds the bridge-language draws, unless a random.Random is given.")


@dataclass
class SearchStats:
    """Engine calls per round (`rounds[r]["policy"|"reference"]`), requests per engine and operators used."""

    rounds: list[dict[str, int]] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=lambda: {"policy": 0, "reference": 0})
    operators: dict[str, int] = field(default_factory=lambda: {"mutation": 0, "merge": 0, "merge_with_examples": 0})

    def call(
        self, role: Literal["policy", "reference"], engine: TranslationEngine, requests: Sequence[TranslateRequest]
    ) -> list[Translation]:
        """One batched engine call, counted in the current round and checked for shape."""
        results = engine.translate(requests)
        if len(results) != len(requests) or any(len(r.texts) != q.n for r, q in zip(results, requests, strict=True)):
            raise ValueError(f"the {role} engine answered {len(requests)} requests with a wrong number of samples")
        self.rounds[-1][role] += 1
        self.requests[role] += len(requests)
        return results


@dataclass
class Proposal:
    """One tree's policy requests of a round and where their translations go (children of `parent`)."""

    tree: Tree
    parent: Node
    operator: Operator
    requests: list[TranslateRequest]


def reference_calls_per_round(settings: GMCTSSettings) -> int:
    """Back-translation, then out and back per depth level."""
    return 1 + 2 * settings.depth


def choose_operator(leaf: Node, best: Node | None) -> Literal["mutation", "merge"]:
    """Mutation when the leaf is the best node or the best node has no recon; merge otherwise."""
    return "mutation" if best is None or leaf is best or best.recon is None else "merge"


def initial_proposal(tree: Tree, settings: GMCTSSettings) -> Proposal:
    """m samples of x, children of the root."""
    request = TranslateRequest(tree.source, tree.src, tree.trg, n=settings.initial_samples)
    return Proposal(tree, tree.root, "initial", [replace(request, temperature=settings.initial_temperature)])


def expansion_proposal(tree: Tree, settings: GMCTSSettings) -> Proposal:
    """Select a leaf, choose the operator, and build its requests: one for mutation, two (with and without the
    in-context examples) for merge."""
    leaf, best = select_leaf(tree, settings.c), best_node(tree)
    plain = TranslateRequest(tree.source, tree.src, tree.trg, temperature=settings.expansion_temperature)
    if choose_operator(leaf, best) == "mutation":
        return Proposal(tree, leaf, "mutation", [replace(plain, text=leaf.recon or tree.source)])
    examples = tuple((node.recon, node.translation) for node in (best, leaf) if node and node.recon is not None)
    return Proposal(tree, leaf, "merge", [replace(plain, examples=examples), plain])


def merge_choice(with_examples: Translation, without_examples: Translation) -> tuple[str, bool]:
    """The higher-likelihood decoding of x and whether it is the in-context one (it wins ties)."""
    if with_examples.logprobs[0] >= without_examples.logprobs[0]:
        return with_examples.texts[0], True
    return without_examples.texts[0], False


def score_simulations(
    sources: Sequence[str],
    dummies: Sequence[str],
    reconstructions: Sequence[Sequence[str]],
    similarity: Similarity,
    threshold: float,
) -> list[tuple[float, str | None]]:
    """(value, recon) per simulation: each final reconstruction's similarity to x and to the dummy, zeroed below
    the threshold; value = max(mean vs x, mean vs dummy); recon = the reconstruction with the largest sum of both."""
    flat = [recon for recons in reconstructions for recon in recons]
    owners = [i for i, recons in enumerate(reconstructions) for _ in recons]
    # Two batched metric calls for all simulations; thresholding is per score, before the means.
    vs_x = thresholded(similarity(flat, [sources[i] for i in owners]), threshold)
    vs_dummy = thresholded(similarity(flat, [dummies[i] for i in owners]), threshold)
    results, start = [], 0
    for recons in reconstructions:
        x_scores, d_scores = vs_x[start : start + len(recons)], vs_dummy[start : start + len(recons)]
        start += len(recons)
        value = max(sum(x_scores) / len(recons), sum(d_scores) / len(recons))
        sums = [a + b for a, b in zip(x_scores, d_scores, strict=True)]
        best = max(range(len(recons)), key=sums.__getitem__)  # first of equals
        results.append((value, recons[best] if sums[best] > 0 else None))
    return results


def simulate(
    jobs: Sequence[tuple[Tree, str]],
    reference: TranslationEngine,
    settings: GMCTSSettings,
    similarity: Similarity,
    rng: random.Random,
    stats: SearchStats,
) -> list[tuple[float, str | None]]:
    """(value, recon) of each new translation (tree, y): 1 + 2·depth batched reference calls for all of them."""
    hop = TranslateRequest("", "", "", temperature=settings.reference_temperature)
    back = stats.call("reference", reference, [replace(hop, text=y, src=t.trg, trg=t.src) for t, y in jobs])
    dummies = [translation.texts[0] for translation in back]
    chains: list[list[str]] = [[dummy] for dummy in dummies]
    k = settings.bridges
    for _ in range(settings.depth):
        bridges = [rng.sample(bridge_pool(tree, settings), k) for tree, _ in jobs]
        # chain[i % len(chain)]: the single dummy fans out to all k bridges, later levels keep chain i on its own
        out = [
            replace(hop, text=chain[i % len(chain)], src=tree.src, trg=language)
            for (tree, _), chain, languages in zip(jobs, chains, bridges, strict=True)
            for i, language in enumerate(languages)
        ]
        bridged = stats.call("reference", reference, out)
        back_home = [replace(r, text=t.texts[0], src=r.trg, trg=r.src) for r, t in zip(out, bridged, strict=True)]
        home = stats.call("reference", reference, back_home)
        chains = [[t.texts[0] for t in home[j * k : (j + 1) * k]] for j in range(len(jobs))]
    sources = [tree.source for tree, _ in jobs]
    return score_simulations(sources, dummies, chains, similarity, settings.threshold)


def bridge_pool(tree: Tree, settings: GMCTSSettings) -> list[str]:
    """The bridge languages of a tree: the configured ones without its src and trg (and repeats)."""
    pool = [lang for lang in dict.fromkeys(settings.bridge_languages) if lang not in (tree.src, tree.trg)]
    if len(pool) < settings.bridges:
        raise ValueError(
            f"tree {tree.src}->{tree.trg}: {len(pool)} bridge languages {pool} are left, bridges={settings.bridges}"
        )
    return pool


def run_round(
    proposals: Sequence[Proposal],
    policy: TranslationEngine,
    reference: TranslationEngine,
    settings: GMCTSSettings,
    similarity: Similarity,
    rng: random.Random,
    stats: SearchStats,
) -> None:
    """One lockstep round: one policy call for every proposal, the simulations, then the new nodes."""
    stats.rounds.append({"policy": 0, "reference": 0})
    outputs = stats.call("policy", policy, [request for proposal in proposals for request in proposal.requests])
    jobs: list[tuple[Proposal, str]] = []
    start = 0
    for proposal in proposals:
        mine, start = outputs[start : start + len(proposal.requests)], start + len(proposal.requests)
        if proposal.operator == "merge":
            text, kept_examples = merge_choice(*mine)
            stats.operators["merge_with_examples"] += kept_examples
            texts = [text]
        else:
            texts = mine[0].texts
        if proposal.operator != "initial":
            stats.operators[proposal.operator] += 1
        jobs += [(proposal, text) for text in texts]
    results = simulate([(p.tree, text) for p, text in jobs], reference, settings, similarity, rng, stats)
    for (proposal, text), (value, recon) in zip(jobs, results, strict=True):
        proposal.tree.add(proposal.parent, text, recon, value)


def run_trees(
    trees: Sequence[Tree],
    policy: TranslationEngine,
    reference: TranslationEngine,
    settings: GMCTSSettings,
    similarity: Similarity | None = None,
    rng: random.Random | None = None,
) -> SearchStats:
    """Initialise and expand every tree in lockstep: 1 + settings.expansions rounds."""
    stats = SearchStats()
    if not trees:
        return stats
    for tree in trees:
        bridge_pool(tree, settings)  # a tree without enough bridge languages fails before any engine call
    similarity = similarity or symmetric_similarity(settings.metric)
    rng = rng or random.Random(settings.seed)
    run_round([initial_proposal(t, settings) for t in trees], policy, reference, settings, similarity, rng, stats)
    for _ in range(settings.expansions):
        proposals = [expansion_proposal(t, settings) for t in trees]
        run_round(proposals, policy, reference, settings, similarity, rng, stats)
    return stats
