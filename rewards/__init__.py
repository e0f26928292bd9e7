"""Rewards: one module per reward, registered in rlcore.registry.REWARDS and found through the `rlcore.rewards`
entry points (pyproject.toml), so a module is imported only when a config names its reward."""

from rewards.base import Reward, RewardConfig
from rlcore.registry import REWARDS

__all__ = ["REWARDS", "Reward", "RewardConfig"]
