"""Iterative DPO (METHODS.md §2) with a pair builder; the loop (generate and pair with π_t, reference log-probs, DPO
steps, sync, evaluate) is algorithms/dpo_iterations.py's:

    for t = 1..T:
        prompts = data.next(prompts_per_iteration)
        pairs   = pair_builder.build(prompts)          # generate with π_t on the rollout workers, annotate, pair
        DPO on the pairs; sync(π_{t+1} -> rollout); evaluate; checkpoint

Offline DPO on a pair file (`pair_file`) is one iteration, no generation."""

from __future__ import annotations

from typing import Any

from algorithms.base import ALGORITHMS
from algorithms.dpo_config import IterativeDPOConfig
from algorithms.dpo_iterations import DPOIterations
from algorithms.pairs import PAIR_BUILDERS, BuildResult, PairContext
from rlcore.config import RunConfig
from rlcore.data import PromptSampler
from rlcore.pair_files import load_pair_file


@ALGORITHMS.register("iterative_dpo")
class IterativeDPO(DPOIterations):
    Config = IterativeDPOConfig
    cfg: IterativeDPOConfig

    def __init__(self, config: RunConfig):
        super().__init__(config)
        self.builder = PAIR_BUILDERS.get(self.cfg.pair_builder.name)(self.cfg.pair_builder, config.data.train_languages)
        self.rows_by_key: dict[tuple[str, str], dict[str, Any]] = {}  # (id, language) -> row, in every language
        self.offline_pairs: list[dict[str, Any]] = []  # the pair file's pairs (offline DPO)

    def load_data(self) -> None:
        super().load_data()
        if self.cfg.pair_file:  # read now, so a bad row fails before any worker starts
            self.offline_pairs = load_pair_file(self.cfg.pair_file, self.prompts)

    def make_sampler(self, rows: list[dict[str, Any]]) -> PromptSampler:
        self.rows_by_key = {(row["id"], row["language"]): row for row in rows}
        rows = [row for row in rows if row["language"] in self.builder.prompt_languages()]
        return PromptSampler(rows, self.config.run.seed, self.config.data.shuffle)

    def build_pairs(self, iteration: int) -> BuildResult:
        """Generate with π_t, annotate and pair (or read the pair file)."""
        cfg = self.cfg
        if cfg.pair_file:  # offline DPO
            return BuildResult(self.offline_pairs, [])
        prompts = self.sampler.next_batch(cfg.prompts_per_iteration)
        sampling = {"temperature": cfg.temperature} if cfg.temperature is not None else {}
        ctx = PairContext(
            self.runtime, sampling, self.prompts.tokenizer, self.rows_by_key, self.config.data.chat_template
        )
        with self.phase("generate"):
            return self.builder.build(prompts, ctx).without_identical()
