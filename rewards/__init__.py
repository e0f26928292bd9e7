"""Rewards: one module per reward, each registered in REWARDS under the name configs use."""

from rewards import implicit_dpo, math_rule  # noqa: F401  (register "implicit_dpo", "math" and "format")
from rewards.base import REWARDS, Reward, RewardConfig

__all__ = ["REWARDS", "Reward", "RewardConfig"]
