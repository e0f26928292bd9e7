"""TRANS-ZERO (METHODS.md §6): self-play translation on monolingual data with Genetic MCTS, then SPPO-hard
preference training against the warm-start model. A round is an iteration of the DPO loop (dpo_iterations.py)
whose pairs come from self-play:

    for t = 1..T:
        sources = monolingual.next(prompts_per_iteration)       # x in src, each with a target language trg ≠ src
        trees   = G-MCTS(sources, policy=π_t on the rollout workers,            # one batched call per round
                         reference=π_0 on the reference_rollout workers)         # back-translations and bridges
        pairs   = extract_pairs(tree, language check) for each tree              # chosen/rejected translations
        SPPO-hard (β) on the pairs against π_0; sync(π_{t+1} -> rollout)
        validate: greedy translations of the held-out sets, corpus chrF and BLEU per direction (and the mean
                  QE score, qe_validation); checkpoint

Every round's pairs (iterations/iter_t/pairs.jsonl) and trees' nodes (generations.jsonl: text, recon, value,
visits) are kept, so a resumed run trains on the same pairs."""

from __future__ import annotations

import random
from typing import Any

from actors.runtime import Runtime
from actors.translation_engine import GeneratorTranslationEngine
from algorithms.base import ALGORITHMS
from algorithms.dpo_iterations import DPOIterations
from algorithms.pairs import BuildResult
from algorithms.run_summary import score_changes
from algorithms.trans_zero_config import TransZeroConfig
from algorithms.trans_zero_data import (
    Direction,
    assign_targets,
    direction_scores,
    load_monolingual,
    load_validation,
    node_rows,
    pair_rows,
)
from rewards.gmcts import SearchStats, run_trees
from rewards.gmcts_pairs import extract_pairs
from rewards.gmcts_tree import Tree, best_node
from rlcore.batch import Batch
from rlcore.chat import PromptFormatter
from rlcore.config import ConfigError, RunConfig
from rlcore.data import PromptSampler
from rlcore.language_id import make_detector
from rlcore.metrics.reports import summary_table
from rlcore.translation import TranslateRequest

SCORES = ("chrf", "bleu", "qe")  # the validation's scores per direction: eval/<score>/<src>-<trg>


class FrozenGenerator:
    """The reference_rollout workers as a Generator (what GeneratorTranslationEngine translates with)."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def generate(self, prompts: Batch, n: int, sampling: dict[str, Any] | None = None) -> Batch:
        return self.runtime.reference_generate(prompts, n, sampling)


@ALGORITHMS.register("trans_zero")
class TransZero(DPOIterations):
    Config = TransZeroConfig
    cfg: TransZeroConfig
    phases = ("generate", "annotate", "reference", "train", "sync")
    roles = ("rollout", "reference_rollout", "learner", "reference")

    def __init__(self, config: RunConfig):
        super().__init__(config)
        self.detect = make_detector(self.cfg.language_detector, [*self.cfg.source_languages, *self.languages()])
        self.validation: dict[Direction, list[dict[str, Any]]] = {}
        if self.cfg.qe_validation and config.reward.name != "qe":
            raise ConfigError(
                f"algorithm.qe_validation scores held-out translations with the qe reward, but reward.name is "
                f"{config.reward.name!r}; set reward.name: qe and reward.model (e.g. builtin:tiny-qe)"
            )

    def worker_roles(self) -> tuple[str, ...]:
        return (*self.roles, "reward") if self.cfg.qe_validation else self.roles

    def languages(self) -> list[str]:
        """Every language of the run: sources, targets and bridges (what the language check chooses among)."""
        cfg = self.cfg
        return list(dict.fromkeys([*cfg.source_languages, *cfg.target_languages, *cfg.search.bridge_languages]))

    def load_data(self) -> None:
        """Monolingual sources (the sampler's rows) and the held-out parallel sets; prompts are encoded by
        data.chat_template, the same way as the warm-start data."""
        self.prompts = PromptFormatter.for_model(self.config.model.path, self.config.data.chat_template)
        rows = load_monolingual(self.cfg, self.config.run.seed)
        self.sampler = PromptSampler(rows, self.config.run.seed, self.config.data.shuffle)
        self.validation = load_validation(self.cfg)

    def pairs_estimate(self) -> int:  # a tree of m initial samples and E expansions gives a few pairs
        return self.cfg.prompts_per_iteration * 2

    def engine(self, generator: Any) -> GeneratorTranslationEngine:
        return GeneratorTranslationEngine(generator, self.prompts, self.cfg.max_tokens)

    def build_pairs(self, iteration: int) -> BuildResult:
        """Search a tree per source with the policy and the frozen reference, then extract and encode the pairs."""
        cfg, seed = self.cfg, self.config.run.seed
        rows = self.sampler.next_batch(cfg.prompts_per_iteration)
        targets = assign_targets(rows, cfg.target_languages, seed, iteration)
        trees = [Tree(row["text"], row["language"], trg) for row, trg in zip(rows, targets, strict=True)]
        settings = cfg.search.model_copy(update={"metric": cfg.metric})
        with self.phase("generate"):
            rng = random.Random(f"{seed}:{cfg.search.seed}:{iteration}")  # the same bridges on a rebuild
            stats = run_trees(
                trees, self.engine(self.runtime), self.engine(FrozenGenerator(self.runtime)), settings, rng=rng
            )
        with self.phase("annotate"):
            found = [pair | {"tree": i} for i, tree in enumerate(trees) for pair in extract_pairs(tree, self.detect)]
            pairs = pair_rows(found, self.prompts)
        dropped = {"trees_without_pairs": len(trees) - len({pair["tree"] for pair in found})}
        return BuildResult(pairs, node_rows(trees), dropped, search_stats(trees, stats)).without_identical()

    def evaluate(self) -> dict[str, float]:
        """Greedy translations of every held-out set with the policy (one generate call), scored per direction."""
        if not self.validation:
            return {}
        requests = [TranslateRequest(row["source"], s, t) for (s, t), rows in self.validation.items() for row in rows]
        with self.phase("eval"):
            outputs = iter(self.engine(self.runtime).translate(requests))
        hypotheses = {d: [next(outputs).texts[0] for _ in rows] for d, rows in self.validation.items()}
        qe = self.quality_estimates(hypotheses) if self.cfg.qe_validation else {}
        self.last_report = {
            "translations": {
                f"{s}-{t}": [
                    {**row, "hypothesis": h, **({"qe": qe[(s, t)][i]} if qe else {})}
                    for i, (row, h) in enumerate(zip(rows, hypotheses[(s, t)], strict=True))
                ]
                for (s, t), rows in self.validation.items()
            }
        }
        return direction_scores(self.validation, hypotheses) | mean_quality_estimates(qe)

    def quality_estimates(self, hypotheses: dict[Direction, list[str]]) -> dict[Direction, list[float]]:
        """The qe reward's score of every held-out (source, translation) pair, per direction (one scoring call)."""
        directions = list(self.validation)
        sources = [row["source"] for d in directions for row in self.validation[d]]
        translations = [text for d in directions for text in hypotheses[d]]
        with self.phase("eval"):
            pairs = Batch(columns={"source": sources, "response_text": translations})
            scores = iter(self.runtime.score(pairs)["rewards"].tolist())
        return {d: [next(scores) for _ in self.validation[d]] for d in directions}

    def finish(self, first_eval: dict[str, float], last_eval: dict[str, float], seconds: float) -> dict[str, Any]:
        """Held-out chrF and BLEU per direction before and after, on the terminal; then the summary."""
        rows = []
        for key in sorted(k for k in last_eval if k.startswith(tuple(f"eval/{name}/" for name in SCORES))):
            before, after = first_eval.get(key), last_eval[key]
            change = "-" if before is None else f"{100 * (after - before):+.1f}"
            rows.append(
                [key[len("eval/") :], "-" if before is None else f"{100 * before:.1f}", f"{100 * after:.1f}", change]
            )
        if rows:
            print(f"{self.config.run.name}: held-out translation scores (0-100), {self.num_rounds()} rounds")
            summary_table("", ["metric/direction", "initial", "final", "change"], rows)
        return super().finish(first_eval, last_eval, seconds)

    def metric_changes(self, first_eval: dict[str, float], last_eval: dict[str, float]) -> dict[str, dict[str, Any]]:
        return score_changes(first_eval, last_eval, SCORES)  # chrF, BLEU and QE per direction, for run.seeds


def mean_quality_estimates(scores: dict[Direction, list[float]]) -> dict[str, float]:
    """`eval/qe/<src>-<trg>` (the mean QE score of a direction's translations) and their mean over directions."""
    if not scores:
        return {}
    means = {f"eval/qe/{s}-{t}": sum(values) / len(values) for (s, t), values in scores.items() if values}
    return means | {"eval/qe/mean": sum(means.values()) / len(means)}


def search_stats(trees: list[Tree], stats: SearchStats) -> dict[str, float]:
    """What the search did: engine calls and requests, operators, and the mean value of each tree's best node."""
    best = [node.mean_value for tree in trees if (node := best_node(tree)) is not None]
    return {
        "search_rounds": float(len(stats.rounds)),
        "policy_calls": float(sum(r["policy"] for r in stats.rounds)),
        "reference_calls": float(sum(r["reference"] for r in stats.rounds)),
        **{f"{role}_requests": float(n) for role, n in stats.requests.items()},
        **{f"op_{name}": float(n) for name, n in stats.operators.items()},
        "best_value_mean": sum(best) / len(best) if best else 0.0,
        "trees": float(len(trees)),
    }
