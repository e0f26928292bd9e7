"""PRM-guided inference on the embedded world with the shipped world PRM (builtin:tiny-prm) in a real reward
worker: `rlcore search`'s code runs pass@1, majority@k, best-of-k by the PRM and PRM-guided step search on the same
held-out questions, each search round one generate call and one PRM call for all open questions; and the PRM
scores world solutions' steps in a reward worker."""

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


def test_the_world_prm_scores_steps_in_a_reward_worker(ray_cluster, tmp_path):
    from actors.runtime import Runtime
    from rlcore.batch import Batch
    from rlcore.config import load_config
    from rlcore.world.labelled import labelled_rows
    from rlcore.world.tasks import generate_problems

    config = load_config(CONFIGS / "demo_prm_search.yaml", [f"run.output_dir={tmp_path}", "reward.critiques=2"])
    rows = labelled_rows(generate_problems("eval", 2, languages=["en", "de"]), seed=0, error_share=0.5)
    samples = [{"question": r["problem"], "prompt": r["problem"], "response_text": "\n".join(r["steps"])} for r in rows]
    runtime = Runtime(config, total_optimizer_steps=0, roles=("reward",))
    try:
        scored = runtime.score(Batch.from_rows(samples))
    finally:
        runtime.shutdown()
    scores = scored["rewards"].tolist()
    assert scored["reward_failed"].tolist() == [0.0] * len(rows)
    assert all(0.0 <= s <= 1.0 for s in scores)
    # The PRM's critiques reach the verdict line: the scores are its P(Yes), not the 0.5 of unscored steps.
    assert any(abs(s - 0.5) > 0.05 for s in scores), scores
