"""The R-PRM's engine on real vLLM: P(Yes) read by vLLM equals the softmax over the " Yes"/" No" logits of a
transformers forward pass (the reward in a Ray reward worker: tests/test_prm_search_on_cpu.py)."""

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
