"""Issue 12's acceptance run: a short GRPO job submitted (`rlcore submit`, token on) to a simulated three-node cluster
on this machine — a loopback head for the learner, reference and reward workers and two worker nodes that only
rollout workers may use — with elastic rollout on. Once the run is under way, the node carrying the rollout workers
is stopped (its `ray start --block` ends, as `ray stop` on that machine would): its workers must be replaced on the
other rollout node and the run must complete. Where each role ran, the worker count and the restarts per step (all
from the run's metrics) go to benchmarks/results/three_node/<time>.json.

    PYTHONPATH=. .venv/bin/python benchmarks/three_node_run.py [--steps 8] [--stop-after-step 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlcore.metrics import read_metrics  # noqa: E402
from tests.local_cluster import LocalCluster, join, node_names  # noqa: E402

ROLE_CLASSES = {
    "RolloutWorker": "rollout",
    "LearnerWorker": "learner",
    "ReferenceWorker": "reference",
    "RewardWorker": "reward",
}
PLACEMENT = [
    "cluster.placement.rollout.resources={rollout_node: 1}",
    "cluster.placement.rollout.labels={rlcore/pool: rollout}",
    *(f"cluster.placement.{role}.labels={{rlcore/pool: head}}" for role in ("learner", "reference", "reward")),
]


def overrides(run_root: Path, steps: int, scale_up: float, scale_down: float) -> list[str]:
    return [
        f"run.output_dir={run_root}",
        "run.name=three_node",
        f"algorithm.steps={steps}",
        "algorithm.kl_coef=0.001",  # so that a reference worker runs too
        "data.eval_questions_per_language=20",
        "eval.at_start=false",
        f"eval.every_steps={steps}",
        "checkpoint.every_steps=0",
        "logging.tensorboard=false",
        "logging.plots=false",
        "cluster.max_worker_restarts=2",
        "rollout.autoscale.enabled=true",
        "rollout.autoscale.min_workers=1",
        "rollout.autoscale.max_workers=2",
        "rollout.autoscale.cooldown_steps=0",
        f"rollout.autoscale.scale_up_share={scale_up}",
        f"rollout.autoscale.scale_down_share={scale_down}",
        *PLACEMENT,
    ]


def start_cluster() -> LocalCluster:
    cluster = LocalCluster()
    cluster.head(num_cpus=6, labels={"rlcore/pool": "head"})
    for name in ("rollout-a", "rollout-b"):
        cluster.node(name, 2, resources={"rollout_node": 2}, labels={"rlcore/pool": "rollout"})
    return cluster


def placed(api: str) -> dict[str, list[str]]:
    """Role → the nodes its live workers run on (from the state API at `api`, the head's dashboard)."""
    from ray.util.state import list_actors

    names = node_names()
    where: dict[str, list[str]] = {}
    for actor in list_actors(address=api, filters=[("state", "=", "ALIVE")], limit=1000):
        if (role := ROLE_CLASSES.get(actor.class_name or "")) and actor.node_id:
            where.setdefault(role, []).append(names.get(actor.node_id, actor.node_id))
    return {role: sorted(nodes) for role, nodes in sorted(where.items())}


def placement_once_replaced(api: str, stopped: str, job: subprocess.Popen) -> dict[str, list[str]]:
    """Where the roles run once rollout workers run again, none on the stopped node (empty if the job ended first)."""
    while job.poll() is None:
        with contextlib.suppress(Exception):  # the state API may fail while the node's death is being handled
            where = placed(api)
            if where.get("rollout") and stopped not in where["rollout"]:
                return where
        time.sleep(1.0)
    return {}


def wait_for_rows(metrics: Path, count: int, job: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if metrics.exists() and len(read_metrics(metrics)) >= count:
            return
        if job.poll() is not None:
            raise RuntimeError(f"the job ended (exit {job.returncode}) before step {count}")
        time.sleep(0.5)
    raise TimeoutError(f"no step {count} within {timeout_s:g}s")


def run(steps: int, stop_after_step: int, scale_up: float, scale_down: float) -> dict[str, Any]:
    import ray

    cluster = start_cluster()
    run_root = Path(tempfile.mkdtemp(prefix="three_node_"))
    try:
        os.environ.update(cluster.env)
        join(cluster.address, nodes=3)
        address = f"http://127.0.0.1:{cluster.dashboard_port}"
        command = [sys.executable, "-m", "rlcore.cli", "submit", "--address", address, "configs/demo_grpo.yaml"]
        command += overrides(run_root, steps, scale_up, scale_down)
        env = {**cluster.env, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "token"}
        log_path = run_root / "job.log"
        started = time.monotonic()
        with log_path.open("w") as log:
            job = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            metrics = run_root / "three_node" / "metrics.jsonl"
            wait_for_rows(metrics, stop_after_step, job, timeout_s=900)
            before = placed(address)
            stopped = before["rollout"][0]  # a node with rollout workers on it, and nothing else of the run
            assert all(stopped not in before[role] for role in before if role != "rollout"), before
            cluster.stop_node(stopped)
            print(f"stopped node {stopped} after step {len(read_metrics(metrics))}; placement was {before}", flush=True)
            after = placement_once_replaced(address, stopped, job)
            exit_code = job.wait(timeout=1800)
        rows = read_metrics(metrics)
        log_text = log_path.read_text()
        workers = [row["rollout/workers"] for row in rows]
        checks = {  # the acceptance of issue 12, from the metrics and the state API
            "placed_as_configured": all(nodes == ["head"] * len(nodes) for r, nodes in before.items() if r != "rollout")
            and set(before["rollout"]) <= {"rollout-a", "rollout-b"},
            "replaced_after_node_loss": sum(row.get("workers/restarts", 0) for row in rows) >= 1
            and bool(after.get("rollout"))
            and stopped not in after["rollout"],
            "scaled_up": any(b > a for a, b in pairwise(workers)),
            "scaled_down": any(b < a for a, b in pairwise(workers)),
            "every_step_trained_all_samples": len({row.get("rollout/samples") for row in rows}) == 1,
            "completed": exit_code == 0 and len(rows) == steps,
        }
        return {
            "checks": checks,
            "exit_code": exit_code,
            "seconds": round(time.monotonic() - started, 1),
            "placement_before_stop": before,
            "stopped_node": stopped,
            "stopped_after_step": stop_after_step,
            "placement_after_replacement": after,
            "steps": [
                {
                    key: row.get(key)
                    for key in ("step", "rollout/workers", "workers/restarts", "rollout/samples", "time/scale_s")
                }
                | {"generation_share": share(row)}
                for row in rows
            ],
            "job_log_tail": log_text[-4000:],
            "succeeded": "SUCCEEDED" in log_text,
        }
    finally:
        ray.shutdown()
        cluster.stop()


def share(row: dict[str, float]) -> float | None:
    from rlcore.elastic import generation_share

    value = generation_share(row)
    return round(value, 3) if value is not None else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--stop-after-step", type=int, default=3)
    # Narrow: on this 2-core machine generation's share moves between about 0.35 and 0.65 from step to step.
    parser.add_argument("--scale-up-share", type=float, default=0.55)
    parser.add_argument("--scale-down-share", type=float, default=0.45)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "three_node")
    args = parser.parse_args()
    result = run(args.steps, args.stop_after_step, args.scale_up_share, args.scale_down_share)
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    result["command"] = " ".join(sys.argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "job_log_tail"}, indent=2))
    print(f"written {path}")
    sys.exit(0 if result["exit_code"] == 0 else 1)


if __name__ == "__main__":
    main()
