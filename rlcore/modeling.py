"""Model loading and the one log-probability computation shared by learner and reference workers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from rlcore.batch import Batch, pad_sequences
from rlcore.packing import Cost, micro_batches, sequence_lengths, split_to_count
from rlcore.shared_prompts import collate_shared_prompts, prompt_groups, shared_prompt_logits

BUILTIN_MODEL = "builtin:tiny-arith"
# The tiny model trained into a generative process reward model of the embedded world (docs/process_rewards.md).
BUILTIN_PRM = "builtin:tiny-prm"
TINY_PRM = "tiny-prm-v1"
TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_model_path(path: str) -> str:
    """`builtin:tiny-arith` -> the shipped tiny model; a run directory -> its newest checkpoint that matches its
    manifest (skipping newer ones with a warning); otherwise a local model directory (a checkpoint is verified)."""
    if path == BUILTIN_MODEL:
        from rlcore.world.tiny_model import tiny_model_path

        return str(tiny_model_path())
    if path == BUILTIN_PRM:
        return str(Path(__file__).resolve().parent / "world" / "models" / TINY_PRM)
    if path.startswith("builtin:"):
        raise ValueError(f"unknown builtin model {path!r}; choose {BUILTIN_MODEL!r} or {BUILTIN_PRM!r}")
    if not Path(path).is_dir():
        raise FileNotFoundError(f"model directory not found: {path} (no model hub is used; give a local path)")
    from rlcore.checkpoint import MANIFEST, CheckpointManager, NoValidCheckpoint, problem

    if (Path(path) / "checkpoints").is_dir():
        latest = CheckpointManager(Path(path), keep_last=1).latest()
        if latest is None:
            raise FileNotFoundError(f"{path} is a run directory without a complete checkpoint")
        return str(latest)
    if (Path(path) / MANIFEST).is_file() and (reason := problem(Path(path))):
        raise NoValidCheckpoint(f"checkpoint {path} is damaged: {reason}")
    return path


def load_causal_lm(
    path: str, dtype: str = "float32", attn_implementation: str = "sdpa", trust_remote_code: bool = False
) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        path, dtype=TORCH_DTYPES[dtype], attn_implementation=attn_implementation, trust_remote_code=trust_remote_code
    )


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, TypeError) as error:  # missing or damaged tokenizer files
        detail = " ".join(str(error).split())[:300]
        raise TokenizerError(f"{path}: its tokenizer does not load ({type(error).__name__}: {detail})") from None


class TokenizerError(ValueError):
    """A model folder whose tokenizer cannot be loaded."""


def torch_device() -> torch.device:
    if torch.cuda.is_available() and os.environ.get("CUDA_VISIBLE_DEVICES", "") != "":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def collate_sequences(batch: Batch, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """prompt_ids + response_ids -> right-padded input_ids, attention_mask, prompt lengths, response lengths."""
    prompts, responses = batch["prompt_ids"], batch["response_ids"]
    input_ids, attention_mask = pad_sequences([list(p) + list(r) for p, r in zip(prompts, responses, strict=True)])
    return {
        "input_ids": torch.as_tensor(input_ids, device=device),
        "attention_mask": torch.as_tensor(attention_mask, device=device, dtype=torch.long),
        "prompt_lengths": torch.as_tensor([len(p) for p in prompts], device=device),
        "response_lengths": torch.as_tensor([len(r) for r in responses], device=device),
    }


def response_logprobs(
    model: torch.nn.Module, inputs: dict[str, torch.Tensor], response_width: int, temperature: float = 1.0
) -> torch.Tensor:
    """log π(y_t | x, y_<t) for every response token, as a right-padded [B, response_width] tensor."""
    return response_logprobs_and_entropy(model, inputs, response_width, temperature, with_entropy=False)[0]


def collate_packed(batch: Batch, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """prompt_ids + response_ids of every row -> one padding-free row [1, Σ lengths] whose `position_ids` restart at
    0 for each sequence: transformers then masks attention block-diagonally (sdpa/eager: a packed causal mask built
    from the position restarts; flash_attention_2: its varlen kernel), so no sequence sees another."""
    prompts, responses = batch["prompt_ids"], batch["response_ids"]
    sequences = [list(p) + list(r) for p, r in zip(prompts, responses, strict=True)]
    lengths = [len(sequence) for sequence in sequences]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if lengths else np.zeros(0, np.int64)
    flat = [token for sequence in sequences for token in sequence]
    positions = [position for length in lengths for position in range(length)]
    return {
        "input_ids": torch.as_tensor([flat], dtype=torch.long, device=device),
        "position_ids": torch.as_tensor([positions], dtype=torch.long, device=device),
        "sequence_starts": torch.as_tensor(starts, device=device),
        "prompt_lengths": torch.as_tensor([len(p) for p in prompts], device=device),
        "response_lengths": torch.as_tensor([len(r) for r in responses], device=device),
    }


def response_logprobs_and_entropy(
    model: torch.nn.Module,
    inputs: dict[str, torch.Tensor],
    response_width: int,
    temperature: float = 1.0,
    with_entropy: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`response_logprobs`, and (`with_entropy`) the entropy of π(· | x, y_<t) at each response token, detached,
    [B, response_width], from the same logits. `inputs` from `collate_sequences` or `collate_packed`."""
    if "predict_col" in inputs:
        return _shared_prompt_logprobs_and_entropy(model, inputs, response_width, temperature, with_entropy)
    if "position_ids" in inputs:
        return _packed_logprobs_and_entropy(model, inputs, response_width, temperature, with_entropy)
    input_ids = inputs["input_ids"]
    # Only positions from the shortest prompt's last token on predict response tokens: the LM head (a large share
    # of the compute for big vocabularies and short responses) runs on those alone.
    start = max(int(inputs["prompt_lengths"].min()) - 1, 0)
    logits = model(
        input_ids=input_ids, attention_mask=inputs["attention_mask"], logits_to_keep=input_ids.shape[1] - start
    ).logits[:, :-1]
    logits = at_least_float32(logits) / max(temperature, 1e-6)
    targets = input_ids[:, start + 1 :]
    log_normalizer = torch.logsumexp(logits, dim=-1)
    token_logprobs = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - log_normalizer
    # Response token j of sample i sits at position prompt_len + j, predicted from position prompt_len + j - 1,
    # which is column prompt_len + j - 1 - start of the kept logits.
    offsets = inputs["prompt_lengths"][:, None] - 1 - start + torch.arange(response_width, device=targets.device)[None]
    offsets = offsets.clamp(max=token_logprobs.shape[1] - 1)
    mask = response_mask_of(inputs, response_width)
    entropy = token_entropy(logits, log_normalizer).gather(1, offsets) * mask if with_entropy else None
    return token_logprobs.gather(1, offsets) * mask, entropy


def _packed_logprobs_and_entropy(
    model: torch.nn.Module, inputs: dict[str, torch.Tensor], response_width: int, temperature: float, with_entropy: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The packed layout's response log-probs, scattered back to right-padded [B, response_width]; the LM head runs
    on the positions that predict a response token only (a tensor `logits_to_keep` selects them)."""
    mask = response_mask_of(inputs, response_width)
    columns = torch.arange(response_width, device=mask.device)[None]
    predicting = (inputs["sequence_starts"] + inputs["prompt_lengths"] - 1)[:, None] + columns
    kept = predicting[mask.bool()]  # row-major: row 0's response tokens, then row 1's, ...
    # No attention mask and no cache: the condition under which transformers reads packing from position_ids.
    logits = model(
        input_ids=inputs["input_ids"], position_ids=inputs["position_ids"], use_cache=False, logits_to_keep=kept
    ).logits
    logits = at_least_float32(logits) / max(temperature, 1e-6)
    log_normalizer = torch.logsumexp(logits, dim=-1)
    targets = inputs["input_ids"][:, kept + 1]
    token_logprobs = (logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - log_normalizer)[0]
    placed = mask.bool()
    logp = torch.zeros_like(mask, dtype=token_logprobs.dtype).masked_scatter(placed, token_logprobs)
    if not with_entropy:
        return logp, None
    entropy = token_entropy(logits, log_normalizer)[0]
    return logp, torch.zeros_like(logp).masked_scatter(placed, entropy)


def _shared_prompt_logprobs_and_entropy(
    model: torch.nn.Module, inputs: dict[str, torch.Tensor], response_width: int, temperature: float, with_entropy: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Response log-probs of rows computed with their prompt shared (rlcore.shared_prompts), in row order."""
    logits = at_least_float32(shared_prompt_logits(model, inputs)) / max(temperature, 1e-6)
    log_normalizer = torch.logsumexp(logits, dim=-1)
    mask = response_mask_of(inputs, logits.shape[1])
    logp = (logits.gather(-1, inputs["targets"].unsqueeze(-1)).squeeze(-1) - log_normalizer) * mask
    entropy = token_entropy(logits, log_normalizer) * mask if with_entropy else None
    # Right-pad to the caller's width (a whole batch's longest response may exceed this micro-batch's).
    widen = (0, response_width - logits.shape[1])
    return torch.nn.functional.pad(logp, widen), None if entropy is None else torch.nn.functional.pad(entropy, widen)


def collate(
    batch: Batch, device: torch.device | str = "cpu", packing: bool = False, share_prompts: bool = False
) -> dict[str, torch.Tensor]:
    """A micro-batch's model inputs: packed into one row, rows sharing a prompt merged, or right-padded rows."""
    if packing:
        return collate_packed(batch, device)
    if share_prompts:
        groups = prompt_groups(batch["prompt_ids"], batch["response_ids"])
        if len(groups) < len(batch):  # some rows merge; otherwise the padded layout is as good
            return collate_shared_prompts(batch, device, groups)
    return collate_sequences(batch, device)


def at_least_float32(logits: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 logits in float32 for the softmax; float64 (the tests' exactness checks) stays float64."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


@torch.no_grad()
def token_entropy(logits: torch.Tensor, log_normalizer: torch.Tensor) -> torch.Tensor:
    """H = log Z − Σ π·logits at each position of [B, T, V] logits; one row at a time, so the extra memory is one
    [T, V] tensor rather than the batch's."""
    return torch.stack(
        [lse - (torch.exp(row - lse[:, None]) * row).sum(-1) for row, lse in zip(logits, log_normalizer, strict=True)]
    )


def response_mask_of(inputs: dict[str, torch.Tensor], response_width: int) -> torch.Tensor:
    positions = torch.arange(response_width, device=inputs["response_lengths"].device)[None]
    return (positions < inputs["response_lengths"][:, None]).float()


def logprob_micro_batches(
    batch: Batch,
    micro_batch_size: int,
    packing: bool = False,
    max_tokens: int | None = None,
    share_prompts: bool = False,
) -> list[list[int]]:
    """`batch_logprobs`' micro-batches: row indices, rows sorted by length so that little compute goes to padding
    (with `share_prompts`, by their prompt group's longest row, so that a group's rows stay together)."""
    lengths = sequence_lengths(batch)
    keys = np.asarray(lengths)
    if share_prompts and not packing:
        for group in prompt_groups(batch["prompt_ids"], batch["response_ids"]):
            keys[group] = max(lengths[row] for row in group)
    order = np.argsort(keys, kind="stable")
    cost: Cost = "packed" if packing else "padded"
    planned = micro_batches([lengths[row] for row in order], micro_batch_size, max_tokens, cost)
    return [order[rows].tolist() for rows in planned]


@torch.no_grad()
def batch_logprobs(
    model: torch.nn.Module,
    batch: Batch,
    micro_batch_size: int,
    temperature: float = 1.0,
    device: torch.device | str = "cpu",
    packing: bool = False,
    max_tokens: int | None = None,
    forwards: int = 0,
    share_prompts: bool = False,
) -> np.ndarray:
    """Forward-only response log-probabilities of a whole Batch as numpy [B, R], in its row order, through
    `logprob_micro_batches`; `packing` packs each micro-batch into one padding-free row, `share_prompts` merges
    rows with the same prompt (rlcore.shared_prompts). At least `forwards` forward passes run (ZeRO-3 ranks must
    run equally many): micro-batches are halved, then the first repeated."""
    width = max((len(r) for r in batch["response_ids"]), default=0)
    out = np.zeros((len(batch), width), dtype=np.float32)
    planned = logprob_micro_batches(batch, micro_batch_size, packing, max_tokens, share_prompts)
    plan = split_to_count(planned, forwards)
    plan += plan[:1] * (forwards - len(plan))
    for rows in plan:
        inputs = collate(batch.select(rows), device, packing, share_prompts)
        out[rows] = response_logprobs(model, inputs, width, temperature).float().cpu().numpy()
    return out
