"""Chat formats end to end with the tiny model's chat template: GRPO on a `messages` dataset (the prompt ids vLLM
saw are apply_chat_template's) and offline DPO on a TRL conversational pair file."""

from __future__ import annotations

import json

import pytest

from actors.runtime import Runtime
from algorithms import build_algorithm
from rlcore.metrics import read_metrics
from rlcore.modeling import load_tokenizer
from rlcore.world.tasks import generate_problems, to_records
from tests.conftest import tiny_run_config
from tests.test_iterative_dpo_on_cpu import dpo_config

pytestmark = pytest.mark.integration


def chat_ids(tokenizer, messages) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False))


def test_grpo_on_a_messages_dataset_uses_the_chat_template(ray_cluster, tiny_model_path, tmp_path):
    problems = to_records(generate_problems("train", 8, ["en"], seed=11))
    rows = [
        {"id": p["id"], "messages": [{"role": "user", "content": p["question"]}], "answer": p["answer"]}
        for p in problems
    ]
    rows[0]["system"] = "Solve it."
    source = tmp_path / "chat.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = tiny_run_config(tmp_path, tiny_model_path, f"data.source={source}", "data.chat_template=auto")
    algorithm = build_algorithm(config)
    runtime = Runtime(config, total_optimizer_steps=1)
    generated = []
    generate = runtime.generate
    runtime.generate = lambda prompts, n, sampling=None: (
        generated.append(generate(prompts, n, sampling)) or (generated[-1])
    )
    try:
        algorithm.run(runtime)
    finally:
        runtime.shutdown()

    tokenizer = load_tokenizer(tiny_model_path)
    expected = {row["id"]: chat_ids(tokenizer, row["messages"]) for row in rows}
    expected[rows[0]["id"]] = chat_ids(tokenizer, [{"role": "system", "content": "Solve it."}, *rows[0]["messages"]])
    (samples,) = generated
    assert len(samples) == 8 * 4
    for question_id, prompt_ids in zip(samples["id"], samples["prompt_ids"], strict=True):
        assert list(prompt_ids) == expected[question_id]  # what vLLM was given, read back from its output
    assert expected[rows[1]["id"]] == tokenizer.encode(problems[1]["question"] + "\n", add_special_tokens=False)
    (metrics,) = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert metrics["step"] == 1 and metrics["train/grad_norm"] > 0


def test_offline_dpo_on_a_conversational_pair_file(ray_cluster, tiny_model_path, tmp_path):
    problems = to_records(generate_problems("train", 8, ["en"], seed=3))

    def reply(text: str) -> list[dict[str, str]]:
        return [{"role": "assistant", "content": text}]

    pair_file = tmp_path / "pairs.jsonl"
    pair_file.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": [{"role": "user", "content": p["question"]}],
                    "chosen": reply(p["solution"]),
                    "rejected": reply("The answer is 0."),
                }
            )
            + "\n"
            for p in problems
        )
    )
    config = dpo_config(
        tmp_path,
        tiny_model_path,
        "run.name=chat",
        f"algorithm.pair_file={pair_file}",
        "algorithm.iterations=1",
        "algorithm.reference=previous",
        "eval.at_start=false",
        "checkpoint.every_steps=0",
        "learner.lr=1e-3",
    )
    build_algorithm(config).run()
    run_dir, tokenizer = tmp_path / "chat", load_tokenizer(tiny_model_path)
    pairs = [json.loads(line) for line in (run_dir / "iterations" / "iter_1" / "pairs.jsonl").open()]
    assert len(pairs) == 8
    for pair, problem in zip(pairs, problems, strict=True):
        assert pair["prompt_ids"] == chat_ids(tokenizer, [{"role": "user", "content": problem["question"]}])
        assert pair["chosen_ids"] == [*tokenizer.encode(problem["solution"]), tokenizer.eos_token_id]
    trained = [m for m in read_metrics(run_dir / "metrics.jsonl") if "train/loss" in m]
    assert len(trained) == 2  # 8 pairs / 4 per step
    assert trained[-1]["train/rewards/margin"] > 0  # the chosen responses pull ahead
