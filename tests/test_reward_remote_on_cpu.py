"""GRPO with rewards as users write them, on a real Ray cluster with vLLM rollout and a DeepSpeed learner: a 5-line
function in a file outside the project, plus the math reward served by `rlcore serve-reward`, a server that is
killed after the first step."""

from __future__ import annotations

import pytest

from algorithms import build_algorithm
from rlcore.metrics import read_metrics
from tests.conftest import tiny_run_config
from tests.test_reward_server import start_server

pytestmark = pytest.mark.integration

FIVE_LINES = """\
def states_a_number(prompts, completions, **columns):
    return [float(any(ch.isdigit() for ch in text)) for text in completions]
"""


def test_remote_and_function_rewards_train_and_a_killed_server_costs_only_scores(
    ray_cluster, tiny_model_path, tmp_path
):
    (tmp_path / "server").mkdir()
    server, url, log = start_server(tmp_path / "server")
    user_file = tmp_path / "elsewhere" / "my_reward.py"  # outside the project, imported by path
    user_file.parent.mkdir()
    user_file.write_text(FIVE_LINES)
    remote = {"name": "remote", "url": url, "token_file": str(tmp_path / "server" / "token"), "backoff_s": 0.1}
    parts = [{**remote, "weight": 1.0}, {"function": f"{user_file}:states_a_number", "weight": 0.5}]
    config = tiny_run_config(
        tmp_path, tiny_model_path, "algorithm.steps=2", f"reward={{name: combined, rewards: {parts}}}"
    )
    algorithm = build_algorithm(config)
    train_step = algorithm.step

    def step_then_kill_the_server(step: int) -> dict[str, float]:
        metrics = train_step(step)
        if step == 1:
            server.kill()
            server.wait(timeout=30)
        return metrics

    algorithm.step = step_then_kill_the_server  # type: ignore[method-assign]
    try:
        algorithm.run()
    finally:
        server.kill()
    first, second = read_metrics(tmp_path / "run" / "metrics.jsonl")
    # Step 1: both parts scored, the math reward through the server; the weights make the sum.
    assert first["reward/failed"] == 0 and 0 < first["reward/states_a_number"] <= 1
    assert first["reward/mean"] == pytest.approx(first["reward/remote"] + 0.5 * first["reward/states_a_number"])
    assert first["train/grad_norm"] > 0
    assert '"POST /score HTTP/1.1" 200' in log.read_text()
    # Step 2: the server is gone, so every sample lost its remote score (failure_score 0) and is marked failed;
    # the function reward still scored, and the run trained to the end.
    assert second["step"] == 2 and second["reward/failed"] == 1 and second["reward/remote"] == 0
    assert second["reward/mean"] == pytest.approx(0.5 * second["reward/states_a_number"])
    assert (tmp_path / "run" / "summary.json").exists()
