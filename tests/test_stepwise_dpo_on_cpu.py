"""One step-wise DPO iteration on the embedded world: real Ray, vLLM rollout, DeepSpeed learner; then the policy
judges candidate steps itself through the same engine."""

from __future__ import annotations

import json
import math

import pytest

import algorithms.stepwise_dpo  # noqa: F401  registers stepwise_dpo before `pip install -e .` adds its entry point
import rewards.policy_judge  # noqa: F401  likewise policy_judge (world_steps: by check_step's import)
from algorithms import build_algorithm
from rewards.world_steps import check_step
from rlcore.config import load_config
from rlcore.metrics import read_metrics
from rlcore.steps import JudgeContext, StepQuery, build_step_judge, split_steps
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_one_iteration_searches_pairs_steps_trains_and_the_policy_judges(ray_cluster, tiny_model_path, tmp_path):
    from actors.runtime import Runtime

    config = load_config(
        ROOT / "configs" / "demo_stepwise_dpo.yaml",
        [
            f"model.path={tiny_model_path}",
            f"run.output_dir={tmp_path}",
            "run.name=stepwise",
            "logging.progress=false",
            "logging.tensorboard=false",
            "logging.plots=false",
            "data.train_languages=[en, fr]",
            "data.eval_languages=[en, fr]",
            "data.eval_questions_per_language=8",
            "data.num_train_questions=100",
            "algorithm.prompts_per_iteration=6",
            "algorithm.candidates=4",
            "algorithm.max_steps=3",
            "algorithm.pairs_per_step=8",
            "learner.micro_batch_size=8",
        ],
    )
    algorithm = build_algorithm(config)
    runtime = Runtime(config, total_optimizer_steps=algorithm.optimizer_steps(), need_reference=False)
    try:
        summary = algorithm.run(runtime)
        judge = build_step_judge(
            {"name": "policy_judge", "mode": "pairwise", "max_tokens": 8},
            JudgeContext(runtime, algorithm.prompts, config.rollout.max_model_len),
        )
        queries = [
            StepQuery("2 plus 3?", (), ("2 plus 3 is 5.", "2 plus 3 is 6.", "x")),
            StepQuery("1?", (), ("a", "b")),
        ]
        scores = judge.score_steps(queries)
    finally:
        runtime.shutdown()

    folder = tmp_path / "stepwise" / "iterations" / "iter_1"
    pairs = [json.loads(line) for line in (folder / "pairs.jsonl").open()]
    rows = {(row["id"], row["language"]): row for row in algorithm.sampler.rows}
    assert pairs and all(math.isfinite(p["ref_chosen_logp"]) for p in pairs)
    for pair in pairs:  # the prompt is the question + the accepted prefix; the checker prefers chosen
        row, prefix = rows[(pair["id"], pair["language"])], split_steps(pair["prefix"], "\n")
        assert len(prefix) == pair["step"] and pair["prompt_ids"][: len(row["prompt_ids"])] == row["prompt_ids"]
        assert (pair["chosen_score"], pair["rejected_score"]) == (1.0, 0.0)
        assert check_step(row, prefix, pair["chosen"]) and not check_step(row, prefix, pair["rejected"])
    searched = [json.loads(line) for line in (folder / "generations.jsonl").open()]
    assert len(searched) == 6 and all(1 <= len(s["rounds"]) <= 3 for s in searched)
    trained = [m for m in read_metrics(tmp_path / "stepwise" / "metrics.jsonl") if "train/loss" in m]
    assert trained and all(math.isfinite(m["train/loss"]) for m in trained)
    assert trained[0]["pairs/count"] == len(pairs) and trained[0]["pairs/search_rounds"] >= 1
    assert "eval/accuracy/fr" in summary["final"] and "eval/accuracy/fr" in summary["initial"]
    # the policy as judge: 6 + 2 comparisons in one generate call on the trained engine, every score in [0, 1]
    assert [len(s) for s in scores] == [3, 2] and all(0.0 <= s <= 1.0 for row in scores for s in row)
    assert judge.stats()["judge/generate_calls"] == 1.0 and judge.stats()["judge/prompts"] == 8.0
