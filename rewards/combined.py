"""A weighted sum of rewards, each scored, isolated and logged on its own:

    reward:
      name: combined
      rewards:
        - {name: math, weight: 1.0}
        - {function: my_reward.py:brevity, weight: 0.2}

A component is any reward section plus `weight` (default 1) and `label` (default: the function's name for a
function reward, else the reward's name); the step metrics get `reward/<label>`, the mean of that component's
unweighted scores. The reward worker scores each component under the component's own timeout_s and failure_score
(those given to the combined reward, unless the component sets its own), so a failing component costs a sample that
component's score (and marks it failed), never the others'.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import (
    Field,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from rewards.base import Reward, RewardConfig
from rlcore.config import NamedSection, Section, validate_reward
from rlcore.registry import REWARDS

RESERVED_LABELS = ("mean", "std", "failed")  # other reward/* metrics of a step
WORKER_KEYS = ("num_workers", "num_cpus", "num_gpus")  # components run inside the combined reward's workers
INHERITED = ("timeout_s", "failure_score")  # the combined reward's, unless a component sets its own


class Component(Section):
    weight: float = Field(1.0, description="Multiplies this component's score in the sum.")
    label: str | None = Field(None, description="Metric name: reward/<label>.")
    reward: SerializeAsAny[NamedSection]

    @model_validator(mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """YAML writes a component flat; its weight and label are split from the reward's own keys."""
        if not isinstance(value, dict) or "reward" in value:
            return value
        rest = {key: item for key, item in value.items() if key not in ("weight", "label")}
        return {**{key: value[key] for key in ("weight", "label") if key in value}, "reward": rest}

    @field_validator("reward", mode="before")
    @classmethod
    def _reward(cls, value: Any) -> Any:
        reward = validate_reward(value)
        overridden = sorted(set(WORKER_KEYS) & reward.model_fields_set)
        if overridden:
            raise ValueError(f"{', '.join(overridden)} belong to the combined reward, not to a component")
        return reward

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        reward = {key: value for key, value in data.pop("reward").items() if key not in WORKER_KEYS}
        return {**reward, **data}

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        function = getattr(self.reward, "function", None)
        return function.rpartition(":")[2] if function else self.reward.name


class CombinedConfig(RewardConfig):
    rewards: list[Component] = Field(
        ...,
        min_length=1,
        description="Components: reward sections with a `weight` (default 1) and a `label` for their metric; "
        "each keeps its own timeout_s and failure_score.",
    )

    def worker_env(self) -> dict[str, str]:
        """What the components' engines need, on the combined reward's workers (their GPUs are its GPUs)."""
        env: dict[str, str] = {}
        for component in self.rewards:
            reward = component.reward.model_copy(update={"num_gpus": self.num_gpus})
            env.update(reward.worker_env() if isinstance(reward, RewardConfig) else {})
        return env

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, value: Any) -> Any:
        """timeout_s and failure_score given here are those of every component that does not set its own."""
        if not isinstance(value, dict) or not isinstance(value.get("rewards"), list):
            return value
        shared = {key: value[key] for key in INHERITED if key in value}
        parts = [{**shared, **part} if isinstance(part, dict) else part for part in value["rewards"]]
        return {**value, "rewards": parts}

    @field_validator("rewards")
    @classmethod
    def _distinct(cls, components: list[Component]) -> list[Component]:
        names = [component.name for component in components]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two components are labelled {name!r}; give them distinct `label`s")
            if name in RESERVED_LABELS:
                raise ValueError(f"label {name!r} is taken by the step's reward/{name} metric; choose another")
        return components


@REWARDS.register("combined")
class CombinedReward(Reward):
    Config = CombinedConfig
    config: CombinedConfig

    def __init__(self, config: CombinedConfig):
        super().__init__(config)
        self.parts = [
            (component.name, component.weight, REWARDS.get(component.reward.name)(component.reward))
            for component in config.rewards
        ]

    def components(self) -> list[tuple[str, float, Reward]]:
        return self.parts

    def score(self, samples: list[dict[str, Any]]) -> list[float]:
        """The weighted sum, for callers without per-component isolation (e.g. `rlcore serve-reward`)."""
        total = np.zeros(len(samples))
        for _, weight, reward in self.parts:
            total += weight * np.asarray(reward.score(samples), dtype=float)
        return total.tolist()
