"""TRANS-ZERO end to end on the embedded world: real Ray, two vLLM groups (policy and frozen reference), DeepSpeed
learner, reference workers; a short self-play round that writes its pairs and trees, then resumes."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from algorithms import build_algorithm
from rlcore.checkpoint import CheckpointManager
from rlcore.config import load_config
from rlcore.metrics import read_metrics
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def trans_zero_config(tmp_path, model_path, *overrides):
    return load_config(
        ROOT / "configs" / "demo_trans_zero.yaml",
        [
            f"model.path={model_path}",
            f"run.output_dir={tmp_path}",
            "run.name=tz",
            "logging.progress=false",
            "algorithm.iterations=1",
            "algorithm.monolingual=builtin:world",
            "algorithm.monolingual_per_language=20",
            "algorithm.validation=builtin:world",
            # The shipped tiny model never learned to translate: it answers in the world's English arithmetic, which
            # lingua reads as English, so into-English trees give pairs (the world's lexicon would reject them all).
            "algorithm.source_languages=[de, fr]",
            "algorithm.target_languages=[en]",
            "algorithm.language_detector=lingua",
            "algorithm.validation_sentences=4",
            "algorithm.prompts_per_iteration=4",
            "algorithm.search.initial_samples=3",
            "algorithm.search.expansions=2",
            "algorithm.pairs_per_step=2",
            "algorithm.epochs=1",
            "learner.micro_batch_size=4",
            "rollout.max_tokens=24",
            "algorithm.max_tokens=24",
            "checkpoint.every_steps=1",
            "checkpoint.keep_last=20",
            *overrides,
        ],
    )


def test_a_self_play_round_writes_pairs_and_trees_and_resumes(ray_cluster, tiny_model_path, tmp_path):
    summary = build_algorithm(trans_zero_config(tmp_path, tiny_model_path)).run()
    run_dir, folder = tmp_path / "tz", tmp_path / "tz" / "iterations" / "iter_1"
    nodes = [json.loads(line) for line in (folder / "generations.jsonl").open()]
    # 4 trees, each a root, 3 initial samples and 2 expansions (a merge adds one node, as a mutation does)
    assert len(nodes) == 4 * (1 + 3 + 2) and {n["tree"] for n in nodes} == {0, 1, 2, 3}
    assert all(n["visits"] >= 1 for n in nodes)
    pairs = [json.loads(line) for line in (folder / "pairs.jsonl").open()]
    assert pairs and all(p["chosen"] != p["rejected"] and math.isfinite(p["ref_chosen_logp"]) for p in pairs)
    assert all(p["prompt"].startswith("Translate from ") for p in pairs)
    metrics = read_metrics(run_dir / "metrics.jsonl")
    assert "eval/chrf/fr-en" in metrics[0] and "eval/chrf/de-en" in summary["final"]
    qe = [metrics[0][f"eval/qe/{d}"] for d in ("de-en", "fr-en")]  # the tiny QE model, without references
    assert all(math.isfinite(score) for score in qe) and metrics[0]["eval/qe/mean"] == pytest.approx(sum(qe) / 2)
    report = json.loads((run_dir / "eval" / "initial.json").read_text())
    assert all(math.isfinite(row["qe"]) for row in report["translations"]["fr-en"])
    change = summary["changes"]["chrf/fr-en"]  # what run.seeds aggregates over seeds
    assert change["estimate"] == pytest.approx(summary["final"]["eval/chrf/fr-en"] - metrics[0]["eval/chrf/fr-en"])
    trained = [m for m in metrics if "train/loss" in m]
    assert trained and all(math.isfinite(m["train/loss"]) for m in trained)

    # Lose the final checkpoint: the run resumes inside the round with the stored pairs, not a new search.
    before = (folder / "pairs.jsonl").read_bytes()
    shutil.rmtree(CheckpointManager(run_dir, 1).path(trained[-1]["step"]))
    build_algorithm(trans_zero_config(tmp_path, tiny_model_path, "run.resume=true")).run()
    assert (folder / "pairs.jsonl").read_bytes() == before
