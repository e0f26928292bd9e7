"""SFT rows (algorithms/sft_data.py) and the step schedule of algorithms/sft.py, without a cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from algorithms.sft import SFT
from algorithms.sft_data import load_completions
from rlcore.chat import PromptFormatter
from rlcore.config import ConfigError, DataSection, load_config
from rlcore.data import DataError
from tests.conftest import ROOT

HI = [{"role": "user", "content": "Hi"}]
HELLO = {"role": "assistant", "content": "Hello"}


@pytest.fixture(scope="module")
def prompts(tiny_model_path: str) -> PromptFormatter:
    return PromptFormatter.for_model(tiny_model_path)


def load(path: Path, rows: list, prompts: PromptFormatter, max_length: int | None = None) -> list[dict]:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return load_completions(str(path), "algorithm.data_file", "train", prompts, DataSection(), 0, max_length)


def test_every_form_gives_the_chat_formatted_prompt_and_the_completion_with_eos(prompts, tmp_path):
    forms = [
        {"prompt": "Hi", "completion": "Hello"},
        {"prompt": HI, "completion": [HELLO]},
        {"messages": [*HI, HELLO]},
    ]
    rows = load(tmp_path / "forms.jsonl", forms, prompts)
    expected_prompt = prompts.encode(HI).ids
    expected_response = [*prompts.tokenizer.encode("Hello", add_special_tokens=False), prompts.tokenizer.eos_token_id]
    assert all(row["prompt_ids"] == expected_prompt and row["response_ids"] == expected_response for row in rows)
    with_system = load(
        tmp_path / "system.jsonl", [{"prompt": "Hi", "completion": "Hello", "system": "Be brief"}], prompts
    )
    assert with_system[0]["prompt_ids"] == prompts.encode("Hi", "Be brief").ids


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "Hi"}, r"row lacks \['completion'\]"),
        ({"prompt": "", "completion": "Hello"}, "'prompt' must be a non-empty string"),
        ({"prompt": "Hi", "completion": 5}, "'completion' must be a non-empty string"),
        ({"prompt": HI, "completion": [HELLO, HELLO]}, "completion must be one assistant message"),
        ({"prompt": [HELLO], "completion": "Hello"}, "prompt must end with a user message"),
        ({"messages": [*HI, *HI]}, "the last message must be one assistant message"),
    ],
)
def test_a_bad_row_is_one_error_naming_file_and_line(prompts, tmp_path, row, message):
    with pytest.raises(DataError, match=rf"bad\.jsonl:2: {message}"):
        load(tmp_path / "bad.jsonl", [{"prompt": "Hi", "completion": "Hello"}, row], prompts)


def test_max_length_cuts_the_completion_and_rejects_a_prompt_that_fills_it(prompts, tmp_path):
    rows = [{"prompt": "Hi", "completion": "Hello there, how are you today?"}]
    prompt_length = len(prompts.encode("Hi").ids)
    cut = load(tmp_path / "cut.jsonl", rows, prompts, max_length=prompt_length + 3)
    assert len(cut[0]["response_ids"]) == 3
    with pytest.raises(DataError, match=r"long\.jsonl:1: the prompt is \d+ tokens"):
        load(tmp_path / "long.jsonl", rows, prompts, max_length=prompt_length)


def sft(tmp_path: Path, model_path: str, rows: int, *overrides: str) -> SFT:
    data_file = tmp_path / "rows.jsonl"
    data_file.write_text("".join(json.dumps({"prompt": f"q{i}", "completion": "a"}) + "\n" for i in range(rows)))
    config = load_config(
        ROOT / "configs" / "demo_sft.yaml",
        [
            f"model.path={model_path}",
            f"algorithm.data_file={data_file}",
            "algorithm.eval_file=null",
            "algorithm.epochs=1",
            *overrides,
        ],
    )
    algorithm = SFT(config)
    algorithm.load_data()
    return algorithm


@pytest.mark.parametrize(
    ("rows", "overrides", "sizes"),
    [
        (6, ["algorithm.epochs=3", "algorithm.batch_size=4"], [4, 4, 4, 4, 2]),  # 18 rows, the last step short
        (5, ["algorithm.batch_size=4", "learner.num_workers=2"], [4]),  # the 5th row cannot feed both ranks
        (3, ["algorithm.steps=4", "algorithm.batch_size=2"], [2, 2, 2, 2]),  # fixed steps: passes as needed
    ],
)
def test_each_step_draws_its_share_of_the_passes(tmp_path, tiny_model_path, rows, overrides, sizes):
    algorithm = sft(tmp_path, tiny_model_path, rows, *overrides)
    assert algorithm.total_steps() == len(sizes)
    drawn = [algorithm.rows_until(s) - algorithm.rows_until(s - 1) for s in range(1, len(sizes) + 1)]
    assert drawn == sizes


def test_sizes_that_cannot_feed_every_rank_are_refused(tmp_path, tiny_model_path):
    config = load_config(ROOT / "configs" / "demo_sft.yaml", ["algorithm.batch_size=3", "learner.num_workers=2"])
    with pytest.raises(ConfigError, match=r"algorithm\.batch_size: 3 rows do not split into learner\.num_workers = 2"):
        config.algorithm.validate_sizes(config)
    with pytest.raises(DataError, match=r"1 rows × 1 epochs cannot feed learner\.num_workers = 2"):
        sft(tmp_path, tiny_model_path, 1, "algorithm.batch_size=2", "learner.num_workers=2")
