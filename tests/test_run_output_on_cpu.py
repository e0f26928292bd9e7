"""`rlcore train` through the CLI in a subprocess: a 2-step GRPO whose terminal output has no warning line before
step 1 (the workers' vLLM / Triton / NUMA / DeepSpeed notices are in the run's log file instead)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def test_quiet_terminal_and_full_log_file(tmp_path: Path, tiny_model_path: str) -> None:
    command = [sys.executable, "-m", "rlcore.cli", "train", str(ROOT / "configs" / "demo_grpo.yaml")]
    command += [
        f"model.path={tiny_model_path}",
        f"run.output_dir={tmp_path}",
        "run.name=quiet",
        "algorithm.steps=2",
        "algorithm.prompts_per_step=4",
        "algorithm.group_size=4",
        "data.eval_questions_per_language=4",
        "data.eval_languages=[en, fr]",
        "eval.every_steps=2",
        "checkpoint.every_steps=0",
        "checkpoint.save_final=false",
        "cluster.num_cpus=8",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ADDRESS": ""}  # its own local cluster, as `make demo`
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    terminal = (done.stdout + done.stderr).splitlines()
    first_step = next(i for i, line in enumerate(terminal) if line.startswith("step 1/2"))
    before = terminal[:first_step]
    assert not [line for line in before if re.search(r"warn|pid=", line, re.IGNORECASE)], before
    assert "\x1b" not in done.stdout + done.stderr  # no colour codes when not on a terminal
    assert any(line.startswith("TensorBoard: tensorboard --logdir ") for line in terminal)
    log = (tmp_path / "quiet" / "logs" / "run.log").read_text()
    assert "pid=" in log and "step 2/2" in log  # the workers' output and the steps are in the log file
    assert {p.name for p in (tmp_path / "quiet" / "plots").glob("*.png")} >= {
        "reward.png",
        "accuracy.png",
        "policy.png",
    }
