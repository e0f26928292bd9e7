"""Preference-pair files: readable JSONL written atomically, and user pair files loaded with file:line errors."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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


def load_pair_file(path: str, tokenizer) -> list[dict[str, Any]]:
    """Pairs from JSONL/JSON/Parquet/datasets rows {prompt, chosen, rejected[, id, language]}; texts tokenized,
    EOS after each response."""
    source = Path(path)
    eos = [tokenizer.eos_token_id]
    pairs = []
    for number, row in read_records(source):
        bad = [key for key in PAIR_KEYS if not isinstance(row.get(key), str) or not row.get(key)]
        if bad:
            raise DataError(f"{source}:{number}: {bad} must be non-empty strings (a pair needs {list(PAIR_KEYS)})")
        pairs.append(
            {
                **row,
                "id": str(row.get("id", f"line-{number}")),
                "language": str(row.get("language", "")),
                "prompt_ids": tokenizer.encode(row["prompt"], add_special_tokens=False),
                "chosen_ids": tokenizer.encode(row["chosen"], add_special_tokens=False) + eos,
                "rejected_ids": tokenizer.encode(row["rejected"], add_special_tokens=False) + eos,
            }
        )
    if not pairs:
        raise DataError(f"{source}: no pairs")
    return pairs
