"""`rlcore submit`'s pure parts: the job's entrypoint and runtime environment."""

from __future__ import annotations

import pytest

from rlcore.config import ConfigError
from rlcore.submit import job_runtime_env, train_entrypoint


def test_the_entrypoint_names_the_config_relative_to_the_working_dir(tmp_path):
    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "my run.yaml"
    entrypoint = train_entrypoint(config, tmp_path, ["learner.lr=1e-6", "data.eval_languages=[en, fr]"])
    assert entrypoint == "rlcore train 'configs/my run.yaml' learner.lr=1e-6 'data.eval_languages=[en, fr]'"
    with pytest.raises(ConfigError, match="outside the working dir"):
        train_entrypoint(tmp_path.parent / "elsewhere.yaml", tmp_path, [])


def test_the_runtime_env_uploads_the_working_dir_without_environments_and_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", "/opt/ops")
    env = job_runtime_env(tmp_path)
    assert env["working_dir"] == str(tmp_path) and {".venv", ".git", "runs"} <= set(env["excludes"])
    assert env["env_vars"] == {"TORCH_EXTENSIONS_DIR": "/opt/ops"}
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR")
    assert job_runtime_env(tmp_path)["env_vars"] == {}
