"""Reading a config file: every way it can be unusable (missing, a folder, not UTF-8, not YAML, empty, not a
mapping) is a ConfigError of one line naming the file (and line)."""

from __future__ import annotations

from pathlib import Path

import yaml


class ConfigError(ValueError):
    """A configuration problem, worded for the person who wrote the config."""


def read_config_file(path: Path) -> dict:
    """A config file's mapping; a missing, unreadable, non-UTF-8, empty or non-mapping file is a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; give the YAML config file") from None
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte {error.object[error.start]:#x}); save it as UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty; write at least `algorithm: {{name: grpo}}`")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data
