"""The R-PRM trained on the embedded world (configs/demo_prm_sft.yaml), measured three ways:

1. ProcessBench-style first-error F1 on held-out labelled solutions, against the length-only baseline (fitted on
   training solutions);
2. inference-time scaling of the tiny policy on held-out questions: pass@1, majority@k, best-of-k by the PRM, and
   PRM-guided step search with k candidates per step (`rlcore search`'s code);
3. PRM scoring throughput, steps scored per second, with all K critiques of all steps batched through the vLLM
   engine against one critique request at a time (3 repetitions on the same steps).

    python -m rlcore.world.critiques runs/prm_data --problems 1000 --heldout 50
    rlcore train configs/demo_prm_sft.yaml
    PYTHONPATH=. .venv/bin/python benchmarks/prm_world.py --prm runs/demo_prm_sft [--per-language 50 --k 8]

Writes benchmarks/results/prm_world/<date>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import ray

from actors.runtime import Runtime
from algorithms.prm_eval import length_baseline_f1, processbench_f1
from algorithms.search_eval import search_checkpoint
from benchmarks.machine import describe, result_path
from rlcore.cluster import actor_env, init_ray
from rlcore.config import RunConfig, load_config
from rlcore.processbench import LabeledSolution, read_processbench
from rlcore.steps import JudgeContext, build_step_judge
from rlcore.world.labelled import labelled_rows
from rlcore.world.tasks import generate_problems

ROOT = Path(__file__).resolve().parents[1]


def prm_reward(prm: str, k: int, temperature: float, seed: int) -> str:
    return (
        f"reward={{name: rprm, model_path: {prm}, template: compact, chat_template: none, critiques: {k}, "
        f"temperature: {temperature}, top_p: 0.95, max_critique_tokens: 96, max_model_len: 256, delimiter: '\\n', "
        f"seed: {seed}}}"
    )


def run_config(args: argparse.Namespace) -> RunConfig:
    overrides = [
        f"data.eval_questions_per_language={args.per_language}",
        "run.output_dir=/tmp/rlcore-prm-world",
        "run.name=search",
        "algorithm.name=stepwise_dpo",
        f"algorithm.candidates={args.k}",
        f"algorithm.max_steps={args.max_steps}",
        "algorithm.delimiter='\\n'",
        f"algorithm.step_max_tokens={args.step_max_tokens}",
        f"algorithm.temperature={args.temperature}",
        "algorithm.judge={name: prm}",
        f"eval.max_tokens={args.max_tokens}",
        prm_reward(args.prm, args.critiques, args.critique_temperature, args.prm_seed),
    ]
    return load_config(ROOT / "configs" / "demo_stepwise_dpo.yaml", overrides)


def first_error_f1(config: RunConfig, args: argparse.Namespace) -> dict[str, Any]:
    heldout = read_processbench(args.heldout)
    rows = labelled_rows(generate_problems("train", args.baseline_problems, seed=0), 0)
    train = [LabeledSolution(r["id"], r["problem"], tuple(r["steps"]), r["label"]) for r in rows]
    runtime = Runtime(config, total_optimizer_steps=0, roles=("reward",))
    try:
        started = time.perf_counter()
        judge = build_step_judge({"name": "prm"}, JudgeContext(scorer=runtime))
        prm = processbench_f1(judge, heldout)
        seconds = time.perf_counter() - started
    finally:
        runtime.shutdown()
    steps = sum(len(s.steps) for s in heldout)
    return {
        "solutions": len(heldout),
        "erroneous": sum(s.label >= 0 for s in heldout),
        "prm": {key: prm[key] for key in prm if key not in ("predicted", "scores")},
        "length_only_baseline": length_baseline_f1(train, heldout),
        "steps_scored": steps,
        "seconds": seconds,
    }


def _throughput(reward: dict[str, Any], steps: list[tuple[str, tuple[str, ...], str]], repeats: int) -> dict:
    from rewards.rprm import RPRM, RPRMConfig, StepItem

    config = RPRMConfig.model_validate(reward)
    prm = RPRM(config)
    items = [StepItem(*step) for step in steps]
    prm.score_items(items[:2])  # warm-up: the engine's first call compiles and allocates
    runs: dict[str, list[float]] = {"batched": [], "one_at_a_time": []}
    calls: dict[str, int] = {}
    for _ in range(repeats):
        for mode in runs:
            prm.config = config.model_copy(update={"batched": mode == "batched"})
            before = prm.engine.calls
            started = time.perf_counter()
            prm.score_items(items)
            runs[mode].append(len(items) / (time.perf_counter() - started))
            calls[mode] = prm.engine.calls - before
    return {"steps_per_s": runs, "engine_calls_per_pass": calls}


def throughput(config: RunConfig, args: argparse.Namespace) -> dict[str, Any]:
    heldout = read_processbench(args.heldout)
    steps = [(s.problem, tuple(s.steps[:i]), s.steps[i]) for s in heldout for i in range(len(s.steps))]
    steps = steps[: args.throughput_steps]
    reward = config.reward.model_dump()
    init_ray(config.cluster)
    env = actor_env(config.cluster.torch_threads, reward_env(config))
    task = ray.remote(num_cpus=1, runtime_env={"env_vars": env})(_throughput)
    measured = ray.get(task.remote(reward, steps, args.repeats))
    batched, single = measured["steps_per_s"]["batched"], measured["steps_per_s"]["one_at_a_time"]
    ratios = [b / s for b, s in zip(batched, single, strict=True)]
    return measured | {"steps": len(steps), "critiques_per_step": args.critiques, "speedup": ratios}


def reward_env(config: RunConfig) -> dict[str, str]:
    return dict(getattr(config.reward, "worker_env", dict)())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prm", required=True, help="the trained PRM: a run dir or a model dir")
    parser.add_argument("--heldout", default="runs/prm_data/processbench_heldout.jsonl")
    parser.add_argument("--baseline-problems", type=int, default=500, help="training problems for the baseline fit")
    parser.add_argument("--per-language", type=int, default=50, help="held-out questions per language (search)")
    parser.add_argument("--k", type=int, default=8, help="candidates per step; samples for majority and best-of")
    parser.add_argument("--critiques", type=int, default=4, help="K: critiques per step")
    parser.add_argument("--critique-temperature", type=float, default=0.95, help="of the PRM's critiques")
    parser.add_argument("--prm-seed", type=int, default=0, help="the PRM engine's sampling seed (runs differ by it)")
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument("--step-max-tokens", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=48, help="whole-solution budget of sampled answers")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--throughput-steps", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=["f1", "search", "throughput"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    config = run_config(args)
    result: dict[str, Any] = {"benchmark": "prm_world", "machine": describe(), "settings": vars(args)}
    if "f1" not in args.skip:
        result["processbench"] = first_error_f1(config, args)
        print(json.dumps(result["processbench"], indent=2))
    if "search" not in args.skip:
        result["search"] = search_checkpoint(config, "builtin:tiny-arith", "/tmp/rlcore-prm-world/search.json")
    if "throughput" not in args.skip:
        result["throughput"] = throughput(config, args)
        print(json.dumps(result["throughput"], indent=2))
    path = Path(args.out) if args.out else result_path("prm_world")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"result: {path}")


if __name__ == "__main__":
    main()
