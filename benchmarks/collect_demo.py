"""Summarise a finished multi-seed demo (`make demo`, `make demo-dpo`) into a committed result that
benchmarks/figures.py renders into the docs:

    PYTHONPATH=. .venv/bin/python benchmarks/collect_demo.py demo_grpo runs/demo_grpo "make demo"

RUN_DIR is the demo's run directory (its seed_<s>/ folders and aggregate.json, written by `run.seeds`). Writes
benchmarks/results/demo/<NAME>.json: the machine, the command, the seeds, the initial accuracies with their Wilson
intervals, each seed's final accuracies and run time, the step-time medians and the aggregate across seeds.
For a sweep (`make sweep-demo`; RUN_DIR holds report.json) the result is the sweep's report with the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import yaml

from benchmarks.machine import describe

RESULTS = Path(__file__).resolve().parent / "results" / "demo"


def _accuracies(metrics: dict[str, float]) -> dict[str, dict[str, float]]:
    """{language: {accuracy, low, high, n}} from a run's eval metrics."""
    languages = [key.rsplit("/", 1)[-1] for key in metrics if key.startswith("eval/accuracy/")]
    return {
        lang: {
            "accuracy": metrics[f"eval/accuracy/{lang}"],
            **{
                k: metrics[f"eval/accuracy_{k}/{lang}"]
                for k in ("low", "high")
                if f"eval/accuracy_{k}/{lang}" in metrics
            },
            **({"n": metrics[f"eval/n/{lang}"]} if f"eval/n/{lang}" in metrics else {}),
        }
        for lang in languages
    }


def _step_times(metrics_file: Path) -> dict[str, float]:
    """Median seconds per training step of each phase (steps without an evaluation or a checkpoint)."""
    rows = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    steps = [r for r in rows if r.get("step", 0) > 0 and not r.get("time/eval_s") and not r.get("time/checkpoint_s")]
    keys = sorted({k for r in steps for k in r if k.startswith("time/") and k.endswith("_s")})
    return {k[5:-2]: statistics.median(r.get(k, 0.0) for r in steps) for k in keys}


def collect(run_dir: Path, command: str) -> dict[str, Any]:
    aggregate = json.loads((run_dir / "aggregate.json").read_text())
    seeds = aggregate["seeds"]
    summaries = {s: json.loads((run_dir / f"seed_{s}" / "summary.json").read_text()) for s in seeds}
    initial = {s: _accuracies(summary["initial"]) for s, summary in summaries.items()}
    first = initial[seeds[0]]
    return {
        "machine": describe(),
        "command": command,
        "config": yaml.safe_load((run_dir / f"seed_{seeds[0]}" / "config.yaml").read_text()),
        "seeds": seeds,
        "initial": first,
        "initial_same_for_every_seed": all(initial[s] == first for s in seeds),
        "final": {str(s): _accuracies(summary["final"]) for s, summary in summaries.items()},
        "initial_metrics": summaries[seeds[0]]["initial"],  # every score, e.g. TRANS-ZERO's chrF per direction
        "final_metrics": {str(s): summary["final"] for s, summary in summaries.items()},
        "seconds": {str(s): summary["seconds"] for s, summary in summaries.items()},
        "step_seconds": {str(s): _step_times(run_dir / f"seed_{s}" / "metrics.jsonl") for s in seeds},
        "changes": aggregate["changes"],
    }


def collect_sweep(run_dir: Path, command: str) -> dict[str, Any]:
    return {"machine": describe(), "command": command, "report": json.loads((run_dir / "report.json").read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the result's name, e.g. demo_grpo")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("command", help="how the runs were made, e.g. 'make demo'")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.name}.json"
    sweep = (args.run_dir / "report.json").exists()
    result = collect_sweep(args.run_dir, args.command) if sweep else collect(args.run_dir, args.command)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
