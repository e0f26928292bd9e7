"""DeepSpeed learner ranks on a real Ray cluster (gloo): ZeRO stages agree, accumulation does not change the step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil
import pytest

from actors.learner import LearnerWorker
from rlcore.batch import Batch
from rlcore.cluster import WorkerGroup, actor_env
from rlcore.config import LearnerSection, ModelSection
from rlcore.modeling import load_tokenizer
from rlcore.world.tasks import generate_problems
from tests.sockets import SocketWatch

pytestmark = pytest.mark.integration


def training_batch(model_path: str, size: int = 16) -> Batch:
    """Solutions of the synthetic task as responses, with fixed advantages of both signs."""
    tokenizer = load_tokenizer(model_path)
    problems = generate_problems("train", size // 2, ["en", "fr"], seed=3)[:size]
    prompt_ids = [tokenizer.encode(p.prompt, add_special_tokens=False) for p in problems]
    response_ids = [[*tokenizer.encode(p.solution, add_special_tokens=False), tokenizer.eos_token_id] for p in problems]
    return Batch(
        tensors={"advantages": np.linspace(-1, 1, size).astype(np.float32)},
        columns={"prompt_ids": prompt_ids, "response_ids": response_ids},
    )


def start_learner(model_path: str, ranks: int, **learner) -> WorkerGroup:
    cfg = LearnerSection(num_workers=ranks, lr=5e-3, num_cpus=0.5, **learner)
    group = WorkerGroup(
        "learner",
        LearnerWorker,
        ranks,
        num_cpus=0.5,
        env=actor_env(1, {"DS_ACCELERATOR": "cpu"}),
        init_kwargs=dict(
            model_path=model_path,
            learner=cfg.model_dump(),
            model=ModelSection().model_dump(),
            seed=0,
            total_optimizer_steps=10,
        ),
    )
    address, port = group.wait(["free_port"], [group.actors[0].free_port.remote()])[0]
    group.broadcast("init_engine", master_addr=address, master_port=port)
    return group


def losses(group: WorkerGroup, batch: Batch, loss: str, steps: int = 3) -> list[float]:
    """Mean −log π of the batch's response tokens before each update: it depends on the weights (the on-policy
    GRPO loss value does not: its ratio is 1)."""
    out = []
    for _ in range(steps):
        results = group.call_each(
            "train", [{"batch": shard, "loss": loss, "loss_params": {}} for shard in batch.split(len(group))]
        )
        out.append(float(np.mean([r["neg_logprob"] for r in results])))
    return out


STAGES = (0, 2, 3)


def trained_and_resumed(model_path: str, batch: Batch, stage: int, checkpoint: Path, when_up=lambda: None) -> dict:
    """On 2 ranks at this ZeRO stage: the losses of 3 GRPO then 2 SFT steps, with a checkpoint saved after the first
    step (saving must not change the trajectory), and those of the 2 GRPO steps after it from a learner restarted from
    that checkpoint. `when_up` runs while the first learner's ranks are up."""
    group = start_learner(model_path, ranks=2, zero_stage=stage, micro_batch_size=4)
    try:
        when_up()
        first = losses(group, batch, "grpo", steps=1)
        group.broadcast("save_checkpoint", directory=str(checkpoint), tokenizer_path=model_path)
        uninterrupted = losses(group, batch, "grpo", steps=2)
        sft = losses(group, batch, "sft", steps=2)
    finally:
        group.shutdown()
    resumed = start_learner(str(checkpoint), ranks=2, zero_stage=stage, micro_batch_size=4)
    try:
        restored = all(resumed.broadcast("load_training_state", directory=str(checkpoint)))
        again = losses(resumed, batch, "grpo", steps=2)
    finally:
        resumed.shutdown()
    return {
        "trajectory": first + uninterrupted + sft,
        "uninterrupted": uninterrupted,
        "again": again,
        "restored": restored,
    }


@pytest.fixture(scope="module")
def trajectories(ray_cluster, tiny_model_path, tmp_path_factory) -> dict[int, dict]:
    """`trained_and_resumed` per ZeRO stage, with its checkpoint; stage 0's with the sockets the driver's cluster
    listened on meanwhile. One pair of learner starts per stage serves the stage comparison, the resume and the
    socket check: the three tests started 9 learners between them, now 6."""
    batch = training_batch(tiny_model_path)
    driver = psutil.Process()
    out: dict[int, dict] = {}
    for stage in STAGES:
        checkpoint = tmp_path_factory.mktemp(f"zero{stage}") / "ckpt"
        if stage == 0:
            # sampled at least once while both ranks are up (their process group and the store exist)
            with SocketWatch(lambda: [driver], interval_s=0.5) as watch:
                out[stage] = trained_and_resumed(tiny_model_path, batch, stage, checkpoint, when_up=watch.sample)
            out[stage]["sockets"] = watch
        else:
            out[stage] = trained_and_resumed(tiny_model_path, batch, stage, checkpoint)
        out[stage]["checkpoint"] = checkpoint
    return out


def test_zero0_and_zero3_give_the_same_loss_trajectory(trajectories):
    zero0, zero3 = trajectories[0]["trajectory"], trajectories[3]["trajectory"]
    assert len(set(np.round(zero0, 6))) == len(zero0)  # every step moved the weights
    np.testing.assert_allclose(zero3, zero0, rtol=1e-4, atol=1e-5)


def test_gradient_accumulation_does_not_change_the_update(ray_cluster, tiny_model_path):
    """TRL's trajectory invariance: 1 micro-batch of 8 equals 8 micro-batches of 1 (token-mean over the batch)."""
    batch = training_batch(tiny_model_path, size=8)
    after = {}
    for micro in (8, 1):
        group = start_learner(tiny_model_path, ranks=1, zero_stage=0, micro_batch_size=micro)
        try:
            losses(group, batch, "sft", steps=2)
            after[micro] = group.call("logprobs", batch)["logprobs"]
        finally:
            group.shutdown()
    np.testing.assert_allclose(after[1], after[8], atol=1e-4)  # float32 summation order: ~3e-5 seen


@pytest.mark.parametrize("stage", STAGES)
def test_resumed_learner_continues_the_same_trajectory(trajectories, stage):
    """Save after one step (policy + optimizer/scheduler/RNG, no pickle), restart from it: the next losses match."""
    run = trajectories[stage]
    files = [p.name for p in run["checkpoint"].rglob("*") if p.is_file()]
    assert not [name for name in files if name.endswith((".pt", ".bin", ".pkl"))]
    assert [p.name for p in run["checkpoint"].glob("*.safetensors")] == ["model.safetensors"]  # vLLM loads all
    assert run["restored"]
    np.testing.assert_allclose(run["again"], run["uninterrupted"], rtol=1e-5, atol=1e-6)


def test_a_local_cluster_and_the_learner_store_listen_on_loopback_only(trajectories):
    """Every socket the local cluster's processes (Ray's and the learner ranks') listen on is on 127.0.0.1/::1."""
    watch = trajectories[0]["sockets"]
    assert watch.exposed() == [], f"listening beyond loopback: {watch.exposed()}"
    learner_sockets = [listener for listener in watch.seen if "LearnerWorker" in listener.process]
    assert len(learner_sockets) >= 2, watch.seen  # the store (rank 0) and gloo's pairs: the check saw the ranks
    assert any("gcs_server" in listener.process for listener in watch.seen), watch.seen
