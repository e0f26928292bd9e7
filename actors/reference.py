"""ReferenceWorker: a frozen copy of the initial policy that only computes response log-probabilities."""

from __future__ import annotations

from rlcore.batch import Batch
from rlcore.cluster import Worker
from rlcore.modeling import batch_logprobs, load_causal_lm, torch_device


class ReferenceWorker(Worker):
    remote_methods = ("logprobs",)

    def __init__(
        self,
        rank: int,
        world_size: int,
        model_path: str,
        dtype: str,
        attn_implementation: str,
        micro_batch_size: int,
        share_prompts: bool = False,
    ):
        super().__init__(rank, world_size)
        self.device = torch_device()
        self.model = load_causal_lm(model_path, dtype, attn_implementation).to(self.device).eval()
        self.model.requires_grad_(False)
        self.micro_batch_size, self.share_prompts = micro_batch_size, share_prompts

    def logprobs(self, batch: Batch, temperature: float = 1.0) -> Batch:
        values = batch_logprobs(
            self.model, batch, self.micro_batch_size, temperature, self.device, share_prompts=self.share_prompts
        )
        return Batch(tensors={"ref_logprobs": values})
