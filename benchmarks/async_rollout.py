"""Asynchronous rollout: GRPO steps/s of the demo config with rollout.async_steps 0 (on-policy) and 1 (one step
off: generation of step t+1 overlaps training of step t), side by side in one run.

    PYTHONPATH=. .venv/bin/python benchmarks/async_rollout.py [--steps 12 --reps 3 --settings 0 1 1@1]

A setting is `k` (rollout.async_steps k, the demo's cluster.torch_threads) or `k@t` (and torch_threads t: with
generation and training at the same time, two threads per actor put four busy threads on two cores). Each repeat
trains configs/demo_grpo.yaml for `--steps` steps once per setting, the settings taking turns so that
load from other work on the machine falls on both alike; evaluation, checkpoints, plots and TensorBoard are off.
Every run starts its own workers on one local Ray cluster. steps/s is over the steps after the first (which
includes warm-ups), from each step's `time/step_s`; the phase times say where a step's time went (with async_steps
1, `generate` is the wait for a generation started a step earlier and `sync` includes the wait for the generation
in flight). Writes one run's result, with the machine, to benchmarks/results/async_rollout/<date>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from algorithms import build_algorithm
from benchmarks.machine import describe, result_path
from benchmarks.workloads import QUIET
from rlcore.cluster import init_ray
from rlcore.config import load_config
from rlcore.metrics import read_metrics

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("generate", "reward", "train", "sync")


def one_run(setting: str, steps: int, output_dir: Path, seed: int) -> dict:
    """Train the demo for `steps` steps with `setting`; its steps/s and mean phase seconds after step 1."""
    async_steps, _, threads = setting.partition("@")
    name = f"async_{setting}"
    config = load_config(
        ROOT / "configs" / "demo_grpo.yaml",
        [
            f"run.output_dir={output_dir}",
            f"run.name={name}",
            f"run.seed={seed}",
            f"algorithm.steps={steps}",
            f"rollout.async_steps={async_steps}",
            *([f"cluster.torch_threads={threads}"] if threads else []),
            *QUIET,
        ],
    )
    build_algorithm(config).run()
    rows = read_metrics(config.run_dir / "metrics.jsonl")[1:]
    seconds = [row["time/step_s"] for row in rows]
    return {
        "steps_per_s": len(seconds) / sum(seconds),
        "step_s": seconds,
        "phase_s": {phase: statistics.mean(row[f"time/{phase}_s"] for row in rows) for phase in PHASES},
        "staleness_max": max(row.get("rollout/staleness_max", 0.0) for row in rows),
        "reward_mean": statistics.mean(row["reward/mean"] for row in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--settings", nargs="+", default=["0", "1"], help="k or k@torch_threads; the first is the base")
    parser.add_argument("--work", default="/tmp/rlcore_async_rollout_bench")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    init_ray(load_config(ROOT / "configs" / "demo_grpo.yaml").cluster)  # one cluster for every run
    runs: dict[str, list[dict]] = {setting: [] for setting in args.settings}
    for rep in range(args.reps):
        for setting in args.settings:
            result = one_run(setting, args.steps, Path(args.work) / f"rep{rep}", args.seed)
            runs[setting].append(result)
            print(f"rep {rep} setting {setting}: {result['steps_per_s']:.3f} steps/s", flush=True)
    rates = {name: [run["steps_per_s"] for run in results] for name, results in runs.items()}
    base = args.settings[0]
    speedups = {
        name: [value / zero for zero, value in zip(rates[base], rate, strict=True)]
        for name, rate in rates.items()
        if name != base
    }
    report = {
        "machine": describe(),
        "setup": vars(args) | {"config": "configs/demo_grpo.yaml", "overrides": list(QUIET)},
        "runs": runs,
        "summary": {
            "steps_per_s_min_median_max": {name: [min(r), statistics.median(r), max(r)] for name, r in rates.items()},
            f"speedup_over_{base}_per_repeat": speedups,
        },
    }
    out = Path(args.out) if args.out else result_path("async_rollout")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["summary"], indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
