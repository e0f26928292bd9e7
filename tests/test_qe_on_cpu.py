"""The `qe` reward in a real Ray reward worker: the shipped tiny QE model of the embedded world (trained on its
synthetic QE data, rlcore/world/qe_data.py) scores exact translations above corrupted ones, without a reference.
Without a shipped model, one trained here for 25 s checks the worker's plumbing only: that short a training on a
busy CPU learns too little to rank translations reliably."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

SOURCES = [
    "Today, the cat sells the hat.",
    "The girl paints eight cars in the garden.",
    "Does the woman want the black key?",
]
GOOD = [
    "Heute verkauft die Katze den Hut.",
    "Das Mädchen malt acht Autos im Garten.",
    "Will die Frau den schwarzen Schlüssel?",
]
# Words of other languages (critical errors), as an untrained translator mixing languages writes.
BAD = [
    "Heute vend die chat den chapeau.",
    "Das fille peint acht voitures im Garten.",
    "Will die femme den noire Schlüssel?",
]


def test_qe_reward_worker_scores_exact_translations_above_corrupted_ones(ray_cluster, tiny_model_path, tmp_path):
    from actors.runtime import Runtime
    from rlcore.batch import Batch
    from rlcore.world.qe_data import BUILTIN_TINY_QE, tiny_qe_path, train_qe_model
    from tests.conftest import tiny_run_config

    try:
        tiny_qe_path()
        model, shipped = BUILTIN_TINY_QE, True  # the shipped model, through the reward's builtin name
    except FileNotFoundError:  # not shipped: 25 s of training here check the plumbing, not the model's quality
        train_qe_model(tmp_path / "qe", minutes=25 / 60, eval_rows=0)
        model, shipped = str(tmp_path / "qe"), False
    config = tiny_run_config(tmp_path, tiny_model_path, f"reward={{name: qe, model: {model}, micro_batch_size: 4}}")
    runtime = Runtime(config, total_optimizer_steps=0, roles=("reward",))
    try:
        rows = [{"source": s, "response_text": t} for s, t in zip(SOURCES * 2, GOOD + BAD, strict=True)]
        scored = runtime.score(Batch.from_rows([*rows, {"source": SOURCES[0], "response_text": ""}]))
    finally:
        runtime.shutdown()
    rewards = scored["rewards"].tolist()
    assert scored["reward_failed"].tolist() == [0.0] * 7
    assert rewards[6] == 0.0  # an empty translation: empty_score
    good, bad = rewards[:3], rewards[3:6]
    if not shipped:
        return
    assert sum(good) / 3 > sum(bad) / 3 + 0.2, (good, bad)
    assert sum(g > b for g, b in zip(good, bad, strict=True)) >= 2, (good, bad)
