"""Checks of everything knowable before a cluster starts: the model directories, context lengths, batch sizes and
the output folder. Each failure is a ConfigError of one line naming the key (or file) and what to do.

`check_config` needs only the config (rlcore.config_file checks the file itself); `check_prompt_lengths` runs once
the prompts are tokenized (rlcore.chat)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlcore.config import ConfigError, RunConfig
from rlcore.run_storage import is_uri

WEIGHT_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "*.pt")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def check_config(config: RunConfig) -> None:
    """Every check that needs no data and no cluster (cheap: reads a few small files)."""
    check_output_dir(str(config.run_dir.parent))
    if is_uri(config.run.output_dir):
        check_filesystem(config.run.output_dir)
    context = check_model(config.model.path, "model.path")
    if config.reference.model_path:
        check_model(config.reference.model_path, "reference.model_path")
    check_lengths(config, context)
    config.algorithm.validate_sizes(config)


def check_output_dir(output_dir: str) -> None:
    """run.output_dir must be (or be creatable as) a folder this process can write in: probed with a real file."""
    path = Path(output_dir).expanduser()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"run.output_dir: {existing} is a file, not a folder; choose another run.output_dir")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ConfigError(
            f"run.output_dir: cannot write in {existing} ({error.strerror}); choose a writable run.output_dir"
        ) from None


def check_filesystem(uri: str) -> None:
    """An fsspec URI's filesystem must be installed and reachable before any worker starts."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(uri)
        fs.exists(root)
    except ImportError as error:  # e.g. s3:// without s3fs
        raise ConfigError(f"run.output_dir: {uri} needs a filesystem package that is not installed ({error})") from None
    except ValueError as error:
        raise ConfigError(f"run.output_dir: {uri}: no fsspec filesystem handles this scheme ({error})") from None
    except Exception as error:
        raise ConfigError(f"run.output_dir: cannot reach {uri} ({type(error).__name__}: {error})") from None


def check_model(path: str, key: str) -> int | None:
    """`path` names a loadable model: builtin, or a folder with config.json, weights and a tokenizer. Returns the
    model's context length (None when its config does not say)."""
    from rlcore.modeling import resolve_model_path  # torch: imported only once a check needs it

    try:
        directory = Path(resolve_model_path(path))
    except (ValueError, FileNotFoundError) as error:
        raise ConfigError(f"{key}: {error}") from None
    what = "give a Hugging Face model folder (config.json, weights, tokenizer files) or builtin:tiny-arith"
    if not (directory / "config.json").is_file():
        raise ConfigError(f"{key}: {directory} is not a model folder (no config.json); {what}")
    if not any(next(directory.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
        raise ConfigError(f"{key}: {directory} has no weights (*.safetensors or pytorch_model*.bin); {what}")
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise ConfigError(f"{key}: {directory} has no tokenizer ({' or '.join(TOKENIZER_FILES)}); {what}")
    try:
        model_config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{key}: {directory / 'config.json'} is not valid JSON ({error}); {what}") from None
    if not isinstance(model_config, dict):
        raise ConfigError(f"{key}: {directory / 'config.json'} is not a JSON object; {what}")
    return next((int(model_config[k]) for k in CONTEXT_KEYS if isinstance(model_config.get(k), int)), None)


def check_lengths(config: RunConfig, model_context: int | None) -> None:
    """max_model_len within the model's context, and room in it for a prompt beside the longest response."""
    rollout = config.rollout
    if model_context is not None and rollout.max_model_len > model_context:
        raise ConfigError(
            f"rollout.max_model_len: {rollout.max_model_len} is beyond the model's context of {model_context} "
            f"tokens ({config.model.path}); set rollout.max_model_len <= {model_context}"
        )
    for key, value in (("rollout.max_tokens", rollout.max_tokens), ("eval.max_tokens", config.eval.max_tokens)):
        if value is not None and value >= rollout.max_model_len:
            raise ConfigError(
                f"{key}: {value} leaves no room for a prompt in rollout.max_model_len={rollout.max_model_len}; "
                f"lower {key} or raise rollout.max_model_len"
            )


def check_prompt_lengths(rows: Sequence[dict[str, Any]], config: RunConfig, source: str) -> None:
    """The longest tokenized prompt of `source` plus the longest response fits in rollout.max_model_len."""
    if not rows:
        return
    longest = max(rows, key=lambda row: len(row["prompt_ids"]))
    response = max(config.rollout.max_tokens, config.eval.max_tokens or 0)
    limit = config.rollout.max_model_len
    if len(longest["prompt_ids"]) + response > limit:
        raise ConfigError(
            f"{source}: prompt {longest.get('id')!r} ({longest.get('language', '?')}) is "
            f"{len(longest['prompt_ids'])} tokens, which with max_tokens={response} exceeds "
            f"rollout.max_model_len={limit}; raise rollout.max_model_len or lower rollout.max_tokens"
        )
