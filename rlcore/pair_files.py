"""Preference-pair files: readable JSONL written atomically, and user pair files (plain or TRL conversational) loaded
with file:line errors."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rlcore.chat import ChatError, Messages, PromptFormatter, check_messages, check_prompt_messages, plain_text
from rlcore.data import DataError, read_records

PAIR_KEYS = ("prompt", "chosen", "rejected")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """One JSON object per line (UTF-8, not ASCII-escaped, so people can read it); replaced atomically."""
    path = Path(path)
    temporary = path.with_suffix(path.suffix + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(temporary, path)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_pair_file(path: str, prompts: PromptFormatter) -> list[dict[str, Any]]:
    """Pairs from JSONL/JSON/Parquet/datasets rows {prompt, chosen, rejected[, system, id, language]}: plain texts,
    or TRL's conversational form (prompt a message list, chosen/rejected one assistant message each; or, with the
    prompt implicit, chosen/rejected whole conversations sharing it). Prompts are formatted like every prompt of the
    run (rlcore.chat); each response gets EOS after it."""
    source = Path(path)
    if not source.exists():
        raise DataError(f"algorithm.pair_file: not found: {source}")
    pairs = []
    for number, row in read_records(source):
        try:
            prompt, chosen, rejected = _pair_parts(row)
            encoded = prompts.encode(prompt, row.get("system") or None)
        except ChatError as error:
            raise DataError(f"{source}:{number}: {error}") from None
        pairs.append(
            {
                **row,
                "id": str(row.get("id", f"line-{number}")),
                "language": str(row.get("language", "")),
                "prompt": prompt if isinstance(prompt, str) else plain_text(prompt),
                "chosen": chosen,
                "rejected": rejected,
                "prompt_ids": encoded.ids,
                "chosen_ids": prompts.response_ids(chosen),
                "rejected_ids": prompts.response_ids(rejected),
            }
        )
    if not pairs:
        raise DataError(f"{source}: no pairs")
    return pairs


def _pair_parts(row: dict[str, Any]) -> tuple[str | Messages, str, str]:
    """(prompt, chosen text, rejected text) of a pair row in any of the accepted forms."""
    chosen, rejected = row.get("chosen"), row.get("rejected")
    if "prompt" not in row and isinstance(chosen, list) and isinstance(rejected, list):  # TRL's implicit prompt
        chosen, rejected = check_messages(chosen, "chosen"), check_messages(rejected, "rejected")
        if len(chosen) < 2 or chosen[:-1] != rejected[:-1]:
            raise ChatError(
                "without a prompt, chosen and rejected must be conversations that differ in their last turn"
            )
        return (
            check_prompt_messages(chosen[:-1], "the shared prompt"),
            reply_text(chosen[-1:], "chosen"),
            reply_text(rejected[-1:], "rejected"),
        )
    prompt = row.get("prompt")
    if isinstance(prompt, list):
        return check_prompt_messages(prompt, "prompt"), reply_text(chosen, "chosen"), reply_text(rejected, "rejected")
    bad = [key for key in PAIR_KEYS if not isinstance(row.get(key), str) or not row.get(key)]
    if bad:
        raise ChatError(f"{bad} must be non-empty strings or, in conversational form, message lists")
    return prompt, chosen, rejected  # type: ignore[return-value]


def reply_text(value: Any, what: str) -> str:
    """The text of a response side: a string, or a list holding one assistant message."""
    if isinstance(value, str) and value:
        return value
    messages = check_messages(value, what)
    if len(messages) != 1 or messages[0]["role"] != "assistant":
        raise ChatError(f"{what} must be one assistant message, got roles {[m['role'] for m in messages]}")
    return messages[0]["content"]
