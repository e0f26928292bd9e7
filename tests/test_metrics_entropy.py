"""The learner's `entropy` metric: the entropy of the policy's next-token distribution at each response token,
from the same logits as the log-probabilities."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from rlcore.batch import Batch
from rlcore.modeling import collate_sequences, response_logprobs, response_logprobs_and_entropy


class FixedLogits(torch.nn.Module):
    """A stand-in language model whose logits are a fixed tensor (honours `logits_to_keep` as transformers does)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, input_ids, attention_mask, logits_to_keep):
        return SimpleNamespace(logits=self.logits[:, -logits_to_keep:])


def test_entropy_matches_the_categorical_entropy_at_response_positions() -> None:
    torch.manual_seed(0)
    batch = Batch(columns={"prompt_ids": [[1, 2, 3], [4, 5]], "response_ids": [[6, 7], [8, 9, 10]]})
    inputs = collate_sequences(batch)
    logits = torch.randn(2, inputs["input_ids"].shape[1], 11)
    model = FixedLogits(logits)
    logp, entropy = response_logprobs_and_entropy(model, inputs, response_width=3, temperature=0.5)
    assert torch.equal(logp, response_logprobs(model, inputs, 3, temperature=0.5))
    expected = torch.zeros(2, 3)
    for row, (prompt, response) in enumerate(zip(batch["prompt_ids"], batch["response_ids"], strict=True)):
        for j in range(len(response)):  # token j is predicted at position prompt_len + j - 1
            dist = torch.distributions.Categorical(logits=logits[row, len(prompt) + j - 1] / 0.5)
            expected[row, j] = dist.entropy()
    assert torch.allclose(entropy, expected, atol=1e-5)
    assert entropy[0, 2] == 0.0  # padding past the response
    assert not entropy.requires_grad
