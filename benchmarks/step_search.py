"""Step-level search on the embedded world with the tiny model: judge-guided search (k candidates per step, the
world's rule-based step checker as judge) against majority vote over k samples and pass@1, on the same held-out
questions; and the batched search's engine calls per round and speed-up over searching one question at a time.

    PYTHONPATH=. .venv/bin/python benchmarks/step_search.py [--per-language 50 --k 8 --sequential 12]

Writes benchmarks/results/step_search/<date>.json. The rule checker knows each question's operations (from the gold
steps), so its search accuracy is what a perfect process reward model would give, an upper bound for learned ones.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import rewards.world_steps  # noqa: F401  registers world_steps before `pip install -e .` refreshes entry points
from actors.runtime import Runtime
from actors.step_search import SearchSettings, step_search
from algorithms.search_eval import accuracy, graded, majority_vote
from benchmarks.machine import describe, result_path
from rlcore.batch import Batch
from rlcore.chat import PromptFormatter
from rlcore.config import load_config
from rlcore.data import load_eval_rows
from rlcore.steps import build_step_judge

ROOT = Path(__file__).resolve().parents[1]


class CountingGenerator:
    """The runtime's generate verb, counted and timed."""

    def __init__(self, runtime: Runtime):
        self.runtime, self.calls, self.seconds = runtime, 0, 0.0

    def generate(self, prompts: Batch, n: int, sampling: dict[str, Any] | None = None) -> Batch:
        start = time.perf_counter()
        out = self.runtime.generate(prompts, n=n, sampling=sampling)
        self.calls, self.seconds = self.calls + 1, self.seconds + time.perf_counter() - start
        return out


class CountingJudge:
    """The judge, with the share of candidates it accepted (score 1) and of choices where none was accepted."""

    def __init__(self, judge: Any):
        self.judge, self.candidates, self.accepted, self.choices, self.none_right = judge, 0, 0, 0, 0

    def score_steps(self, queries: list[Any]) -> list[list[float]]:
        scores = self.judge.score_steps(queries)
        for row in scores:
            self.candidates, self.accepted = self.candidates + len(row), self.accepted + sum(s == 1.0 for s in row)
            self.choices, self.none_right = self.choices + 1, self.none_right + (max(row) < 1.0)
        return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-language", type=int, default=50, help="held-out questions per language")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument("--step-max-tokens", type=int, default=24)
    parser.add_argument("--temperature", type=float, default=1.0, help="of the search's candidates and the k samples")
    parser.add_argument("--max-tokens", type=int, default=48, help="whole-solution budget of pass@1 and majority")
    parser.add_argument("--sequential", type=int, default=12, help="questions searched one at a time for the timing")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    overrides = [f"data.eval_questions_per_language={args.per_language}", "run.output_dir=/tmp/rlcore-step-search"]
    config = load_config(ROOT / "configs" / "demo_grpo.yaml", overrides)
    rows = PromptFormatter.for_model(config.model.path, config.data.chat_template).with_prompt_ids(
        load_eval_rows(config.data)
    )
    judge = CountingJudge(build_step_judge({"name": "world_steps"}))
    settings = SearchSettings(args.k, args.max_steps, "\n", args.step_max_tokens, args.temperature)
    runtime = Runtime(config, total_optimizer_steps=0, roles=("rollout",))
    try:
        prompts = Batch.from_rows([{"prompt_ids": r["prompt_ids"]} for r in rows])
        greedy = runtime.generate(prompts, n=1, sampling={"temperature": 0.0, "max_tokens": args.max_tokens})
        sampled = runtime.generate(
            prompts, n=args.k, sampling={"temperature": args.temperature, "max_tokens": args.max_tokens}
        )
        votes, per_sample = majority_vote([str(t) for t in sampled["response_text"]], rows, args.k)

        generator = CountingGenerator(runtime)
        start = time.perf_counter()
        paths, stats = step_search(generator, judge, rows, settings)
        batched_s = time.perf_counter() - start
        candidates_right = {
            "share_of_candidates": judge.accepted / judge.candidates,
            "choices_without_a_right_candidate": judge.none_right / judge.choices,
        }
        subset = rows[: args.sequential]
        start = time.perf_counter()
        step_search(generator, judge, subset, settings)
        subset_batched_s = time.perf_counter() - start
        start, calls_before = time.perf_counter(), generator.calls
        one_at_a_time = [step_search(generator, judge, [row], settings)[1] for row in subset]
        sequential_s = time.perf_counter() - start
        sequential_calls = generator.calls - calls_before
    finally:
        runtime.shutdown()

    result = {
        "benchmark": "step_search",
        "machine": describe(),
        "settings": vars(args)
        | {"questions": len(rows), "languages": config.data.eval_languages, "judge": "world_steps"},
        "pass@1_greedy": accuracy(graded(list(greedy["response_text"]), rows)),
        "pass@1_sampled": accuracy(per_sample),
        f"majority@{args.k}": accuracy(votes),
        f"step_search@{args.k}": accuracy(graded([p.text("\n") for p in paths], rows)),
        "search_finish": dict(Counter(p.finish for p in paths)),
        "search_candidates_right": candidates_right,
        "batched": {
            "rounds": stats.rounds,
            "generate_calls": stats.generate_calls,
            "judge_calls": stats.judge_calls,
            "generate_calls_per_round": stats.generate_calls / stats.rounds,
            "open_questions_per_round": stats.open_per_round,
            "seconds": batched_s,
            "questions_per_s": len(rows) / batched_s,
        },
        "speedup": {
            "questions": len(subset),
            "batched_s": subset_batched_s,
            "one_at_a_time_s": sequential_s,
            "one_at_a_time_generate_calls": sequential_calls,
            "one_at_a_time_rounds": sum(s.rounds for s in one_at_a_time),
            "speedup": sequential_s / subset_batched_s,
        },
    }
    path = Path(args.out) if args.out else result_path("step_search")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({key: value for key, value in result.items() if key != "machine"}, indent=2))
    print(f"result: {path}")


if __name__ == "__main__":
    main()
