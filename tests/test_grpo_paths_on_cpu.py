"""The paths the shipped recipes take, run for real: GRPO with mini_batches > 1, kl_coef > 0 and temperature != 1
together (the Qwen recipes), ZeRO-3 learner ranks syncing into vLLM, the policy translating for
language-imbalance pairs (the Llama 8B recipe) and the implicit DPO reward scoring on a reward worker."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from algorithms import build_algorithm
from rlcore.batch import Batch
from rlcore.metrics import read_metrics
from rlcore.world.tasks import generate_problems, to_records
from tests.conftest import tiny_run_config
from tests.test_weight_sync_on_cpu import assert_greedy_matches_transformers

pytestmark = pytest.mark.integration
RECIPE_PATH = ("rollout.temperature=0.7", "algorithm.mini_batches=2", "algorithm.kl_coef=0.05", "logging.plots=false")


def test_old_reference_and_training_logprobs_are_at_the_sampling_temperature(ray_cluster, tiny_model_path, tmp_path):
    """At π = π_old = π_ref every ratio is 1 and every KL 0, and vLLM's log-probs are the learner's, at T = 0.7.

    lr = 1e-12 keeps the second mini-batch at π_old too (Adam's first step moves each weight by ≤ lr)."""
    config = tiny_run_config(tmp_path, tiny_model_path, *RECIPE_PATH, "learner.lr=1e-12", "checkpoint.save_final=false")
    build_algorithm(config).run()
    row = read_metrics(tmp_path / "run" / "metrics.jsonl")[-1]
    assert row["train/optimizer_steps"] == 2
    assert row["train/clip_fraction"] == 0.0
    assert row["train/approx_kl_old"] < 1e-10
    assert row["train/kl_ref"] < 1e-8
    assert row["train/rollout_logprob_gap"] < 1e-4  # vLLM's processed (temperature-scaled) log-probs


def test_grpo_recipe_path_on_zero3_ranks_syncing_into_vllm(ray_cluster, tiny_model_path, tmp_path):
    from actors.runtime import Runtime

    config = tiny_run_config(
        tmp_path,
        tiny_model_path,
        *RECIPE_PATH,
        "algorithm.steps=2",
        "learner.num_workers=2",
        "learner.zero_stage=3",
        "learner.micro_batch_size=8",
        "learner.num_cpus=0.5",
        "learner.lr=1e-4",
    )
    algorithm = build_algorithm(config)
    runtime = Runtime(
        config, total_optimizer_steps=algorithm.optimizer_steps(), need_reference=algorithm.needs_reference()
    )
    prompts = Batch.from_rows(to_records(generate_problems("train", 1, ["en", "fr"], seed=7)))
    try:
        algorithm.run(runtime=runtime)
        greedy = runtime.generate(prompts, n=1, sampling={"temperature": 0.0, "max_tokens": 24})
    finally:
        runtime.shutdown()
    first, second = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert first["train/optimizer_steps"] == second["train/optimizer_steps"] == 2
    assert first["train/kl_ref"] > 0 and second["train/kl_ref"] > 0  # π has left π_ref
    assert first["train/approx_kl_old"] > 0  # the second mini-batch trains off-policy against π_old
    assert second["rollout/policy_version"] == 1 and greedy.meta["policy_version"] == 2
    checkpoint = tmp_path / "run" / "checkpoints" / "step_2"
    before, after = load_file(f"{tiny_model_path}/model.safetensors"), load_file(str(checkpoint / "model.safetensors"))
    assert [name for name in before if name in after and torch.equal(before[name], after[name])] == []
    assert_greedy_matches_transformers(greedy, checkpoint, max_new_tokens=24)  # vLLM holds the ZeRO-3 weights


@pytest.fixture
def dpo_model(tiny_model_path, tmp_path) -> str:
    """A policy that differs from the tiny model (as a DPO-trained one would), saved as a model directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    torch.manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * param.std() * torch.randn_like(param))
    model.save_pretrained(tmp_path / "dpo")
    AutoTokenizer.from_pretrained(tiny_model_path).save_pretrained(tmp_path / "dpo")
    return str(tmp_path / "dpo")


def test_policy_translation_pairs_and_implicit_dpo_reward_on_workers(ray_cluster, tiny_model_path, tmp_path, dpo_model):
    from actors.runtime import Runtime
    from algorithms.pairs import PairContext
    from algorithms.pairs.language_imbalance import LanguageImbalance, LanguageImbalanceConfig
    from rlcore.modeling import load_tokenizer

    reward = f"reward={{name: implicit_dpo, model: {dpo_model}, reference: {tiny_model_path}, micro_batch_size: 3}}"
    config = tiny_run_config(tmp_path, tiny_model_path, reward)
    rows = to_records(generate_problems("train", 2, ["en", "fr"], seed=5))
    english = {row["id"]: row["prompt"] for row in rows if row["language"] == "en"}
    builder = LanguageImbalance(
        LanguageImbalanceConfig(name="language_imbalance", translator="policy", translate_max_tokens=24), ["en", "fr"]
    )
    tokenizer = load_tokenizer(tiny_model_path)
    runtime = Runtime(config, total_optimizer_steps=1, roles=("rollout", "reward"))
    try:
        ctx = PairContext(runtime, {"temperature": 0.7}, tokenizer, {(r["id"], r["language"]): r for r in rows})
        built = builder.build([row for row in rows if row["language"] == "en"], ctx)
        samples = runtime.generate(Batch.from_rows(rows), n=2)
        # French answers are scored against the English instruction, English ones against their own prompt.
        samples = samples.with_columns(
            score_prompt_ids=[
                tokenizer.encode(english[i], add_special_tokens=False) if lang != "en" else []
                for i, lang in zip(samples["id"], samples["language"], strict=True)
            ]
        )
        scored = runtime.score(samples)
    finally:
        runtime.shutdown()

    translations = [g for g in built.generations if g["role"] == "translation"]
    assert len(translations) == 4  # each of 2 questions: en answer -> fr, fr answer -> en
    policy = load_causal_lm_eval(tiny_model_path)
    for record in translations:
        source = "English" if record["language"] == "fr" else "French"
        target = "French" if record["language"] == "fr" else "English"
        request = builder.config.translate_prompt.format(source=source, target=target, text=record["source"])
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": request}], add_generation_prompt=True, tokenize=False
        )
        assert record["translation"] == greedy_text(policy, tokenizer, prompt, max_new_tokens=24)
    assert built.pairs and len(built.pairs) + built.dropped["translation_failed"] == 4
    for pair in built.pairs:
        written = pair["rejected"] if pair["side"] == "dominant" else pair["chosen"]
        written_ids = pair["rejected_ids"] if pair["side"] == "dominant" else pair["chosen_ids"]
        assert written_ids == [*tokenizer.encode(written, add_special_tokens=False), tokenizer.eos_token_id]

    dpo, reference = load_causal_lm_eval(dpo_model), load_causal_lm_eval(tiny_model_path)
    expected = []
    for sample in samples.rows():
        prompt_ids = list(sample["score_prompt_ids"] or sample["prompt_ids"])
        response_ids = list(sample["response_ids"])
        expected.append(
            sequence_logprob(dpo, prompt_ids, response_ids) - sequence_logprob(reference, prompt_ids, response_ids)
        )
    assert not scored["reward_failed"].any()
    assert np.abs(expected).mean() > 0.01  # the two models differ
    np.testing.assert_allclose(scored["rewards"], expected, rtol=1e-4, atol=1e-4)


def load_causal_lm_eval(path: str):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).eval()


@torch.no_grad()
def sequence_logprob(model, prompt_ids: list[int], response_ids: list[int]) -> float:
    """log π(y|x) summed over the response tokens, from one transformers forward pass."""
    logits = model(torch.tensor([prompt_ids + response_ids])).logits[0, len(prompt_ids) - 1 : -1]
    return float(torch.log_softmax(logits.double(), -1).gather(1, torch.tensor(response_ids)[:, None]).sum())


@torch.no_grad()
def greedy_text(model, tokenizer, prompt: str, max_new_tokens: int) -> str | None:
    """transformers' greedy continuation, as the builder keeps it: stripped text if it ended with EOS, else None."""
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    output = model.generate(torch.tensor([prompt_ids]), max_new_tokens=max_new_tokens, do_sample=False)
    new = output[0, len(prompt_ids) :].tolist()
    if tokenizer.eos_token_id not in new:
        return None
    text = tokenizer.decode(new[: new.index(tokenizer.eos_token_id)], skip_special_tokens=True).strip()
    return text or None
