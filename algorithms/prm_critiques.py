"""R-PRM training data from a teacher model (METHODS.md §4): K critiques sampled from the teacher for every
gold-labelled step of ProcessBench-layout solutions (e.g. PRM800K steps), written as `prm_sft.jsonl` (right-verdict
critiques, Yes/No balanced) and `prm_dpo.jsonl` (right- vs wrong-verdict pairs) by rlcore.prm_data. The teacher is
the config's model, run by rollout workers only; the template, K, temperature, top-p and the longest critique come
from the config's reward section when it is `rprm` (else R-PRM's paper settings), and flags override them.

    python -m algorithms.prm_critiques CONFIG --steps LABELLED.jsonl --out DIR [dotted overrides ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from actors.runtime import Runtime
from rlcore.batch import Batch
from rlcore.chat import EncodedPrompt, PromptFormatter
from rlcore.cli import report_error
from rlcore.config import ConfigError, RunConfig, load_config
from rlcore.modeling import resolve_model_path
from rlcore.prm import TEMPLATES, Template, critique_prompt
from rlcore.prm_data import CritiquedStep, labelled_steps, write_prm_files
from rlcore.processbench import LabeledSolution, read_processbench


class Generator(Protocol):
    """What samples critiques: actors.runtime.Runtime (its rollout workers), or a scripted one in tests."""

    def generate(self, prompts: Batch, n: int, sampling: dict[str, Any] | None = None) -> Batch: ...


class Encoder(Protocol):
    """What turns a prompt text into the teacher's prompt ids: rlcore.chat.PromptFormatter."""

    def encode(self, prompt: str) -> EncodedPrompt: ...


def sample_critiques(
    generator: Generator,
    prompts: Encoder,
    rows: Sequence[LabeledSolution],
    k: int,
    sampling: Mapping[str, Any],
    template: Template = "rprm",
    language: str = "en",
    max_prompt_tokens: int | None = None,
) -> list[CritiquedStep]:
    """K critiques of every gold-labelled step of `rows`, all sampled in ONE generate call; `sampling` holds
    temperature, top_p and max_tokens. Steps whose prompt is longer than `max_prompt_tokens` are left out."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if sampling.get("stop"):  # the verdict word comes after the verdict question: a stop there would cut it off
        raise ValueError("critiques are sampled without stop strings")
    todo: list[tuple[str, str, bool, list[int]]] = []
    for row in rows:
        for index, label in labelled_steps(row.label, len(row.steps)):
            text = critique_prompt(row.problem, row.steps[:index], row.steps[index], template)
            ids = prompts.encode(text).ids
            if max_prompt_tokens is None or len(ids) <= max_prompt_tokens:
                todo.append((f"{row.id}/{index}", text, label, ids))
    if not todo:
        return []
    batch = Batch.from_rows([{"prompt_ids": ids} for *_, ids in todo])
    texts = [str(text) for text in generator.generate(batch, n=k, sampling=dict(sampling))["response_text"]]
    if len(texts) != k * len(todo):
        raise RuntimeError(f"the generator returned {len(texts)} critiques for {len(todo)} prompts x {k}")
    # samples come prompt by prompt, k each (the rollout workers keep a prompt's group together)
    return [
        CritiquedStep(step_id, language, text, label, tuple(texts[i * k : (i + 1) * k]))
        for i, (step_id, text, label, _) in enumerate(todo)
    ]


@dataclass(frozen=True)
class CritiqueSettings:
    """How the teacher critiques: R-PRM's paper settings unless the config's `rprm` reward or flags say otherwise."""

    template: Template = "rprm"
    k: int = 10
    temperature: float = 0.95
    top_p: float = 0.95
    max_tokens: int = 1024

    @classmethod
    def from_config(cls, config: RunConfig) -> CritiqueSettings:
        reward: Any = config.reward
        if reward.name != "rprm":
            return cls()
        return cls(reward.template, reward.critiques, reward.temperature, reward.top_p, reward.max_critique_tokens)

    def sampling(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens}


def build(
    config: RunConfig, steps_file: str | Path, out_dir: str | Path, settings: CritiqueSettings, language: str = "en"
) -> dict[str, Any]:
    """Critique the labelled steps with the config's model as the teacher and write the R-PRM training files;
    returns the counts (labelled steps, steps left out as too long, critiques, verdicts, SFT rows, pairs)."""
    rows = read_processbench(steps_file)
    labelled = sum(len(labelled_steps(row.label, len(row.steps))) for row in rows)
    max_prompt_tokens = config.rollout.max_model_len - settings.max_tokens
    if max_prompt_tokens < 1:
        raise ConfigError(f"rollout.max_model_len={config.rollout.max_model_len} leaves no room for a prompt")
    prompts = PromptFormatter.for_model(config.model.path, config.data.chat_template)
    runtime = Runtime(
        config, total_optimizer_steps=0, policy_path=resolve_model_path(config.model.path), roles=("rollout",)
    )
    try:
        steps = sample_critiques(
            runtime, prompts, rows, settings.k, settings.sampling(), settings.template, language, max_prompt_tokens
        )
    finally:
        runtime.shutdown()
    counts = write_prm_files(steps, out_dir, config.run.seed)
    return {"rows": len(rows), "labelled_steps": labelled, "too_long": labelled - len(steps)} | counts


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: sample the critiques, write prm_sft.jsonl and prm_dpo.jsonl into --out, print the counts."""
    parser = argparse.ArgumentParser(
        prog="python -m algorithms.prm_critiques",
        description="R-PRM training data: critiques sampled from the config's model (the teacher) for gold-labelled "
        "steps (ProcessBench layout: id, problem, steps, label = first wrong step or -1)",
    )
    parser.add_argument("config", help="YAML config whose model is the teacher (rollout workers only)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. rollout.num_workers=8")
    parser.add_argument("--steps", required=True, help="labelled solutions, ProcessBench layout (JSONL/JSON/Parquet)")
    parser.add_argument("--out", required=True, help="directory for prm_sft.jsonl and prm_dpo.jsonl")
    parser.add_argument("--template", choices=TEMPLATES, help="critique prompt (default: reward.template or rprm)")
    parser.add_argument("--k", type=int, help="critiques per step (default: reward.critiques or 10)")
    parser.add_argument("--temperature", type=float, help="default: reward.temperature or 0.95")
    parser.add_argument("--top-p", type=float, help="default: reward.top_p or 0.95")
    parser.add_argument("--max-tokens", type=int, help="longest critique (default: reward.max_critique_tokens or 1024)")
    parser.add_argument("--language", default="en", help="language of the rows written (pair files carry one)")
    parser.add_argument("--verbose", action="store_true", help="the traceback of a failure")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
        flags: dict[str, Any] = {
            "template": args.template,
            "k": args.k,
            "temperature": args.temperature,
            "top_p": args.top_p,
            "max_tokens": args.max_tokens,
        }
        settings = replace(
            CritiqueSettings.from_config(config), **{key: value for key, value in flags.items() if value is not None}
        )
        counts = build(config, args.steps, args.out, settings, args.language)
    except Exception as error:  # the boundary: one `error:` line, as `rlcore` prints
        return report_error(error, args.verbose)
    print(json.dumps(counts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
