"""Typed run configuration: pydantic v2 sections, YAML files and dotted command-line overrides.

Every section forbids unknown keys, so a typo is an error that names the key. The `algorithm` and `reward`
sections are validated by the config class that the named algorithm or reward registers.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator

from rlcore.registry import ALGORITHMS, REWARDS


class ConfigError(ValueError):
    """A configuration problem, worded for the person who wrote the config."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunSection(Section):
    name: str = Field("run", description="Run name; the run directory is <output_dir>/<name>.")
    output_dir: str = Field("runs", description="Parent folder of run directories.")
    seed: int = Field(0, description="Seeds Python, numpy, torch, vLLM sampling and data order.")
    resume: bool = Field(True, description="Continue from the newest checkpoint in the run directory, if any.")


class ClusterSection(Section):
    address: str | None = Field(
        None, description="Ray address to join; None uses $RAY_ADDRESS or starts a local cluster."
    )
    num_cpus: float | None = Field(
        None, description="Logical CPUs of a local cluster (scheduling slots, not cores); None = max(8, cores)."
    )
    torch_threads: int = Field(1, ge=1, description="torch threads per actor, so actors do not fight over cores.")
    call_timeout_s: float = Field(900.0, gt=0, description="Timeout of every remote call to a worker group.")
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"


class ModelSection(Section):
    path: str = Field("builtin:tiny-arith", description="Hugging Face model dir, or builtin:tiny-arith.")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    trust_remote_code: bool = False


class DataSection(Section):
    source: str = Field("builtin:arith", description="builtin:arith, or a local JSONL/Parquet file or dataset dir.")
    eval_source: str | None = Field(None, description="Held-out set; None = builtin eval split or no eval.")
    train_languages: list[str] = Field(default_factory=lambda: ["en"])
    eval_languages: list[str] | None = Field(None, description="None = every language in the eval set.")
    num_train_questions: int = Field(4000, ge=1, description="Builtin world: distinct training questions.")
    eval_questions_per_language: int = Field(300, ge=1)
    prompt_key: str = "prompt"
    answer_key: str = "answer"
    language_key: str = "language"
    id_key: str = "id"
    prompt_template: str | None = Field(
        None,
        description="File rows only: the prompt text is put in place of {prompt} (e.g. a chat template); "
        "None = the prompt as it is.",
    )
    shuffle: bool = True


class RolloutSection(Section):
    num_workers: int = Field(1, ge=1)
    tensor_parallel_size: int = Field(1, ge=1)
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = -1
    max_tokens: int = Field(64, ge=1)
    stop: list[str] = Field(default_factory=list)
    max_model_len: int = Field(256, ge=16)
    kv_cache_gib: float = Field(1.0, gt=0, description="CPU only: KV-cache size (VLLM_CPU_KVCACHE_SPACE).")
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    enforce_eager: bool = True
    enable_prefix_caching: bool = True
    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float = Field(0.0, ge=0)


class LearnerSection(Section):
    num_workers: int = Field(1, ge=1, description="Data-parallel ranks, one Ray actor each.")
    zero_stage: Literal[0, 1, 2, 3] = 0
    dtype: Literal["float32", "bfloat16"] = "float32"
    backend: Literal["auto", "gloo", "nccl"] = Field("auto", description="auto: nccl on GPUs, gloo on CPU.")
    lr: float = Field(1e-5, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    lr_schedule: Literal["constant", "cosine", "linear"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    grad_clip: float = Field(1.0, ge=0, description="Global gradient-norm clip; 0 disables.")
    micro_batch_size: int = Field(16, ge=1, description="Samples per forward/backward on one rank.")
    offload_optimizer: bool = False
    gradient_checkpointing: bool = False
    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float = Field(0.0, ge=0)


class ReferenceSection(Section):
    enabled: bool | None = Field(None, description="None = only when the algorithm needs it (e.g. kl_coef > 0).")
    model_path: str | None = Field(None, description="Reference model; None = model.path (the initial policy).")
    num_workers: int = Field(1, ge=1)
    micro_batch_size: int = Field(32, ge=1)
    num_cpus: float = Field(0.5, ge=0)
    num_gpus: float = Field(0.0, ge=0)


class WeightSyncSection(Section):
    bucket_mb: float = Field(64.0, gt=0, description="Upper bound of one serialized weight bucket.")


class EvalSection(Section):
    every_steps: int = Field(10, ge=0, description="0 disables periodic evaluation.")
    at_start: bool = True
    max_tokens: int | None = Field(None, description="None = rollout.max_tokens.")


class CheckpointSection(Section):
    every_steps: int = Field(50, ge=0, description="0 = only the final checkpoint.")
    keep_last: int = Field(2, ge=1)
    save_optimizer: bool = True
    save_final: bool = True


class LoggingSection(Section):
    tensorboard: bool = True
    wandb_project: str | None = None
    progress: bool = True
    plots: bool = True


class NamedSection(Section):
    """Base of the algorithm and reward sections; concrete classes come from the registries."""

    name: str


class RunConfig(Section):
    run: RunSection = Field(default_factory=RunSection)
    cluster: ClusterSection = Field(default_factory=ClusterSection)
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)
    rollout: RolloutSection = Field(default_factory=RolloutSection)
    learner: LearnerSection = Field(default_factory=LearnerSection)
    reference: ReferenceSection = Field(default_factory=ReferenceSection)
    reward: SerializeAsAny[NamedSection] = Field(default_factory=lambda: {"name": "math"}, validate_default=True)
    algorithm: SerializeAsAny[NamedSection] = Field(default_factory=lambda: {"name": "grpo"}, validate_default=True)
    weight_sync: WeightSyncSection = Field(default_factory=WeightSyncSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)

    @field_validator("algorithm", mode="before")
    @classmethod
    def _algorithm_config(cls, value: Any) -> Any:
        return validate_named(value, lambda name: ALGORITHMS.get(name).Config, default="grpo")

    @field_validator("reward", mode="before")
    @classmethod
    def _reward_config(cls, value: Any) -> Any:
        return validate_named(value, lambda name: REWARDS.get(name).Config, default="math")

    @property
    def run_dir(self) -> Path:
        return Path(self.run.output_dir) / self.run.name


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


def load_config(source: str | Path | dict | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Build a RunConfig from a YAML file (or dict) plus `dotted.key=value` overrides."""
    where = str(source) if isinstance(source, (str, Path)) else "config"
    if isinstance(source, (str, Path)):
        try:
            data = yaml.safe_load(Path(source).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {source}") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{source}: not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the top level must be a mapping of sections")
    else:
        data = dict(source or {})
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
    lines = [f"{where}: invalid configuration"]
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            lines.append(f"  {location}: unknown key{_suggestion(item['loc'], data)}")
        else:
            lines.append(f"  {location}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def _suggestion(loc: tuple, data: dict) -> str:
    """'did you mean ...' from the fields of the section that holds the unknown key."""
    model: Any = RunConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if isinstance(model, type) else None
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
    name = (data.get(section) or {}).get("name", "grpo" if section == "algorithm" else "math")
    try:
        if section == "algorithm":
            return ALGORITHMS.get(name).Config
        return REWARDS.get(name).Config
    except KeyError:
        return None


def save_config(config: RunConfig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
