"""R-PRM training data from sampled critiques of gold-labelled steps (METHODS.md §4): SFT rows from critiques whose
verdict matches the gold label, balanced Yes/No; DPO pairs of a right-verdict critique (chosen) and a wrong-verdict
one (rejected), dropping steps where fewer than 1/3 of the sampled critiques are right, at most 2 pairs per step.
Pair rows have the plain form of rlcore.pair_files (prompt, chosen, rejected, id, language), so the DPO path loads
them as they are."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcore.prm import parse_verdict, with_verdict

MIN_RIGHT_SHARE = 1 / 3
MAX_PAIRS_PER_STEP = 2


@dataclass(frozen=True)
class CritiquedStep:
    """One step with its gold label (True = correct) and the critiques sampled for it; `prompt` is the PRM prompt
    (rlcore.prm.critique_prompt) the critiques answer."""

    id: str
    language: str
    prompt: str
    label: bool
    critiques: tuple[str, ...]


def labelled_steps(label: int, count: int) -> list[tuple[int, bool]]:
    """(index, gold label) of the steps of a ProcessBench-layout solution with `count` steps and first error `label`
    that have a gold label: every step when `label` is -1, else the steps before the first error (correct) and the
    first error (wrong); the steps after it have none (they build on a wrong one)."""
    if not -1 <= label < count:
        raise ValueError(f"label must be -1 or a step index below {count}, got {label}")
    if label < 0:
        return [(index, True) for index in range(count)]
    return [(index, True) for index in range(label)] + [(label, False)]


def _verdicts(step: CritiquedStep) -> tuple[list[str], list[str], int]:
    """(critiques with the gold verdict, critiques with the other verdict, critiques without a verdict)."""
    right: list[str] = []
    wrong: list[str] = []
    missing = 0
    for critique in step.critiques:
        verdict = parse_verdict(critique)
        if verdict is None:
            missing += 1
        else:
            (right if verdict == step.label else wrong).append(critique)
    return right, wrong, missing


def sft_rows(steps: Sequence[CritiquedStep], seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Prompt-completion rows from the critiques whose verdict matches the gold label, as many Yes as No (the larger
    side is subsampled, seeded); the completion ends with the verdict token. Also the counts kept and dropped."""
    yes: list[dict[str, Any]] = []
    no: list[dict[str, Any]] = []
    stats = {"no_verdict": 0, "wrong_verdict": 0}
    for step in steps:
        right, wrong, missing = _verdicts(step)
        stats["no_verdict"] += missing
        stats["wrong_verdict"] += len(wrong)
        for j, critique in enumerate(right):
            row = {"id": f"{step.id}/{j}", "language": step.language, "prompt": step.prompt}
            (yes if step.label else no).append(row | {"completion": with_verdict(critique, step.label)})
    keep = min(len(yes), len(no))
    rng = random.Random(seed)
    rows = rng.sample(yes, keep) + rng.sample(no, keep)
    stats |= {"yes": keep, "no": keep, "unbalanced_dropped": len(yes) + len(no) - 2 * keep}
    return sorted(rows, key=lambda row: row["id"]), stats


def dpo_pairs(
    steps: Sequence[CritiquedStep],
    seed: int = 0,
    min_right_share: float = MIN_RIGHT_SHARE,
    max_pairs_per_step: int = MAX_PAIRS_PER_STEP,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Pairs (right-verdict critique chosen, wrong-verdict critique rejected), at most `max_pairs_per_step` per step,
    each critique in at most one pair. A step is dropped when fewer than `min_right_share` of its sampled critiques
    (those without a verdict included) are right, or when none is wrong. Also the counts."""
    rng = random.Random(seed)
    pairs: list[dict[str, Any]] = []
    stats = {"steps": len(steps), "too_few_right": 0, "none_wrong": 0, "paired_steps": 0}
    for step in steps:
        right, wrong, _ = _verdicts(step)
        if not step.critiques or len(right) < min_right_share * len(step.critiques):
            stats["too_few_right"] += 1
            continue
        if not wrong:
            stats["none_wrong"] += 1
            continue
        stats["paired_steps"] += 1
        chosen, rejected = rng.sample(right, len(right)), rng.sample(wrong, len(wrong))
        for j, (good, bad) in enumerate(zip(chosen, rejected, strict=False)):
            if j == max_pairs_per_step:
                break
            pairs.append(
                {
                    "id": f"{step.id}/{j}",
                    "language": step.language,
                    "prompt": step.prompt,
                    "chosen": with_verdict(good, step.label),
                    "rejected": with_verdict(bad, not step.label),
                    "step_label": step.label,
                }
            )
    stats["pairs"] = len(pairs)
    return pairs, stats


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    # not rlcore.pair_files.write_jsonl: rlcore.pair_files imports rlcore.data, which imports rlcore.world, which
    # imports this module
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_prm_files(steps: Sequence[CritiquedStep], out_dir: str | Path, seed: int = 0) -> dict[str, Any]:
    """Write `prm_sft.jsonl` (prompt, completion) and `prm_dpo.jsonl` (prompt, chosen, rejected) built from the
    critiqued steps to `out_dir`. Returns the counts (steps, critiques, verdicts, the builders' counts) and paths."""
    sft, sft_stats = sft_rows(steps, seed)
    pairs, dpo_stats = dpo_pairs(steps, seed)
    verdicts = [(parse_verdict(text), step.label) for step in steps for text in step.critiques]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"sft": out / "prm_sft.jsonl", "dpo": out / "prm_dpo.jsonl"}
    write_jsonl(paths["sft"], sft)
    write_jsonl(paths["dpo"], pairs)
    return {
        "steps": len(steps),
        "yes_steps": sum(step.label for step in steps),
        "no_steps": sum(not step.label for step in steps),
        "critiques": len(verdicts),
        "with_verdict": sum(verdict is not None for verdict, _ in verdicts),
        "right_verdicts": sum(verdict == label for verdict, label in verdicts),
        "sft": {"rows": len(sft), **sft_stats},
        "dpo": dpo_stats,
        "paths": {name: str(path) for name, path in paths.items()},
    }
