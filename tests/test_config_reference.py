"""The config reference: every field described, docs/config.md current, `rlcore config --reference` prints it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from algorithms import ALGORITHMS
from algorithms.pairs import PAIR_BUILDERS
from rewards import REWARDS
from rlcore.cli import main
from rlcore.config_reference import config_reference, documented_classes

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "config.md"


def test_every_registered_config_class_is_in_the_reference():
    documented = {model for _, model in documented_classes()}
    for registry in (ALGORITHMS, REWARDS, PAIR_BUILDERS):
        for name in registry.names():
            assert registry.get(name).Config in documented, f"{registry.kind} {name!r} is missing from the reference"


def test_every_config_field_has_a_description():
    missing = [
        f"{model.__module__}.{model.__qualname__}.{key} (at {path})"
        for path, model in documented_classes()
        for key, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not missing, "config fields without a description:\n" + "\n".join(missing)


def test_docs_config_md_is_the_current_reference():
    # A fresh interpreter, as `make config-docs` runs: other tests register rewards of their own in this one.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "rlcore.cli", "config", "--reference"]
    fresh = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True).stdout
    assert DOCS.read_text() == fresh, "docs/config.md is stale: run `make config-docs`"


def test_reference_rows_give_type_bounds_default_and_description():
    text = config_reference()
    assert "| `group_size` | int, ≥ 2 | `8` | Samples per prompt (G)" in text
    assert "| `top_p` | float, > 0, ≤ 1 | `1.0` |" in text
    assert "| `address` | str \\| null | `null` |" in text
    assert "| `model` | str | required |" in text  # implicit_dpo's model has no default
    for name in ALGORITHMS.names():
        assert f"### `algorithm` — `name: {name}`" in text
    for name in REWARDS.names():
        assert f"### `reward` — `name: {name}`" in text
    for name in PAIR_BUILDERS.names():
        assert f"##### `algorithm.pair_builder` — `name: {name}`" in text


def test_cli_prints_the_reference(capsys):
    assert main(["config", "--reference"]) == 0
    assert capsys.readouterr().out == config_reference()


def test_cli_config_without_a_file_or_reference_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["config"])
    assert exit_info.value.code == 2
    assert "needs CONFIG (or --reference)" in capsys.readouterr().err
