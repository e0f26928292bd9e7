"""Name -> object registries: the extension points for algorithms, rewards, losses and advantage estimators.

rlcore never imports the floors above it. Built-in and third-party algorithms and rewards are found through
package entry points: a distribution declares, e.g. in its pyproject.toml,

    [project.entry-points."rlcore.rewards"]
    my_reward = "my_package.my_reward"          # a module that registers "my_reward" when imported
    other = "my_package.rewards:OtherReward"    # or the object itself, registered under the entry point's name

and `REWARDS.get("my_reward")` imports it on first use.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown name, or an entry point that failed to load; the message is for the user."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        if name not in self._items:
            for entry_point in self._entry_points():
                if entry_point.name == name:
                    self._load(entry_point)
        if name not in self._items:
            known = self.names()
            hint = difflib.get_close_matches(name, known, n=1)
            maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise RegistryError(f"unknown {self.kind} {name!r}{maybe}; known: {', '.join(known)}")
        return self._items[name]

    def names(self) -> list[str]:
        """Every registered name, after loading every installed entry point of this registry."""
        for entry_point in self._entry_points():
            if entry_point.name not in self._items:
                self._load(entry_point)
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except RegistryError:
            return False
        return True

    def _entry_points(self) -> list[EntryPoint]:
        return list(entry_points(group=self.entry_point_group)) if self.entry_point_group else []

    def _load(self, entry_point: EntryPoint) -> None:
        try:
            loaded: Any = entry_point.load()
        except Exception as error:  # a broken plug-in must be named, not crash with an import traceback
            raise RegistryError(
                f"{self.kind} {entry_point.name!r}: its entry point {entry_point.value!r} failed to load: "
                f"{type(error).__name__}: {error}"
            ) from error
        if entry_point.name not in self._items and not isinstance(loaded, types.ModuleType):
            self.register(entry_point.name)(loaded)


# The extension points configs name. Their base classes live on the floors above (algorithms.base.Algorithm,
# rewards.base.Reward); rlcore only knows them as registered classes with a pydantic `Config`.
ALGORITHMS: Registry[Any] = Registry("algorithm", "rlcore.algorithms")
REWARDS: Registry[Any] = Registry("reward", "rlcore.rewards")
PAIR_BUILDERS: Registry[Any] = Registry("pair builder", "rlcore.pair_builders")
# Step judges (rlcore.steps.StepJudge) with a pydantic `Config`: the rule checker, LLM judges, process reward models.
STEP_JUDGES: Registry[Any] = Registry("step judge", "rlcore.step_judges")
# By name, for config fields that choose a sub-section from a registry (json_schema_extra={"registry": NAME}).
NAMED_REGISTRIES: dict[str, Registry[Any]] = {
    "algorithms": ALGORITHMS,
    "rewards": REWARDS,
    "pair_builders": PAIR_BUILDERS,
    "step_judges": STEP_JUDGES,
}
