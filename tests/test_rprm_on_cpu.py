"""The R-PRM on a real vLLM engine: P(Yes) read by vLLM equals the softmax over the " Yes"/" No" logits of a
transformers forward pass; the reward in a Ray reward worker (its engine in the worker's process) batches K
critiques of every step into one generate call and one verdict call, and drops critiques without a verdict."""

from __future__ import annotations

import pytest
import torch

from rlcore.prm import VERDICT_QUESTION, critique_prompt, p_yes_from_logits, verdict_tokens

pytestmark = pytest.mark.integration

QUESTION = "Tom has 7 apples and buys 5 more. How many apples does Tom have?"
STEPS = ["7 plus 5 is 12.", "The answer is 12."]


def _engine_p_yes(model_path: str, contexts: list[list[int]]) -> list[float]:
    from rewards.rprm_engine import EngineSettings, PRMEngine

    return PRMEngine(EngineSettings(model_path, max_model_len=256)).p_yes(contexts)


def test_p_yes_read_by_vllm_equals_the_transformers_softmax(ray_cluster, tiny_model_path):
    import ray
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlcore.cluster import actor_env
    from rlcore.engine_env import vllm_env

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    prompts = [critique_prompt(QUESTION, STEPS[:i], STEPS[i], "compact") for i in range(2)]
    contexts = [
        tokenizer.encode(f"{p}Check: 7 plus 5 is {r}.\nVerification: {VERDICT_QUESTION}")
        for p, r in zip(prompts, (12, 13), strict=True)
    ]
    env = actor_env(1, vllm_env(on_gpu=False, kv_cache_gib=1))
    remote = ray.remote(num_cpus=1, runtime_env={"env_vars": env})(_engine_p_yes)
    from_vllm = ray.get(remote.remote(tiny_model_path, contexts))

    tokens = verdict_tokens(tokenizer)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32).eval()
    for context, value in zip(contexts, from_vllm, strict=True):
        with torch.no_grad():
            logits = model(torch.tensor([[*context, *tokens.prefix_ids]])).logits[0, -1]
        assert value == pytest.approx(p_yes_from_logits(logits, tokens.yes_id, tokens.no_id), abs=1e-5)
    assert min(from_vllm) > 0 and max(from_vllm) < 1


def test_rprm_reward_worker_batches_critiques_and_counts_missing_verdicts(ray_cluster, tiny_model_path, tmp_path):
    from actors.runtime import Runtime
    from rlcore.batch import Batch
    from tests.conftest import tiny_run_config

    config = tiny_run_config(
        tmp_path,
        tiny_model_path,
        f"reward={{name: rprm, model_path: {tiny_model_path}, template: compact, critiques: 3, "
        "max_critique_tokens: 24, max_model_len: 256, delimiter: '\\n', unscored_step_score: 0.25}",
    )
    runtime = Runtime(config, total_optimizer_steps=0, roles=("reward",))
    try:
        samples = Batch.from_rows(
            [
                {"prompt": QUESTION, "response_text": "\n".join(STEPS)},
                {"prompt": QUESTION, "response_text": ""},
                {"prompt": QUESTION, "response_text": "12 plus 1 is 13.", "prm_previous_steps": STEPS[:1]},
            ]
        )
        scored = runtime.score(samples)
    finally:
        runtime.shutdown()
    # The shipped tiny model never learned the critique format: no critique reaches the verdict line, so every
    # step is unscored (0.25 here), an empty response gets empty_score (0.0), and no sample failed.
    assert scored["rewards"].tolist() == pytest.approx([0.25, 0.0, 0.25])
    assert scored["reward_failed"].tolist() == [0.0, 0.0, 0.0]
