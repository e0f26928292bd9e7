"""Prompt data: the builtin multilingual world or local files, and a resumable seeded sampler."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rlcore.chat import ChatError, check_prompt_messages, plain_text, row_messages
from rlcore.config import DataSection

BUILTIN_DATA = "builtin:arith"


class DataError(ValueError):
    """A data file or row that cannot be used; the message names the file and line."""


def load_rows(
    source: str, split: str, data: DataSection, languages: Sequence[str] | None, seed: int, num_per_language: int
) -> list[dict[str, Any]]:
    """Rows with keys id, language, prompt, answer (+ whatever else the source has), filtered to `languages`."""
    if source == BUILTIN_DATA:
        from rlcore.world.tasks import LANGUAGES, generate_problems, to_records

        languages = list(languages or LANGUAGES)
        unknown = sorted(set(languages) - set(LANGUAGES))
        if unknown:
            raise DataError(f"the builtin world has no language(s) {unknown}; it has {list(LANGUAGES)}")
        records = to_records(generate_problems(split, num_per_language, languages, seed=seed))
        # Under a chat template the question is the user turn (the tiny model's template adds the newline).
        return [{**record, "messages": [{"role": "user", "content": record["question"]}]} for record in records]
    rows = [_normalize(row, data, source, line) for line, row in read_records(Path(source))]
    if languages:
        rows = [row for row in rows if row["language"] in set(languages)]
        if not rows:
            raise DataError(f"{source}: no rows in languages {list(languages)}")
    return rows


def load_eval_rows(data: DataSection) -> list[dict[str, Any]]:
    """The held-out rows: data.eval_source, else the builtin world's eval split (builtin data, drawn with
    data.eval_seed), else none."""
    source = data.eval_source or (BUILTIN_DATA if data.source == BUILTIN_DATA else None)
    if source is None:
        return []
    return load_rows(source, "eval", data, data.eval_languages, data.eval_seed, data.eval_questions_per_language)


def read_records(path: Path):
    """(line or row number, dict) pairs from JSONL, JSON, Parquet or a saved `datasets` directory."""
    if not path.exists():
        raise DataError(f"data source not found: {path}")
    if path.suffix in (".jsonl", ".json") and path.is_file():
        yield from _read_json(path)
        return
    import datasets

    if path.suffix == ".parquet" and path.is_file():
        try:
            table = datasets.load_dataset("parquet", data_files=str(path), split="train")
        except Exception as error:  # pyarrow's and datasets' own errors for a damaged file
            raise DataError(f"{path}: not a readable Parquet file ({type(error).__name__}: {error})") from None
    elif path.is_dir():
        if not (path / "dataset_info.json").is_file() and not (path / "dataset_dict.json").is_file():
            raise DataError(f"{path}: a folder that is not a saved `datasets` dataset (no dataset_info.json)")
        table = datasets.load_from_disk(str(path))
        if isinstance(table, datasets.DatasetDict):
            table = table["train"]
    else:
        raise DataError(f"{path}: unsupported data format (use .jsonl, .json, .parquet or a datasets directory)")
    yield from enumerate(table, start=1)


def _read_json(path: Path):
    """(line, row) pairs of a JSONL file, or (index, row) of a JSON list; bytes that are not UTF-8 are a DataError
    naming the line."""
    with path.open("rb") as handle:
        if path.suffix == ".json":
            try:
                rows = json.loads(handle.read().decode("utf-8"))
            except UnicodeDecodeError as error:
                raise DataError(f"{path}: not UTF-8 text (byte offset {error.start}); save it as UTF-8") from None
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise DataError(f"{path}: a .json data file must hold a list of objects (or use JSONL)")
            yield from enumerate(rows, start=1)
            return
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(
                    f"{path}:{number}: not UTF-8 text (byte {raw[error.start]:#x}); save it as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            yield number, row


def _normalize(row: dict, data: DataSection, source: str, line: int) -> dict[str, Any]:
    """A file row as a prompt row: `prompt` (plain text) and, for a message-list row, `messages` (system included)."""
    has_messages = data.messages_key in row
    missing = [key for key in (data.answer_key,) if key not in row]
    if not has_messages and data.prompt_key not in row:
        missing.insert(0, data.prompt_key)
    if missing:
        raise DataError(
            f"{source}:{line}: row lacks {missing} (has {sorted(row)}); set data.prompt_key (or data.messages_key) "
            f"/ data.answer_key if the columns are named differently"
        )
    system = row.get(data.system_key)
    if system is not None and (not isinstance(system, str) or not system):
        raise DataError(f"{source}:{line}: {data.system_key!r} must be a non-empty string")
    system = system or data.system_prompt
    out = dict(row)
    if has_messages:
        try:
            messages = check_prompt_messages(row[data.messages_key], repr(data.messages_key))
        except ChatError as error:
            raise DataError(f"{source}:{line}: {error}") from None
        out["messages"] = row_messages({"messages": messages, "system": system})
        out["prompt"] = plain_text(out["messages"])
    else:
        prompt = row[data.prompt_key]
        if not isinstance(prompt, str) or not prompt:
            raise DataError(f"{source}:{line}: {data.prompt_key!r} must be a non-empty string")
        out["prompt"] = data.prompt_template.replace("{prompt}", prompt) if data.prompt_template else prompt
        if system is not None:
            out["system"] = system
    out["answer"] = str(row[data.answer_key])
    out["language"] = str(row.get(data.language_key, "en"))
    out["id"] = str(row.get(data.id_key, f"row-{line}"))
    return out


class Sampler(Protocol):
    """What an algorithm's loop needs of its prompt sampler: the next step's rows and a resumable position."""

    def next_batch(self, size: int) -> list[dict[str, Any]]: ...

    def state(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...


class PromptSampler:
    """Endless seeded passes over the rows; its position (epoch, index) is saved in checkpoints.

    Resuming at an epoch boundary continues with the next epoch's order (it never yields an empty step).
    """

    def __init__(self, rows: list[dict[str, Any]], seed: int, shuffle: bool = True):
        if not rows:
            raise DataError("no training rows")
        self.rows, self.seed, self.shuffle = rows, seed, shuffle
        self.epoch, self.index = 0, 0

    def _order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.rows))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.rows))

    def next_batch(self, size: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < size:
            if self.index >= len(self.rows):
                self.epoch, self.index = self.epoch + 1, 0
            order = self._order(self.epoch)
            take = min(size - len(out), len(self.rows) - self.index)
            out.extend(self.rows[i] for i in order[self.index : self.index + take])
            self.index += take
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def load_state(self, state: dict[str, int]) -> None:
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
