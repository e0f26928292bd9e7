"""G-MCTS in lockstep vs one tree at a time, with the tiny model's real engines (vLLM on CPU): the same trees, the
same search budget (m initial samples, E expansions, depth, k bridges), the policy on the rollout workers and the
frozen reference on the reference_rollout workers. Lockstep sends every tree's requests of a round in one batched
policy call and 1 + 2·depth batched reference calls; one tree at a time makes those calls per tree.

    PYTHONPATH=. .venv/bin/python benchmarks/gmcts_lockstep.py [--trees 16 --expansions 4 --depth 1 --repeats 3]

Prints and writes benchmarks/results/gmcts_lockstep/<date>.json: seconds and engine calls of both, and their ratio
per repeat (each repeat searches fresh trees of the same sources).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from actors.runtime import Runtime
from actors.translation_engine import GeneratorTranslationEngine
from algorithms.trans_zero import FrozenGenerator
from benchmarks.machine import describe, result_path
from rewards.gmcts import GMCTSSettings, run_trees
from rewards.gmcts_tree import Tree
from rlcore.chat import PromptFormatter
from rlcore.config import load_config
from rlcore.world.sentences import monolingual_rows

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = ("en", "de", "fr", "es")


def make_trees(num: int) -> list[Tree]:
    """`num` sources drawn round-robin from the world's monolingual corpora, each to the next language."""
    per_language = -(-num // len(LANGUAGES))
    rows = {lang: monolingual_rows(lang, per_language, seed=7) for lang in LANGUAGES}
    trees = []
    for i in range(num):
        src = LANGUAGES[i % len(LANGUAGES)]
        trees.append(Tree(rows[src][i // len(LANGUAGES)]["text"], src, LANGUAGES[(i + 1) % len(LANGUAGES)]))
    return trees


def timed_search(groups: list[list[Tree]], engines: tuple[Any, Any], settings: GMCTSSettings) -> dict[str, float]:
    """Search each group of trees in turn (one group of all trees: lockstep; one group per tree: one at a time)."""
    policy, reference = engines
    calls_before = policy.calls + reference.calls
    start = time.perf_counter()
    for group in groups:
        run_trees(group, policy, reference, settings, rng=random.Random(0))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "engine_calls": policy.calls + reference.calls - calls_before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="builtin:tiny-arith", help="e.g. runs/demo_translation_sft")
    parser.add_argument("--trees", type=int, default=16)
    parser.add_argument("--initial-samples", type=int, default=4)
    parser.add_argument("--expansions", type=int, default=4)
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    overrides = [f"model.path={args.model}", "data.chat_template=none", "rollout.kv_cache_gib=0.5"]
    config = load_config(ROOT / "configs" / "demo_trans_zero.yaml", overrides)
    settings = GMCTSSettings(
        initial_samples=args.initial_samples,
        expansions=args.expansions,
        depth=args.depth,
        bridge_languages=list(LANGUAGES),
    )
    runtime = Runtime(config, total_optimizer_steps=0, roles=("rollout", "reference_rollout"))
    try:
        prompts = PromptFormatter.for_model(config.model.path, "none")
        engines = (
            GeneratorTranslationEngine(runtime, prompts, max_tokens=48),
            GeneratorTranslationEngine(FrozenGenerator(runtime), prompts, max_tokens=48),
        )
        timed_search([make_trees(2)], engines, settings)  # warm-up: first calls compile and fill caches
        repeats = []
        for _ in range(args.repeats):
            lockstep = timed_search([make_trees(args.trees)], engines, settings)
            one_at_a_time = timed_search([[tree] for tree in make_trees(args.trees)], engines, settings)
            ratio = one_at_a_time["seconds"] / lockstep["seconds"]
            repeats.append({"lockstep": lockstep, "one_at_a_time": one_at_a_time, "speedup": ratio})
            print(
                f"lockstep {lockstep['seconds']:.1f}s ({lockstep['engine_calls']} calls), one tree at a time "
                f"{one_at_a_time['seconds']:.1f}s ({one_at_a_time['engine_calls']} calls): {ratio:.1f}x"
            )
    finally:
        runtime.shutdown()
    speedups = [r["speedup"] for r in repeats]
    result = {
        "benchmark": "gmcts_lockstep",
        "model": args.model,
        "settings": {"trees": args.trees, **settings.model_dump()},
        "repeats": repeats,
        "speedup_min": min(speedups),
        "speedup_max": max(speedups),
        "machine": describe(),
    }
    path = Path(args.out) if args.out else result_path("gmcts_lockstep")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"speed-up of lockstep over one tree at a time: {min(speedups):.1f}x to {max(speedups):.1f}x -> {path}")


if __name__ == "__main__":
    main()
