"""Shared fixtures: the shipped tiny model and one local Ray cluster per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_path() -> str:
    from rlcore.world import tiny_model

    return str(tiny_model.tiny_model_path())


@pytest.fixture(scope="session")
def ray_cluster():
    import ray

    from rlcore.cluster import init_ray
    from rlcore.config import ClusterSection

    init_ray(ClusterSection(num_cpus=16))
    yield
    ray.shutdown()


def tiny_run_config(tmp_path: Path, model_path: str, *overrides: str):
    """A small, fast run of the demo config on the tiny model, written under tmp_path."""
    from rlcore.config import load_config

    base = [
        f"model.path={model_path}",
        f"run.output_dir={tmp_path}",
        "run.name=run",
        "algorithm.steps=1",
        "algorithm.prompts_per_step=8",
        "algorithm.group_size=4",
        "data.eval_questions_per_language=8",
        "data.eval_languages=[en, fr]",
        "data.num_train_questions=200",
        "eval.every_steps=0",
        "eval.at_start=false",
        "checkpoint.every_steps=0",
        "logging.progress=false",
        "logging.tensorboard=false",
        "rollout.max_tokens=40",
        "learner.micro_batch_size=16",
    ]
    return load_config(ROOT / "configs" / "demo_grpo.yaml", [*base, *overrides])
