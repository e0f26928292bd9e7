"""SFT end to end on the real learner (Ray, DeepSpeed on gloo, 1 rank): the loss falls, the checkpoint (loaded with
transformers) prefers the completions, a resume retrains the lost steps on the same rows, and a bad row is one error
naming its file and line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from algorithms import build_algorithm
from rlcore.checkpoint import CheckpointManager
from rlcore.config import load_config
from rlcore.data import DataError
from rlcore.metrics import read_metrics
from tests.conftest import ROOT

pytestmark = pytest.mark.integration
COMPLETION = "The answer is 7. Done!"  # one reply for every question: nothing the tiny model says by itself


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def sft_config(tmp_path: Path, model_path: str, data_file: Path, *overrides: str):
    return load_config(
        ROOT / "configs" / "demo_sft.yaml",
        [
            f"model.path={model_path}",
            f"run.output_dir={tmp_path}",
            "run.name=sft",
            f"algorithm.data_file={data_file}",
            f"algorithm.eval_file={data_file}",
            "algorithm.epochs=3",
            "algorithm.batch_size=4",  # 6 rows x 3 epochs: steps of 4, 4, 4, 4, 2 rows, two spanning passes
            "learner.lr=3e-3",
            "learner.lr_schedule=constant",
            "learner.warmup_steps=0",
            "learner.micro_batch_size=2",  # two micro-batches a step: accumulation on the way
            "eval.every_steps=100",  # at the start and after the last step
            "checkpoint.every_steps=2",
            "checkpoint.keep_last=10",
            "logging.progress=false",
            "logging.tensorboard=false",
            "logging.plots=false",
            *overrides,
        ],
    )


def completion_logprob(model_path: str, prompt_ids: list[int], response_ids: list[int]) -> float:
    """Mean log π(completion token | prefix) under the model at `model_path`, with transformers."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path).eval()
    ids = torch.tensor([prompt_ids + response_ids])
    with torch.no_grad():
        logprobs = model(ids).logits[0, :-1].log_softmax(-1)
    targets = ids[0, len(prompt_ids) :]
    return logprobs[len(prompt_ids) - 1 :].gather(1, targets[:, None]).mean().item()


def test_sft_learns_the_completions_and_resumes(ray_cluster, tiny_model_path, tmp_path):
    from rlcore.world.tasks import generate_problems

    problems = generate_problems("train", 3, ["en", "fr"], seed=5)
    data_file = write_rows(tmp_path / "sft.jsonl", [{"prompt": p.question, "completion": COMPLETION} for p in problems])
    algorithm = build_algorithm(sft_config(tmp_path, tiny_model_path, data_file))
    summary = algorithm.run()
    run_dir = tmp_path / "sft"
    first = read_metrics(run_dir / "metrics.jsonl")
    losses = [m["train/loss"] for m in first if "train/loss" in m]
    assert len(losses) == 5 and losses[-1] < 0.5 * losses[0]  # measured: 8.4 -> 2.3 nats per token
    assert summary["final"]["eval/loss"] < 0.5 * summary["initial"]["eval/loss"]
    assert [m["train/epoch"] for m in first if "train/epoch" in m] == pytest.approx([4 / 6, 8 / 6, 2, 16 / 6, 3])

    # The final checkpoint, in Hugging Face format, gives a training prompt's completion far more probability.
    final = CheckpointManager(run_dir, 1).latest()
    assert final is not None and final.name == "step_5"
    row = algorithm.sampler.rows[0]
    before = completion_logprob(tiny_model_path, row["prompt_ids"], row["response_ids"])
    after = completion_logprob(str(final), row["prompt_ids"], row["response_ids"])
    assert after - before > 2.0, (before, after)  # measured: about -8.7 -> -1.8 per token

    # Lose the final checkpoint: the resume starts from step 4 (at the end of pass 2 of the rows' shuffled order) and
    # retrains step 5 on the same rows from the same optimizer state.
    shutil.rmtree(final)
    build_algorithm(sft_config(tmp_path, tiny_model_path, data_file, "run.resume=true")).run()
    again = read_metrics(run_dir / "metrics.jsonl")
    assert [m for m in again if m["step"] <= 4] == [m for m in first if m["step"] <= 4]
    assert [m["train/loss"] for m in again if "train/loss" in m] == pytest.approx(losses, abs=1e-5)


def test_a_malformed_row_names_its_file_and_line(tiny_model_path, tmp_path):
    rows = [{"prompt": "What is 2 plus 2?", "completion": "4"}, {"prompt": "What is 3 plus 3?", "answer": "6"}]
    data_file = write_rows(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError, match=r"bad\.jsonl:2: row lacks \['completion'\]"):
        build_algorithm(sft_config(tmp_path, tiny_model_path, data_file)).run()
    assert not (tmp_path / "sft").exists()  # a start that fails leaves no run directory behind
