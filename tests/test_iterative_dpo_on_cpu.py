"""Iterative DPO end to end on the embedded world: real Ray, vLLM rollout, DeepSpeed learner, reference workers."""

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


def dpo_config(tmp_path, model_path, *overrides):
    return load_config(
        ROOT / "configs" / "demo_dpo_language_imbalance.yaml",
        [
            f"model.path={model_path}",
            f"run.output_dir={tmp_path}",
            "run.name=dpo",
            "logging.progress=false",
            "logging.tensorboard=false",
            "data.train_languages=[en, fr]",
            "data.eval_languages=[en, fr]",
            "data.eval_questions_per_language=8",
            "data.num_train_questions=100",
            "rollout.max_tokens=40",
            "algorithm.prompts_per_iteration=6",
            "algorithm.pairs_per_step=4",
            "learner.micro_batch_size=8",
            "checkpoint.every_steps=1",
            "checkpoint.keep_last=20",
            *overrides,
        ],
    )


def test_two_iterations_write_readable_data_and_resume_mid_iteration(ray_cluster, tiny_model_path, tmp_path):
    summary = build_algorithm(dpo_config(tmp_path, tiny_model_path, "algorithm.reference=initial")).run()
    run_dir = tmp_path / "dpo"
    for iteration in (1, 2):
        folder = run_dir / "iterations" / f"iter_{iteration}"
        pairs = [json.loads(line) for line in (folder / "pairs.jsonl").open()]
        assert pairs and all(p["chosen"] != p["rejected"] and math.isfinite(p["ref_chosen_logp"]) for p in pairs)
        assert {p["language"] for p in pairs} <= {"en", "fr"} and {p["side"] for p in pairs} <= {"dominant", "target"}
        generations = [json.loads(line) for line in (folder / "generations.jsonl").open()]
        assert {g["role"] for g in generations} == {"answer", "translation"}
    first = read_metrics(run_dir / "metrics.jsonl")
    trained = [m for m in first if "train/loss" in m]
    assert {m["iteration"] for m in trained} == {1.0, 2.0}
    assert all(math.isfinite(m["train/loss"]) for m in trained)
    assert "eval/accuracy/fr" in summary["final"]
    last_step = trained[-1]["step"]
    iteration_2 = [m["step"] for m in trained if m["iteration"] == 2.0]
    assert len(iteration_2) >= 2, "iteration 2 needs two steps for a mid-iteration resume"

    # Lose the final checkpoint: the run must resume inside iteration 2 with the same pairs and reference.
    pairs_file = run_dir / "iterations" / "iter_2" / "pairs.jsonl"
    before = pairs_file.read_bytes()
    shutil.rmtree(CheckpointManager(run_dir, 1).path(last_step))
    build_algorithm(dpo_config(tmp_path, tiny_model_path, "algorithm.reference=initial", "run.resume=true")).run()
    assert pairs_file.read_bytes() == before  # not regenerated
    after = read_metrics(run_dir / "metrics.jsonl")  # rows after the resumed checkpoint are dropped, then relogged
    assert [m for m in after if m["step"] < last_step] == [m for m in first if m["step"] < last_step]
    again = [m for m in after if "train/loss" in m and m["step"] >= last_step]
    assert [m["step"] for m in again] == [last_step]  # only the lost step was trained again, and logged once
    assert again[0]["train/loss"] == pytest.approx(trained[-1]["train/loss"], abs=1e-5)


def test_offline_dpo_on_a_pair_file(ray_cluster, tiny_model_path, tmp_path):
    from rlcore.world.tasks import generate_problems, to_records

    rows = to_records(generate_problems("train", 8, ["en"], seed=3))
    pair_file = tmp_path / "pairs.jsonl"
    pair_file.write_text(
        "".join(
            json.dumps({"prompt": r["prompt"], "chosen": r["solution"], "rejected": "The answer is 0."}) + "\n"
            for r in rows
        )
    )
    config = dpo_config(
        tmp_path,
        tiny_model_path,
        "run.name=offline",
        f"algorithm.pair_file={pair_file}",
        "algorithm.iterations=1",
        "algorithm.epochs=2",
        "algorithm.reference=previous",
        "eval.at_start=false",
        "learner.lr=1e-3",
    )
    build_algorithm(config).run()
    run_dir = tmp_path / "offline"
    assert not (run_dir / "iterations" / "iter_1" / "generations.jsonl").read_text()  # nothing generated
    trained = [m for m in read_metrics(run_dir / "metrics.jsonl") if "train/loss" in m]
    assert len(trained) == 4  # 8 pairs x 2 epochs / 4 pairs per step
    assert trained[0]["train/rewards/margin"] == pytest.approx(0.0, abs=1e-6)  # π = π_ref at the start
    assert trained[-1]["train/rewards/margin"] > 0  # and the chosen responses pull ahead
