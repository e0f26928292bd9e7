"""Weights trained by DeepSpeed and pushed into vLLM give transformers' greedy tokens and log-probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlcore.batch import Batch

pytestmark = pytest.mark.integration


def test_synced_vllm_matches_transformers_on_trained_weights(ray_cluster, tiny_model_path, tmp_path):
    from actors.runtime import Runtime
    from tests.conftest import tiny_run_config

    config = tiny_run_config(tmp_path, tiny_model_path, "learner.lr=3e-3", "weight_sync.bucket_mb=0.5")
    runtime = Runtime(config, total_optimizer_steps=10)
    try:
        prompts = Batch.from_rows(
            [
                {
                    "prompt": "Anna has 7 apples. She buys 5 more. How many apples does she have?\n",
                    "answer": "12",
                    "language": "en",
                },
                {
                    "prompt": "Paul a 9 billes. Il en perd 4. Combien de billes a-t-il ?\n",
                    "answer": "5",
                    "language": "fr",
                },
            ]
        )
        greedy = {"temperature": 0.0, "max_tokens": 24}
        before = runtime.generate(prompts, n=1, sampling=greedy)
        samples = runtime.generate(prompts, n=4, sampling={"temperature": 1.0})
        samples = samples.with_tensors(advantages=np.linspace(-1, 1, len(samples)).astype(np.float32))
        for _ in range(3):
            runtime.train(samples, "grpo", {})
        sync = runtime.sync_weights()
        after = runtime.generate(prompts, n=1, sampling=greedy)
        runtime.save_checkpoint(tmp_path / "ckpt")
    finally:
        runtime.shutdown()

    assert sync["sync/buckets"] > 1 and sync["sync/megabytes"] > 1  # several size-bounded buckets
    assert after.meta["policy_version"] == 1
    assert after["response_ids"] != before["response_ids"] or not np.allclose(
        after["rollout_logprobs"], before["rollout_logprobs"], atol=1e-3
    )  # the policy moved
    assert_greedy_matches_transformers(after, tmp_path / "ckpt", max_new_tokens=24)


def assert_greedy_matches_transformers(samples: Batch, model_dir, max_new_tokens: int) -> None:
    """vLLM's greedy samples are transformers' greedy tokens, with the same log-probabilities, on model_dir."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    for i in range(len(samples)):
        prompt, response = samples["prompt_ids"][i], samples["response_ids"][i]
        with torch.no_grad():
            greedy_ids = model.generate(torch.tensor([prompt]), max_new_tokens=max_new_tokens, do_sample=False)
            logits = model(torch.tensor([prompt + response])).logits[0, len(prompt) - 1 : -1]
        assert greedy_ids[0, len(prompt) :].tolist()[: len(response)] == response
        hf_logprobs = torch.log_softmax(logits, -1).gather(1, torch.tensor(response)[:, None]).squeeze(1).numpy()
        np.testing.assert_allclose(samples["rollout_logprobs"][i][: len(response)], hf_logprobs, atol=1e-4)
