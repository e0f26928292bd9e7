"""A reward written as a plain Python function, in TRL's convention: `fn(prompts, completions, **columns)`.

`reward: {function: my_reward.py:score}` loads `score` from a file (a path, made absolute against the working
directory when the config is read) or `reward: {function: my_package.rewards:score}` from an importable module.
The function is called with keyword arguments: `prompts` and `completions` (lists of strings), and one list per other
sample column (answer, language, id, finish_reason, ...); a function without `**kwargs` gets only the arguments
it names (it must take `completions`). It returns one number per completion; None (TRL's "not applicable") scores
the sample failure_score.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import numbers
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from rewards.base import Reward, RewardConfig
from rlcore.registry import REWARDS


class FunctionConfig(RewardConfig):
    function: str = Field(
        ...,
        description="`path/to/file.py:fn` or `package.module:fn`, a function "
        "(prompts, completions, **columns) -> list[float]; `name: function` is implied when this key is given.",
    )

    @field_validator("function")
    @classmethod
    def _locate(cls, value: str) -> str:
        source, sep, name = value.rpartition(":")
        if not sep or not source or not name.isidentifier():
            raise ValueError(f"{value!r} is not of the form path/to/file.py:function or package.module:function")
        if not _is_file(source):
            return value
        path = Path(source).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"reward function file not found: {path}")
        return f"{path}:{name}"


@REWARDS.register("function")
class FunctionReward(Reward):
    Config = FunctionConfig
    config: FunctionConfig
    runs_in_subprocess = True  # user code may loop forever; the scoring process loads the function by its path

    def __init__(self, config: FunctionConfig):
        super().__init__(config)
        self.function = load_function(config.function)
        self.takes_any, self.named = keyword_parameters(self.function)

    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        keys = dict.fromkeys(key for sample in samples for key in sample if key not in ("prompt", "response_text"))
        arguments: dict[str, Any] = {
            "prompts": [sample["prompt"] for sample in samples],
            "completions": [sample["response_text"] for sample in samples],
            **{key: [sample.get(key) for sample in samples] for key in keys},
        }
        if not self.takes_any:
            arguments = {key: value for key, value in arguments.items() if key in self.named}
        where = self.config.function
        try:
            inspect.signature(self.function).bind(**arguments)
        except TypeError as error:
            raise TypeError(f"{where}: cannot be called with the columns {sorted(arguments)}: {error}") from None
        try:
            result = self.function(**arguments)
        except Exception as error:
            raise RuntimeError(f"{where} raised {type(error).__name__}: {error}") from error
        return check_scores(result, len(samples), where)


def load_function(spec: str) -> Callable[..., Any]:
    """The function `spec` names (`file.py:fn` or `module:fn`), checked to accept completions."""
    source, _, name = spec.rpartition(":")
    module = _load_file(Path(source)) if _is_file(source) else _import(source, spec)
    function = getattr(module, name, None)
    if function is None:
        raise AttributeError(f"{spec}: {source} has no attribute {name!r}")
    if not callable(function):
        raise TypeError(f"{spec}: {name!r} is a {type(function).__name__}, not a function")
    takes_any, by_keyword = keyword_parameters(function)
    if "completions" not in by_keyword and not takes_any:
        raise TypeError(
            f"{spec}: {name}{inspect.signature(function)} must accept completions as a keyword argument "
            "(the convention is fn(prompts, completions, **columns) -> list[float])"
        )
    return function


def keyword_parameters(function: Callable[..., Any]) -> tuple[bool, set[str]]:
    """(whether it takes **kwargs, the names it takes by keyword)."""
    parameters = inspect.signature(function).parameters.values()
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    return takes_any, {p.name for p in parameters if p.kind not in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL)}


def check_scores(result: Any, expected: int, where: str) -> list[float]:
    """One float per sample: numbers (None -> NaN, which the reward worker scores failure_score)."""
    if isinstance(result, (str, bytes, dict)) or not hasattr(result, "__len__"):
        raise TypeError(f"{where} returned a {type(result).__name__}; it must return a list of numbers")
    if len(result) != expected:
        raise ValueError(f"{where} returned {len(result)} scores for {expected} completions")
    scores = []
    for i, value in enumerate(result):
        if value is not None and not isinstance(value, numbers.Real):
            raise TypeError(f"{where} returned {value!r} ({type(value).__name__}) at position {i}, not a number")
        scores.append(math.nan if value is None else float(value))
    return scores


def _is_file(source: str) -> bool:
    return source.endswith(".py") or "/" in source or "\\" in source


def _load_file(path: Path) -> Any:
    # A unique module name per file, so that two reward files named alike do not replace each other.
    module_name = f"rlcore_reward_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: not a loadable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before running it, as import does (dataclasses and pickling need it)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise ImportError(f"{path}: loading the reward file failed: {type(error).__name__}: {error}") from error
    return module


def _import(module: str, spec: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{spec}: cannot import {module!r}: {error}") from error
