"""The generation workloads the throughput benchmarks share (rollout_throughput.py, grpo_throughput.py), and the
overrides that keep a timed rlcore run to its steps (QUIET; also async_rollout.py).

short: the demo's (configs/demo_grpo.yaml: up to its rollout.max_tokens, each completion ends at the model's EOS).
long: every completion exactly LONG_TOKENS tokens. The embedded world's problems have at most two operations
(rlcore/world/tasks.py, KINDS) and the tiny model answers them in about 14 tokens, so a long workload cannot come
from the task: EOS is suppressed until LONG_TOKENS (vLLM min_tokens = max_tokens through rollout.min_tokens; HF
generate min_new_tokens = max_new_tokens), which gives every side the same sampled-token budget. The text past the
answer is whatever the model samples; rewards are computed on it as usual (they matter to throughput only through
the work they cost, which is the same on both sides).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo_grpo.yaml"
LONG_TOKENS = 192  # + the longest prompt (about 40 tokens) stays within the tiny model's 256 positions
WORKLOADS = ("short", "long")
# Overrides that switch off what would add work outside the training step (evaluation, checkpoints, plots, progress
# bars) when a benchmark times rlcore's steps.
QUIET = (
    "eval.every_steps=0",
    "eval.at_start=false",
    "checkpoint.every_steps=0",
    "checkpoint.save_final=false",
    "logging.tensorboard=false",
    "logging.plots=false",
    "logging.progress=false",
)


@dataclass(frozen=True)
class Workload:
    name: str
    max_tokens: int
    min_tokens: int  # 0: completions end at EOS; = max_tokens: fixed-length completions

    @property
    def fixed_length(self) -> bool:
        return self.min_tokens == self.max_tokens


def workload(name: str) -> Workload:
    """The named workload (short: the demo config's rollout.max_tokens)."""
    from rlcore.config import load_config

    if name == "short":
        return Workload("short", load_config(DEMO_CONFIG).rollout.max_tokens, 0)
    if name == "long":
        return Workload("long", LONG_TOKENS, LONG_TOKENS)
    raise ValueError(f"unknown workload {name!r}; choose one of {WORKLOADS}")
