"""SFT data: prompt/completion rows as token ids, from a user's file (JSONL, JSON, Parquet or a `datasets` folder,
read like pair files: rlcore.pair_files) or from the builtin world (`builtin:arith`: each question's worked solution).

A row is `{prompt, completion[, system, id, language]}`: plain texts, or TRL's conversational form (the prompt a
message list ending with a user turn, the completion one assistant message), or `{messages}` whose last message is
the assistant's completion. The prompt is formatted by the run's chat template like every prompt (rlcore.chat); the
completion's tokens, then EOS, are the response. A row that cannot be used is one DataError naming file and line."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rlcore.batch import Batch
from rlcore.chat import ChatError, Messages, PromptFormatter, check_messages, check_prompt_messages
from rlcore.config import DataSection
from rlcore.data import BUILTIN_DATA, DataError, load_rows, read_records
from rlcore.pair_files import reply_text

log = logging.getLogger(__name__)


def load_completions(
    source: str, key: str, split: str, prompts: PromptFormatter, data: DataSection, seed: int, max_length: int | None
) -> list[dict[str, Any]]:
    """The rows of `source` (the config key `key` names it) as read, with `prompt_ids` and `response_ids` (the
    completion + EOS, cut to `max_length` tokens of prompt + completion)."""
    rows, cut = [], 0
    for number, row in _records(source, key, split, data, seed):
        try:
            prompt, completion = completion_parts(row)
            prompt_ids = prompts.encode(prompt, row.get("system") or None).ids
        except ChatError as error:
            raise DataError(f"{source}:{number}: {error}") from None
        response_ids = prompts.response_ids(completion)
        if max_length is not None:
            if len(prompt_ids) >= max_length:
                raise DataError(
                    f"{source}:{number}: the prompt is {len(prompt_ids)} tokens, which leaves no room for the "
                    f"completion in algorithm.max_length={max_length}; raise it or shorten the prompt"
                )
            cut += len(prompt_ids) + len(response_ids) > max_length
            response_ids = response_ids[: max_length - len(prompt_ids)]
        rows.append({**row, "prompt_ids": prompt_ids, "response_ids": response_ids})
    if not rows:
        raise DataError(f"{key}: {source} holds no rows")
    if cut:
        log.warning(
            "%s: %d of %d completions cut to algorithm.max_length=%d tokens", source, cut, len(rows), max_length
        )
    return rows


def _records(source: str, key: str, split: str, data: DataSection, seed: int) -> Iterable[tuple[int, dict[str, Any]]]:
    """(line, row) pairs of a file, or of the builtin world's `split` (data.*_languages, question counts)."""
    if source == BUILTIN_DATA:
        train = split == "train"
        languages = data.train_languages if train else data.eval_languages
        count = data.num_train_questions if train else data.eval_questions_per_language
        world = load_rows(BUILTIN_DATA, split, data, languages, seed, count)
        return enumerate(({**row, "prompt": row["messages"], "completion": row["solution"]} for row in world), 1)
    if not Path(source).exists():
        raise DataError(f"{key}: not found: {source}")
    return read_records(Path(source))


def completion_parts(row: dict[str, Any]) -> tuple[str | Messages, str]:
    """(prompt, completion text) of a row in any of the accepted forms."""
    if "prompt" not in row and "messages" in row:  # one conversation: its last message is the completion
        messages = check_messages(row["messages"], "messages")
        if len(messages) < 2:
            raise ChatError("messages must hold the prompt's turns and then the assistant's completion")
        prompt = check_prompt_messages(messages[:-1], "the prompt (messages before the last)")
        return prompt, reply_text(messages[-1:], "the last message")
    missing = [name for name in ("prompt", "completion") if name not in row]
    if missing:
        raise ChatError(f"row lacks {missing} (has {sorted(row)}); an SFT row holds prompt and completion, or messages")
    prompt, completion = row["prompt"], row["completion"]
    if isinstance(prompt, list):
        prompt = check_prompt_messages(prompt, "prompt")
    elif not isinstance(prompt, str) or not prompt:
        raise ChatError("'prompt' must be a non-empty string or, in conversational form, a message list")
    if not isinstance(completion, list | str) or not completion:
        raise ChatError("'completion' must be a non-empty string or, in conversational form, one assistant message")
    return prompt, reply_text(completion, "completion")


def completion_batch(rows: list[dict[str, Any]]) -> Batch:
    """Rows as learner input: the completion is the response the `sft` loss trains on."""
    return Batch.from_rows([{"prompt_ids": row["prompt_ids"], "response_ids": row["response_ids"]} for row in rows])
