"""Config overrides, named-section validation and error wording on hand-made inputs (`make mutation`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rlcore.config import (
    ConfigError,
    NamedSection,
    RunConfig,
    _named_class,
    _suggestion,
    apply_override,
    describe_errors,
    load_config,
    validate_named,
)


def test_apply_override_parses_values_as_yaml_and_creates_sections():
    data: dict = {"learner": {"lr": 1.0}}
    apply_override(data, " learner.warmup_steps = 3")
    apply_override(data, "rollout.stop=[a, b]")
    apply_override(data, "a.b.c=true")
    apply_override(data, "x=")
    apply_override(data, "y=   ")
    apply_override(data, "z=[unclosed")
    apply_override(data, "w=k=v")
    assert data == {
        "learner": {"lr": 1.0, "warmup_steps": 3},
        "rollout": {"stop": ["a", "b"]},
        "a": {"b": {"c": True}},
        "x": None,
        "y": None,
        "z": "[unclosed",  # not YAML: kept as text
        "w": "k=v",
    }


def test_apply_override_errors_name_the_override():
    for bad in ("learner.lr", "=3", " =3"):
        with pytest.raises(ConfigError) as error:
            apply_override({}, bad)
        assert str(error.value) == f"override {bad!r} is not of the form section.key=value"
    with pytest.raises(ConfigError) as error:
        apply_override({"learner": 5}, "learner.lr=1")
    assert str(error.value) == "override 'learner.lr=1': 'learner' is a value, not a section"


def test_validate_named_uses_the_class_registered_under_the_name():
    class A(NamedSection):
        lr: float = 0.0

    seen = []

    def lookup(name):
        seen.append(name)
        if name != "a":
            raise KeyError(f"unknown thing {name!r}")
        return A

    assert isinstance(validate_named({"lr": 0.5, "name": "a"}, lookup, default="zz"), A)
    with pytest.raises(ValueError, match=r"^unknown thing 'zz'$"):
        validate_named({"lr": 0.5}, lookup, default="zz")  # no name: the default is looked up
    assert seen == ["a", "zz"]
    with pytest.raises(ValueError, match=r"^must be a mapping with a 'name' key$"):
        validate_named(["a"], lookup, default="a")


def test_validate_named_revalidates_a_section_instance():
    config = load_config(None, ["algorithm.group_size=3"])
    again = RunConfig(algorithm=config.algorithm)
    assert again.algorithm.group_size == 3 and type(again.algorithm) is type(config.algorithm)


def test_default_named_sections_are_grpo_and_math():
    config = load_config({"algorithm": {"steps": 2}, "reward": {}})
    assert (config.algorithm.name, config.algorithm.steps, config.reward.name) == ("grpo", 2, "math")
    assert config.run_dir == Path("runs") / "run"


def test_load_config_reads_yaml_and_applies_overrides_in_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("learner:\n  lr: 0.5\nrun:\n  name: x\n")
    config = load_config(path, ["learner.lr=0.25", "learner.lr=0.125", "run.output_dir=out"])
    assert config.learner.lr == 0.125 and config.run_dir == Path("out") / "x"
    assert load_config(str(path)).learner.lr == 0.5
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match=r"empty.yaml: the file is empty"):  # an empty file is a mistake
        load_config(empty)
    assert load_config({"learner": {"lr": 0.5}}, ["learner.lr=0.25"]).learner.lr == 0.25


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^config file not found: .*nope.yaml$"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("learner: [1, 2")
    with pytest.raises(ConfigError, match=r"^.*bad.yaml: not valid YAML: "):
        load_config(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: the top level must be a mapping of sections$"):
        load_config(bad)
    bad.write_text("learner:\n  lrr: 1\n")
    with pytest.raises(ConfigError) as error:
        load_config(bad)
    assert str(error.value) == f"{bad}: learner.lrr: unknown key (did you mean 'lr'?)"  # one problem, one line
    with pytest.raises(ConfigError) as error:
        load_config({"learner": {"lr": -1, "zero_stage": 5}})
    lines = str(error.value).splitlines()
    assert lines[0] == "config: invalid configuration"
    assert sorted(lines[1:]) == [
        "  learner.lr: Input should be greater than 0 (got -1)",
        "  learner.zero_stage: Input should be 0, 1, 2 or 3 (got 5)",
    ]


def errors_of(data: dict) -> ValidationError:
    with pytest.raises(ValidationError) as error:
        RunConfig.model_validate(data)
    return error.value


def test_describe_errors_lists_every_problem_with_suggestions():
    data = {"learnr": {}, "learner": {"micro_batch_sise": 2, "lr": "fast"}, "rollout": {"zzz": 1}}
    lines = describe_errors("f.yaml", errors_of(data), data).splitlines()
    assert lines[0] == "f.yaml: invalid configuration"
    assert sorted(lines[1:]) == [
        "  learner.lr: Input should be a valid number, unable to parse string as a number (got 'fast')",
        "  learner.micro_batch_sise: unknown key (did you mean 'micro_batch_size'?)",
        "  learnr: unknown key (did you mean 'learner'?)",
        "  rollout.zzz: unknown key",
    ]


def test_suggestions_follow_the_named_algorithm_and_reward_classes():
    data = {"algorithm": {"name": "iterative_dpo", "iteratons": 2}, "reward": {"timeout": 1}}
    text = describe_errors("c", errors_of(data), data)
    assert "  algorithm.iteratons: unknown key (did you mean 'iterations'?)" in text.splitlines()
    assert "  reward.timeout: unknown key (did you mean 'timeout_s'?)" in text.splitlines()
    assert _suggestion(("algorithm", "clip_lo"), {}) == " (did you mean 'clip_low'?)"  # grpo by default
    assert _suggestion(("reward", "failure_scor"), {"reward": None}) == " (did you mean 'failure_score'?)"
    assert _suggestion(("nosuch", "x"), {}) == ""
    assert _suggestion(("learner", "lr", "x"), {}) == ""  # inside a plain value: no fields to suggest
    assert _suggestion(("algorithm", "x"), {"algorithm": {"name": "nope"}}) == ""
    assert _suggestion(("learner", "qqqqqq"), {}) == ""
    assert _suggestion(("data", "eval_languages", "x"), {}) == ""  # a list field, not a section
    assert _suggestion(("algorithm", "x", "y"), {"algorithm": {"name": "nope"}}) == ""


def test_load_config_suggests_keys_of_the_named_algorithm():
    with pytest.raises(ConfigError) as error:
        load_config({"algorithm": {"name": "iterative_dpo", "iteratons": 2}})
    assert str(error.value) == "config: algorithm.iteratons: unknown key (did you mean 'iterations'?)"


def test_named_class_finds_config_classes_by_section():
    from algorithms import ALGORITHMS
    from rewards import REWARDS

    assert _named_class("algorithm", {}) is ALGORITHMS.get("grpo").Config
    assert _named_class("reward", {}) is REWARDS.get("math").Config
    assert _named_class("algorithm", {"algorithm": {"name": "iterative_dpo"}}) is ALGORITHMS.get("iterative_dpo").Config
    assert _named_class("reward", {"reward": {"name": "nope"}}) is None
    assert _named_class("algorithm", {"algorithm": {"name": "math"}}) is None
