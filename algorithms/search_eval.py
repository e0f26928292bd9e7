"""Inference-time scaling on held-out questions (METHODS.md §4b), `rlcore search CONFIG checkpoint=PATH`: the same
questions answered by pass@1 (greedy), majority vote over N samples, best-of-N by the run's reward (a process
reward model aggregating its step scores: `reward: {name: rprm, ...}`), and step-level search guided by the
config's step judge (`algorithm.judge`: `prm` for the PRM) — each accuracy with its 95% interval."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from actors.runtime import Runtime
from actors.step_search import SearchSettings, step_search
from algorithms.checkpoint_eval import report_path
from rewards.step_judge import StepJudgeBase
from rlcore.batch import Batch
from rlcore.chat import PromptFormatter
from rlcore.config import ConfigError, RunConfig
from rlcore.data import DataError, load_eval_rows
from rlcore.grading import final_answer, grade_answers, normalize_answers
from rlcore.modeling import resolve_model_path
from rlcore.stats import wilson_interval
from rlcore.steps import JudgeContext, build_step_judge


def graded(texts: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[bool]:
    """Whether each text's final answer is its row's gold answer."""
    return grade_answers([final_answer(t) for t in texts], [r["answer"] for r in rows], [r["language"] for r in rows])


def accuracy(correct: Sequence[bool]) -> dict[str, float]:
    """Accuracy with its 95% Wilson interval."""
    interval = wilson_interval(sum(correct), len(correct))
    return {"accuracy": sum(correct) / len(correct), "low": interval.low, "high": interval.high, "n": len(correct)}


def majority_vote(texts: Sequence[str], rows: Sequence[dict[str, Any]], n: int) -> tuple[list[bool], list[bool]]:
    """(majority-vote correctness per question, correctness per sample) of n samples per row (in row order); samples
    without an answer do not vote, and answers that grade equal vote together."""
    answers = [final_answer(t) for t in texts]
    keys = normalize_answers(answers, [r["language"] for r in rows for _ in range(n)])
    per_sample = graded(texts, [r for r in rows for _ in range(n)])
    votes = []
    for q in range(len(rows)):
        counted = Counter(key for key in keys[q * n : (q + 1) * n] if key is not None)
        if not counted:
            votes.append(False)
            continue
        winner = counted.most_common(1)[0][0]
        votes.append(next(per_sample[q * n + j] for j in range(n) if keys[q * n + j] == winner))
    return votes, per_sample


def best_of_n(rewards: Sequence[float], per_sample: Sequence[bool], n: int) -> list[bool]:
    """Per question, the correctness of its highest-reward sample (the first of equals)."""
    scores = np.asarray(rewards, dtype=np.float64).reshape(-1, n)
    return [per_sample[q * n + int(np.argmax(row))] for q, row in enumerate(scores)]


def search_checkpoint(config: RunConfig, checkpoint: str, output: str | Path | None = None) -> dict[str, Any]:
    """Every method on the config's held-out questions with `checkpoint` as the policy; writes the JSON report into
    the run directory (or `output`) and prints a table."""
    cfg: Any = config.algorithm
    if not hasattr(cfg, "search_settings"):
        raise ConfigError(f"algorithm {cfg.name!r} has no search settings; use algorithm.name=stepwise_dpo")
    path = report_path(config, checkpoint, output)
    if output is None:  # beside `rlcore eval`'s report of the same checkpoint
        path = path.with_name(f"search_{Path(checkpoint.replace(':', '_')).name}.json")
    prompts = PromptFormatter.for_model(config.model.path, config.data.chat_template)
    rows = prompts.with_prompt_ids(load_eval_rows(config.data))
    if not rows:
        raise DataError("no held-out rows: set data.eval_source (or use data.source=builtin:arith)")
    settings: SearchSettings = cfg.search_settings(config)
    temperature = settings.temperature  # the N samples of majority vote and best-of-N sample as the search does
    n, max_tokens = settings.candidates, config.eval.max_tokens or config.rollout.max_tokens
    runtime = Runtime(
        config, total_optimizer_steps=0, policy_path=resolve_model_path(checkpoint), roles=("rollout", "reward")
    )
    seconds: dict[str, float] = {}
    try:
        batch = Batch.from_rows([{"prompt_ids": r["prompt_ids"]} for r in rows])
        started = time.perf_counter()
        greedy = runtime.generate(batch, n=1, sampling={"temperature": 0.0, "max_tokens": max_tokens})
        seconds["greedy"] = time.perf_counter() - started
        started = time.perf_counter()
        sampled = runtime.generate(batch, n=n, sampling={"temperature": temperature, "max_tokens": max_tokens})
        texts = [str(t) for t in sampled["response_text"]]
        votes, per_sample = majority_vote(texts, rows, n)
        seconds["sampling"] = time.perf_counter() - started
        started = time.perf_counter()
        repeated = [r for r in rows for _ in range(n)]
        scored = runtime.score(
            Batch.from_rows([{**r, "response_text": t} for r, t in zip(repeated, texts, strict=True)])
        )
        chosen = best_of_n(scored["rewards"].tolist(), per_sample, n)
        seconds["best_of_n_scoring"] = time.perf_counter() - started
        judge = build_step_judge(
            cfg.judge.model_dump(), JudgeContext(runtime, prompts, config.rollout.max_model_len, scorer=runtime)
        )
        started = time.perf_counter()
        paths, stats = step_search(runtime, judge, rows, settings)
        seconds["step_search"] = time.perf_counter() - started
    finally:
        runtime.shutdown()
    methods = {
        "pass@1 greedy": accuracy(graded([str(t) for t in greedy["response_text"]], rows)),
        f"pass@1 sampled (mean of {n})": accuracy(per_sample),
        f"majority@{n}": accuracy(votes),
        f"best-of-{n} by reward {config.reward.name}": accuracy(chosen),
        f"step search@{n} by judge {cfg.judge.name}": accuracy(
            graded([p.text(settings.delimiter) for p in paths], rows)
        ),
    }
    report = {
        "checkpoint": checkpoint,
        "questions": len(rows),
        "methods": methods,
        "search": {
            "rounds": stats.rounds,
            "generate_calls": stats.generate_calls,
            "judge_calls": stats.judge_calls,
            "finish": dict(Counter(p.finish for p in paths)),
            **(judge.stats() if isinstance(judge, StepJudgeBase) else {}),
        },
        "seconds": seconds,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'method':<44} accuracy [95%]")
    for name, value in methods.items():
        print(f"{name:<44} {100 * value['accuracy']:5.1f} [{100 * value['low']:.1f}, {100 * value['high']:.1f}]")
    print(f"report: {path}")
    return report
