"""PRM-guided inference on the embedded world with the shipped world PRM (builtin:tiny-prm) in a real reward
worker: `rlcore search`'s code runs pass@1, majority@k, best-of-k by the PRM and PRM-guided step search on the same
held-out questions, each search round one generate call and one PRM call for all open questions; and the PRM
scores a correct solution above the same solution with an arithmetic slip."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_prm_guided_search_best_of_n_and_majority_on_the_same_questions(ray_cluster, tmp_path):
    from algorithms.search_eval import search_checkpoint
    from rlcore.config import load_config

    config = load_config(
        CONFIGS / "demo_prm_search.yaml",
        [
            f"run.output_dir={tmp_path}",
            "data.eval_languages=[en, fr]",
            "data.eval_questions_per_language=6",
            "algorithm.candidates=4",
            "reward.critiques=2",
        ],
    )
    report = search_checkpoint(config, "builtin:tiny-arith")
    search, methods = report["search"], report["methods"]
    assert report["questions"] == 12
    assert search["rounds"] >= 2 and search["generate_calls"] == search["judge_calls"] == search["rounds"]
    assert search["judge/score_calls"] == search["rounds"]  # one PRM call per round for all open questions
    assert set(methods) == {
        "pass@1 greedy",
        "pass@1 sampled (mean of 4)",
        "majority@4",
        "best-of-4 by reward rprm",
        "step search@4 by judge prm",
    }
    assert all(0 <= m["accuracy"] <= 1 and m["n"] == (48 if "mean of" in name else 12) for name, m in methods.items())
    assert (tmp_path / "demo_prm_search" / "eval" / "search_builtin_tiny-arith.json").is_file()


def test_the_world_prm_scores_a_slip_below_the_right_step(ray_cluster, tmp_path):
    from actors.runtime import Runtime
    from rlcore.batch import Batch
    from rlcore.config import load_config

    config = load_config(CONFIGS / "demo_prm_search.yaml", [f"run.output_dir={tmp_path}", "reward.critiques=4"])
    question = "Tom has 7 apples. He buys 5 more apples. How many apples does Tom have now?"
    steps = [("7 plus 5 is 12.", True), ("7 plus 5 is 13.", False), ("7 plus 5 is 11.", False)]
    runtime = Runtime(config, total_optimizer_steps=0, roles=("reward",))
    try:
        rows = [{"prompt": question, "response_text": step, "prm_previous_steps": []} for step, _ in steps]
        scores = runtime.score(Batch.from_rows(rows))["rewards"].tolist()
    finally:
        runtime.shutdown()
    right, *slips = scores
    assert right > 0.5 > max(slips), scores
