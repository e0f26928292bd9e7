"""Function rewards (a plain Python function in a file or module) and combined rewards: loading, the errors a user
sees, the arguments a function gets, weights, and per-part isolation in the reward worker."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from rlcore.batch import Batch
from rlcore.config import ConfigError, load_config

SAMPLES = [
    {"prompt": "2+2?", "response_text": "The answer is 4", "answer": "4", "language": "en", "id": "a"},
    {"prompt": "2+3?", "response_text": "The answer is 6", "answer": "5", "language": "fr", "id": "b"},
]
FIVE_LINES = """\
def contains_answer(prompts, completions, answer, **columns):
    return [float(gold in text) for text, gold in zip(completions, answer)]
"""


def write(tmp_path: Path, source: str, name: str = "my_reward.py") -> Path:
    path = tmp_path / name
    path.write_text(source)
    return path


def reward_of(config: dict):
    from rlcore.registry import REWARDS

    section = load_config({"reward": config}).reward
    return REWARDS.get(section.name)(section)


def test_a_function_in_a_file_scores_with_the_sample_columns(tmp_path, monkeypatch):
    write(tmp_path, FIVE_LINES)
    monkeypatch.chdir(tmp_path)
    section = load_config({"reward": {"function": "my_reward.py:contains_answer"}}).reward
    assert section.name == "function"  # implied by the `function` key
    assert section.function == f"{tmp_path / 'my_reward.py'}:contains_answer"  # absolute: workers run elsewhere
    assert reward_of({"function": "my_reward.py:contains_answer"}).score(SAMPLES) == [1.0, 0.0]


def test_the_function_of_docs_rewards_md_runs_as_written(tmp_path):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "rewards.md").read_text()
    source = re.search(r"<!-- file: my_reward.py -->\n```python\n(.*?)```", doc, re.S)
    assert source is not None, "docs/rewards.md lost its my_reward.py example"
    path = write(tmp_path, source.group(1))
    assert reward_of({"function": f"{path}:correct_and_short"}).score(SAMPLES) == pytest.approx([0.985, -0.015])


def test_the_function_gets_prompts_completions_and_every_other_column(tmp_path):
    path = write(
        tmp_path, "def seen(**kwargs):\n    global SEEN\n    SEEN = kwargs\n    return [0] * len(kwargs['ids'])"
    )
    write(tmp_path, "def named(completions, language):\n    return [len(language)] * len(completions)", "named.py")
    reward = reward_of({"function": f"{path}:seen"})
    reward.score([{**sample, "ids": sample["id"]} for sample in SAMPLES])
    seen = sys.modules[reward.function.__module__].SEEN
    assert seen["prompts"] == ["2+2?", "2+3?"] and seen["completions"] == ["The answer is 4", "The answer is 6"]
    assert seen["answer"] == ["4", "5"] and seen["language"] == ["en", "fr"] and seen["id"] == ["a", "b"]
    assert "prompt" not in seen and "response_text" not in seen
    # Without **kwargs, only the columns it names.
    assert reward_of({"function": f"{tmp_path / 'named.py'}:named"}).score(SAMPLES) == [2.0, 2.0]


def test_a_function_from_an_importable_module(tmp_path, monkeypatch):
    write(tmp_path, FIVE_LINES, "user_rewards_mod.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert reward_of({"function": "user_rewards_mod:contains_answer"}).score(SAMPLES) == [1.0, 0.0]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("my_reward.py", "is not of the form path/to/file.py:function"),
        ("my_reward.py:", "is not of the form"),
        ("missing.py:fn", "reward function file not found: .*missing.py"),
    ],
)
def test_bad_specs_are_config_errors_naming_the_file(tmp_path, monkeypatch, spec, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, FIVE_LINES)
    with pytest.raises(ConfigError, match=message):
        load_config({"reward": {"function": spec}})


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        (FIVE_LINES, AttributeError, r"my_reward.py:nope: .*my_reward.py has no attribute 'nope'"),
        ("nope = 3", TypeError, "'nope' is a int, not a function"),
        ("def nope(text):\n    return []", TypeError, r"nope\(text\) must accept completions as a keyword argument"),
        ("def nope(prompts, completions, /):\n    return []", TypeError, "must accept completions"),
        ("import no_such_module_here", ImportError, r"my_reward.py: loading the reward file failed: ModuleNotFound"),
    ],
)
def test_loading_errors_name_the_file_and_function(tmp_path, source, error, message):
    path = write(tmp_path, source)
    with pytest.raises(error, match=message):
        reward_of({"function": f"{path}:nope"})


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ("return 1.0", TypeError, "returned a float; it must return a list of numbers"),
        ("return [1.0]", ValueError, "returned 1 scores for 2 completions"),
        ("return [1.0, 'x']", TypeError, "returned 'x' \\(str\\) at position 1, not a number"),
        ("raise KeyError('answer')", RuntimeError, "my_reward.py:fn raised KeyError: 'answer'"),
    ],
)
def test_call_errors_name_the_file_and_function(tmp_path, body, error, message):
    path = write(tmp_path, f"def fn(prompts, completions, **columns):\n    {body}")
    with pytest.raises(error, match=message):
        reward_of({"function": f"{path}:fn"}).score(SAMPLES)


def test_a_function_naming_a_column_the_samples_lack_is_told_which_columns_there_are(tmp_path):
    path = write(tmp_path, "def fn(prompts, completions, gold):\n    return [0.0] * len(prompts)")
    with pytest.raises(TypeError, match=r"my_reward.py:fn: cannot be called with the columns \['completions', "):
        reward_of({"function": f"{path}:fn"}).score(SAMPLES)


def combined(tmp_path: Path, *extra: dict) -> dict:
    path = write(tmp_path, FIVE_LINES)
    parts = [{"name": "math", "weight": 1.0}, {"function": f"{path}:contains_answer", "weight": 0.25}]
    return {"name": "combined", "rewards": [*parts, *extra]}


def test_combined_sums_weighted_parts_and_survives_a_saved_config(tmp_path):
    config = load_config({"reward": combined(tmp_path)})
    assert [component.name for component in config.reward.rewards] == ["math", "contains_answer"]
    again = load_config({"reward": config.model_dump(mode="json")["reward"]})
    assert again.reward == config.reward
    assert reward_of(combined(tmp_path)).score(SAMPLES) == [1.25, 0.0]
    shared = load_config({"reward": {**combined(tmp_path, {"name": "format", "timeout_s": 3}), "failure_score": -1}})
    assert [(part.reward.timeout_s, part.reward.failure_score) for part in shared.reward.rewards] == [
        (30.0, -1.0),
        (30.0, -1.0),
        (3.0, -1.0),
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"name": "math"}, "two components are labelled 'math'; give them distinct `label`s"),
        ({"name": "format", "label": "mean"}, "label 'mean' is taken by the step's reward/mean metric"),
        ({"name": "format", "num_workers": 2}, "num_workers belong to the combined reward, not to a component"),
        ({"name": "format", "wieght": 2}, r"reward.rewards.2.reward.wieght: unknown key"),
    ],
)
def test_bad_combinations_are_config_errors(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"reward": combined(tmp_path, extra)})


def test_the_worker_isolates_each_part_and_returns_it_for_the_metrics(tmp_path):
    from actors.reward import RewardWorker

    flaky = write(
        tmp_path, "def fn(prompts, completions, id, **_):\n    assert 'b' not in id\n    return [3.0]", "f.py"
    )
    config = combined(tmp_path, {"function": f"{flaky}:fn", "label": "flaky", "failure_score": -1.0, "weight": 2})
    worker = RewardWorker(0, 1, reward=load_config({"reward": config}).model_dump(mode="json")["reward"])
    scored = worker.score(Batch.from_rows(SAMPLES))
    # Sample b: math 0, contains_answer 0, flaky failed -> -1 (weight 2); sample a: 1 + 0.25 + 2 * 3.
    assert scored["rewards"].tolist() == [7.25, -2.0]
    assert scored["reward_failed"].tolist() == [0.0, 1.0]
    assert scored["reward/math"].tolist() == [1.0, 0.0] and scored["reward/contains_answer"].tolist() == [1.0, 0.0]
    assert scored["reward/flaky"].tolist() == [3.0, -1.0]


def test_a_none_score_is_a_failed_sample(tmp_path):
    from actors.reward import RewardWorker

    path = write(tmp_path, "def fn(prompts, completions, **_):\n    return [None, 0.5]")
    scored = RewardWorker(0, 1, reward={"name": "function", "function": f"{path}:fn"}).score(Batch.from_rows(SAMPLES))
    assert scored["rewards"].tolist() == [0.0, 0.5] and scored["reward_failed"].tolist() == [1.0, 0.0]
    assert [key for key in scored.tensors if key.startswith("reward/")] == []  # one part: no per-part tensors
