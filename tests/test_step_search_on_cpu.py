"""Batched step-level search on real vLLM rollout workers with the world's rule-based step checker as judge."""

from __future__ import annotations

import pytest

import rewards.world_steps  # noqa: F401  registers world_steps before `pip install -e .` refreshes entry points
from rlcore.batch import Batch
from rlcore.chat import PromptFormatter
from rlcore.data import load_eval_rows
from rlcore.grading import is_correct
from rlcore.steps import build_step_judge, join_prefix
from tests.conftest import tiny_run_config

pytestmark = pytest.mark.integration


def test_batched_step_search_on_the_embedded_world(ray_cluster, tiny_model_path, tmp_path):
    from actors.runtime import Runtime
    from actors.step_search import SearchSettings, step_search

    config = tiny_run_config(tmp_path, tiny_model_path, "data.eval_questions_per_language=3")
    prompts = PromptFormatter.for_model(tiny_model_path)
    rows = prompts.with_prompt_ids(load_eval_rows(config.data))  # 3 questions in en and fr
    judge = build_step_judge({"name": "world_steps"})
    calls, judged = [], []

    class Recorded:
        def generate(self, batch: Batch, n: int, sampling=None) -> Batch:
            calls.append([list(ids) for ids in batch["prompt_ids"]])
            return runtime.generate(batch, n=n, sampling=sampling)

        def score_steps(self, queries):
            judged.append((queries, judge.score_steps(queries)))
            return judged[-1][1]

    settings = SearchSettings(candidates=4, max_steps=4, delimiter="\n", step_max_tokens=24)
    runtime = Runtime(config, total_optimizer_steps=0, roles=("rollout",))
    try:
        paths, stats = step_search(Recorded(), Recorded(), rows, settings)
    finally:
        runtime.shutdown()

    # One generate call and one judge call per round, for all open questions together.
    assert stats.rounds == stats.generate_calls == stats.judge_calls == len(calls) == len(judged) >= 2
    assert stats.open_per_round[0] == len(rows) and stats.open_per_round == [len(c) for c in calls]
    for path in paths:
        assert path.finish in ("answer", "end", "step_limit") and 1 <= len(path.steps) <= settings.max_steps
        if path.finish == "answer" and min(path.scores) == 1.0:  # every step checked right: the answer is right
            assert is_correct(path.text("\n"), path.row["answer"], path.row["language"])
    tokenizer = prompts.tokenizer
    for round_index, (round_prompts, (queries, scores)) in enumerate(zip(calls, judged, strict=True)):
        open_paths = [p for p in paths if len(p.steps) > round_index]
        assert [q.row["id"] + q.row["language"] for q in queries] == [
            p.row["id"] + p.row["language"] for p in open_paths
        ]
        for path, prompt_ids, query, candidate_scores in zip(open_paths, round_prompts, queries, scores, strict=True):
            # the prompt is the question's ids followed by the accepted steps' own tokens
            own = list(path.row["prompt_ids"])
            assert prompt_ids[: len(own)] == own
            assert tokenizer.decode(prompt_ids[len(own) :]) == join_prefix(path.steps[:round_index], "\n")
            assert query.prefix == tuple(path.steps[:round_index]) and len(query.candidates) == 4
            assert path.scores[round_index] == max(candidate_scores)  # the best candidate is kept
            assert path.steps[round_index] in query.candidates
