"""TRANS-ZERO's data, as pure functions: monolingual sources and held-out parallel sets (files or the embedded
world), the target language of each tree, G-MCTS pairs as DPO rows, the trees' nodes as readable rows, and the
per-direction validation scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.trans_zero_config import BUILTIN_WORLD, TransZeroConfig
from rewards.gmcts_tree import Tree
from rlcore.chat import PromptFormatter
from rlcore.data import DataError
from rlcore.pair_files import read_jsonl
from rlcore.translation import translation_prompt
from rlcore.translation_metrics import corpus_score

Direction = tuple[str, str]


def load_monolingual(cfg: TransZeroConfig, seed: int) -> list[dict[str, Any]]:
    """{id, language, text} rows: `monolingual_per_language` per source language."""
    rows: list[dict[str, Any]] = []
    for lang in cfg.source_languages:
        if cfg.monolingual == BUILTIN_WORLD:
            from rlcore.world.sentences import monolingual_rows

            rows += monolingual_rows(lang, cfg.monolingual_per_language, seed)
            continue
        path = Path(cfg.monolingual.format(lang=lang))
        if not path.exists():
            raise DataError(f"algorithm.monolingual: not found: {path}")
        found = read_jsonl(path)[: cfg.monolingual_per_language]
        rows += [
            {"id": row.get("id", f"{lang}-{i}"), "language": lang, "text": row["text"]} for i, row in enumerate(found)
        ]
    if not rows:
        raise DataError("algorithm.monolingual: no source sentences")
    return rows


def load_validation(cfg: TransZeroConfig) -> dict[Direction, list[dict[str, Any]]]:
    """Per validated direction, its first `validation_sentences` rows {source, reference}."""
    directions, count = cfg.eval_directions(), cfg.validation_sentences
    if cfg.validation == BUILTIN_WORLD:
        from rlcore.world.sentences import parallel_test_rows

        languages = sorted({lang for direction in directions for lang in direction})
        world = parallel_test_rows(count, cfg.validation_seed, languages)
        return {direction: world[direction] for direction in directions}
    sets = {}
    for src, trg in directions:
        path = Path(cfg.validation.format(src=src, trg=trg))
        if not path.exists():
            raise DataError(f"algorithm.validation: not found: {path}")
        sets[(src, trg)] = read_jsonl(path)[:count]
    return sets


def assign_targets(rows: Sequence[Mapping[str, Any]], targets: Sequence[str], seed: int, iteration: int) -> list[str]:
    """A target language per source row, uniform over `targets` without the row's own language; seeded by (seed,
    iteration) so that a resumed run builds the same trees."""
    rng = np.random.default_rng([seed, iteration])
    out = []
    for row in rows:
        choices = [lang for lang in targets if lang != row["language"]]
        out.append(choices[int(rng.integers(len(choices)))])
    return out


def pair_rows(pairs: Sequence[Mapping[str, Any]], prompts: PromptFormatter) -> list[dict[str, Any]]:
    """extract_pairs' dicts as DPO rows: the translation prompt (encoded as search and warm start encode it), chosen
    and rejected with their token ids (the response + EOS, as SFT taught the model to end a translation)."""
    rows = []
    for pair in pairs:
        prompt = translation_prompt(pair["source"], pair["src"], pair["trg"])
        rows.append(
            {
                "prompt": prompt,
                **pair,
                "prompt_ids": list(prompts.encode(prompt).ids),
                "chosen_ids": prompts.response_ids(pair["chosen"]),
                "rejected_ids": prompts.response_ids(pair["rejected"]),
            }
        )
    return rows


def node_rows(trees: Sequence[Tree]) -> list[dict[str, Any]]:
    """Every node of every tree (the root holds the source) with its statistics, for iterations/iter_t/."""
    return [
        {
            "tree": index,
            "node": node.order,
            "parent": None if node.parent is None else node.parent.order,
            "src": tree.src,
            "trg": tree.trg,
            "text": node.translation,
            "recon": node.recon,
            "value": node.value,
            "visits": node.visits,
            "mean_value": node.mean_value,
        }
        for index, tree in enumerate(trees)
        for node in tree.nodes
    ]


def direction_scores(
    sets: Mapping[Direction, Sequence[Mapping[str, Any]]], hypotheses: Mapping[Direction, Sequence[str]]
) -> dict[str, float]:
    """`eval/chrf/<src>-<trg>`, `eval/bleu/<src>-<trg>` (corpus scores in [0, 1]) and their means over directions."""
    metrics: dict[str, float] = {}
    for metric in ("chrf", "bleu"):
        scores = []
        for (src, trg), rows in sets.items():
            score = corpus_score(metric, hypotheses[(src, trg)], [row["reference"] for row in rows])
            metrics[f"eval/{metric}/{src}-{trg}"] = score
            scores.append(score)
        metrics[f"eval/{metric}/mean"] = float(np.mean(scores)) if scores else 0.0
    return metrics
