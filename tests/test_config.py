"""Config: YAML + dotted overrides, typed sections, errors that name the bad key."""

from pathlib import Path

import pytest
import yaml

from rlcore.config import ConfigError, RunConfig, load_config, save_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_defaults_and_overrides_are_typed():
    config = load_config(
        None, ["learner.lr=3e-6", "algorithm.group_size=4", 'rollout.stop=["\\n\\n"]', "learner.zero_stage=3"]
    )
    assert config.learner.lr == 3e-6 and config.learner.zero_stage == 3
    assert config.algorithm.name == "grpo" and config.algorithm.group_size == 4
    assert config.rollout.stop == ["\n\n"]
    assert config.reward.name == "math"


@pytest.mark.parametrize(
    "override, message",
    [
        ("learner.lrr=1", "learner.lrr: unknown key (did you mean 'lr'?)"),
        ("algorithm.clip_lo=0.1", "algorithm.clip_lo: unknown key (did you mean 'clip_low'?)"),
        ("reward.timeout=3", "reward.timeout: unknown key (did you mean 'timeout_s'?)"),
        ("learnr.lr=1", "learnr: unknown key (did you mean 'learner'?)"),
        ("learner.zero_stage=5", "learner.zero_stage"),
        ("algorithm.name=grpoo", "unknown algorithm 'grpoo' (did you mean 'grpo'?)"),
        ("reward.name=maths", "unknown reward 'maths' (did you mean 'math'?)"),
        ("rollout.per_request_seeds=true", "rollout.per_request_seeds needs GPUs"),
    ],
)
def test_bad_keys_and_values_are_named(override, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    assert message in str(error.value)


def test_per_request_seeds_are_opt_in_on_gpus():
    assert load_config(None, []).rollout.per_request_seeds is False
    assert load_config(None, ["rollout.num_gpus=1", "rollout.per_request_seeds=true"]).rollout.per_request_seeds


def test_malformed_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        load_config(None, ["learner.lr"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("learner: [1, 2")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_resolved_config_round_trips(tmp_path):
    config = load_config(CONFIGS / "demo_grpo.yaml", ["algorithm.steps=7"])
    save_config(config, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == config and again.algorithm.steps == 7
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["algorithm"]["clip_high"] == 0.2


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    assert isinstance(load_config(path), RunConfig)


def test_cli_reports_bad_input_in_words(tmp_path):
    import subprocess
    import sys

    base = [sys.executable, "-m", "rlcore.cli", "train", str(CONFIGS / "demo_grpo.yaml"), f"run.output_dir={tmp_path}"]
    typo = subprocess.run([*base, "learner.lrr=1"], capture_output=True, text=True, timeout=120)
    assert typo.returncode == 2 and "learner.lrr: unknown key (did you mean 'lr'?)" in typo.stderr
    missing = subprocess.run([*base, f"model.path={tmp_path}/nope"], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "model directory not found" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_min_tokens_reaches_vllm_sampling_capped_at_a_calls_max_tokens():
    from types import SimpleNamespace

    from actors.rollout import RolloutWorker

    assert load_config(None, []).rollout.min_tokens == 0
    with pytest.raises(ConfigError, match=r"rollout.min_tokens \(65\) must be <= rollout.max_tokens \(64\)"):
        load_config(None, ["rollout.min_tokens=65"])
    worker = SimpleNamespace(cfg=load_config(None, ["rollout.max_tokens=64", "rollout.min_tokens=64"]).rollout)
    assert RolloutWorker.sampling_params(worker, 2, None, None).min_tokens == 64
    assert RolloutWorker.sampling_params(worker, 2, None, {"max_tokens": 16}).min_tokens == 16  # a shorter call
