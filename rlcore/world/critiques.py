"""A critique teacher for the embedded world's steps, standing in for the strong LLM whose sampled critiques R-PRM
bootstraps from (METHODS.md §4). For each gold-labelled step of a labelled row (rlcore/world/labelled.py) it
writes K short critiques: the step recomputed in the step's own language and phrasing, what the step says, and the
verdict line. Like sampled critiques they err: with probability `slip` the recomputation is off and the verdict
follows it (wrong), with probability `no_verdict` the critique stops before the verdict line. The critiques become
R-PRM training data (rlcore.prm_data) with prompts of the compact template (rlcore.prm), which fits the tiny
model's 256 positions.

    python -m rlcore.world.critiques OUT_DIR --problems 2000 --seed 0
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from rlcore.grading import ANSWER_PHRASES
from rlcore.prm import VERDICT_QUESTION, critique_prompt
from rlcore.prm_data import CritiquedStep, labelled_steps, write_jsonl, write_prm_files
from rlcore.world.labelled import labelled_rows
from rlcore.world.lexicon import STEP_FORMATS
from rlcore.world.tasks import final_line, generate_problems, step_text

SLIP = 0.2
NO_VERDICT = 0.05
K = 4
SLIP_DELTAS = (-3, -2, -1, 1, 2, 3, 10, -10)  # the solver's slips in rlcore.world.tasks.corrupt_solution


@cache
def _step_patterns(language: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(operator, regex with groups left, right, result) per step sentence of `language`."""
    patterns = []
    for op, template in STEP_FORMATS[language].items():
        regex = re.escape(template)
        for slot in ("l", "r", "res"):
            regex = regex.replace(re.escape(f"{{{slot}}}"), f"(?P<{slot}>-?\\d+)")
        patterns.append((op, re.compile(regex)))
    return tuple(patterns)


def _parse_step(line: str, language: str) -> tuple[int, str, int, int] | None:
    """(left, op, right, result) of a step sentence in `language`, or None."""
    for op, pattern in _step_patterns(language):
        match = pattern.fullmatch(line.strip())
        if match:
            return int(match["l"]), op, int(match["r"]), int(match["res"])
    return None


def _parse_answer(line: str, language: str) -> int | None:
    match = re.fullmatch(re.escape(ANSWER_PHRASES[language]) + r"\s+(-?\d+)\.?", line.strip())
    return int(match.group(1)) if match else None


def _slipped(value: int, rng: random.Random) -> int:
    """`value` off by one of the solver's slips, kept non-negative as every world value is."""
    return value + rng.choice([delta for delta in SLIP_DELTAS if value + delta >= 0])


def critique(
    row: Mapping[str, Any],
    index: int,
    label: bool,
    rng: random.Random,
    slip: float = SLIP,
    no_verdict: float = NO_VERDICT,
) -> str:
    """One critique of step `index` with gold label `label`: 'Check: <recomputed step> The step says <value>:
    same|different.' and the verdict line with the verdict the teacher's own recomputation gives. A slip turns the
    recomputation into a wrong one that flips the verdict: off by a slip on a correct step, equal to the stated value
    on a wrong one."""
    language, line = row["language"], row["steps"][index]
    stated, expected = _stated_and_expected(row, index)
    if label != (stated == expected):
        raise ValueError(f"row {row.get('id')!r}: step {index}'s gold label {label} disagrees with the step {line!r}")
    value = expected
    if rng.random() < slip:  # the teacher errs in the direction that flips its verdict
        value = _slipped(expected, rng) if label else stated
    if index < len(row["gold_steps"]):
        gold = row["gold_steps"][index]
        recomputed = step_text(gold["left"], gold["op"], gold["right"], value, language)
    else:
        recomputed = final_line(value, language)
    # The comparison in words right after the two numbers, where a small model can make it; the verdict repeats it.
    text = f"Check: {recomputed} The step says {stated}: {'same' if value == stated else 'different'}."
    if rng.random() < no_verdict:
        return text
    return f"{text}\nVerification: {VERDICT_QUESTION} {'Yes' if value == stated else 'No'}"


def _stated_and_expected(row: Mapping[str, Any], index: int) -> tuple[int, int]:
    """(the value step `index` states, the value it should state). Up to the first error a step's inputs are the
    gold ones, so an operation step should state its gold result, and the final answer line the previous result."""
    lines, gold = row["steps"], row["gold_steps"]
    if index < len(gold):
        parsed = _parse_step(lines[index], row["language"])
        early = _parse_answer(lines[index], row["language"]) if parsed is None else None
        if parsed is None and early is None:
            raise ValueError(f"row {row.get('id')!r}: step {index} is not a world step: {lines[index]!r}")
        # An answer stated before the last operation is judged against the operation that should come next.
        return (parsed[3] if parsed else int(early or 0)), int(gold[index]["result"])
    answer = _parse_answer(lines[index], row["language"])
    previous = _parse_step(lines[index - 1], row["language"]) if index > 0 else None
    if answer is None or previous is None:
        raise ValueError(f"row {row.get('id')!r}: step {index} is not a world answer line: {lines[index]!r}")
    return answer, previous[3]


def answer_error_rows(rows: Sequence[Mapping[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """Solutions whose first error is their answer line, from reference rows (label -1): for each, the answer stated
    early (after a step that is not the last operation, when there is one) or off by a slip after the last one.
    Without them every answer line a PRM sees in training is right, and it learns to wave through answers."""
    rng = random.Random(f"rlcore-answer-errors:{seed}")
    out = []
    for row in rows:
        if row["label"] != -1:
            continue
        gold = row["gold_steps"]
        cut = rng.randrange(len(gold))  # keep steps [0, cut]; the answer comes after step `cut`
        value = int(gold[cut]["result"])
        if cut == len(gold) - 1:
            value = _slipped(value, rng)
        steps = [*row["steps"][: cut + 1], final_line(value, row["language"])]
        out.append(
            {**row, "id": f"{row['id']}-answer", "steps": steps, "label": cut + 1, "final_answer_correct": False}
        )
    return out


def critiqued_steps(
    rows: Iterable[Mapping[str, Any]], k: int = K, seed: int = 0, slip: float = SLIP, no_verdict: float = NO_VERDICT
) -> list[CritiquedStep]:
    """The gold-labelled steps of labelled rows with `k` critiques each, prompts from the compact template.
    Each step's critiques are seeded by (seed, row id, step), so they do not depend on the other rows."""
    for name, rate in (("slip", slip), ("no_verdict", no_verdict)):
        if not 0 <= rate <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {rate}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    out = []
    for row in rows:
        for index, label in labelled_steps(int(row["label"]), len(row["steps"])):
            rng = random.Random(f"rlcore-critiques:{seed}:{row['id']}:{index}")
            critiques = tuple(critique(row, index, label, rng, slip, no_verdict) for _ in range(k))
            prompt = critique_prompt(row["problem"], row["steps"][:index], row["steps"][index], "compact")
            out.append(CritiquedStep(f"{row['id']}/{index}", row["language"], prompt, label, critiques))
    return out


def write_prm_data(
    rows: Sequence[Mapping[str, Any]],
    out_dir: str | Path,
    k: int = K,
    seed: int = 0,
    slip: float = SLIP,
    no_verdict: float = NO_VERDICT,
    heldout: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Critique the rows' gold-labelled steps and write `prm_sft.jsonl` and `prm_dpo.jsonl` to `out_dir`
    (rlcore.prm_data.write_prm_files), plus `processbench_heldout.jsonl` when `heldout` rows are given.
    Returns the counts (rows, steps, critiques, the builders' counts) and the paths written."""
    counts = {"rows": len(rows)} | write_prm_files(critiqued_steps(rows, k, seed, slip, no_verdict), out_dir, seed)
    counts["heldout_rows"] = None if heldout is None else len(heldout)
    if heldout is not None:
        counts["paths"]["heldout"] = str(Path(out_dir) / "processbench_heldout.jsonl")
        write_jsonl(Path(counts["paths"]["heldout"]), heldout)
    return counts


def build(
    out_dir: str | Path,
    problems: int,
    heldout_problems: int,
    seed: int = 0,
    k: int = K,
    slip: float = SLIP,
    no_verdict: float = NO_VERDICT,
    error_share: float = 0.5,
    answer_errors: bool = False,
) -> dict[str, Any]:
    """Training data from `problems` train-split problems and held-out ProcessBench rows from `heldout_problems`
    eval-split ones (each problem in every world language; the splits share no problem). `answer_errors` adds
    answer_error_rows to the training rows (measured worse on the tiny PRM: docs/process_rewards.md)."""
    train = labelled_rows(generate_problems("train", problems, seed=seed), seed, error_share)
    if answer_errors:
        train += answer_error_rows(train, seed)
    heldout = labelled_rows(generate_problems("eval", heldout_problems, seed=seed), seed + 1, error_share)
    shared = {row["problem"] for row in train} & {row["problem"] for row in heldout}
    if shared:  # the splits come from a hash of the canonical problem: this would be a bug in rlcore.world.tasks
        raise RuntimeError(f"{len(shared)} held-out questions also in the training data")
    return write_prm_data(train, out_dir, k, seed, slip, no_verdict, heldout)


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: write prm_sft.jsonl, prm_dpo.jsonl and processbench_heldout.jsonl and print the counts."""
    parser = argparse.ArgumentParser(
        prog="python -m rlcore.world.critiques", description="R-PRM training data from teacher critiques of world steps"
    )
    parser.add_argument("out_dir")
    parser.add_argument("--problems", type=int, default=2000, help="train-split problems (each in every language)")
    parser.add_argument("--heldout", type=int, default=100, help="eval-split problems for processbench_heldout")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=K, help="critiques per step")
    parser.add_argument("--slip", type=float, default=SLIP, help="chance a critique's recomputation is off")
    parser.add_argument("--no-verdict", type=float, default=NO_VERDICT, help="chance a critique has no verdict")
    parser.add_argument("--error-share", type=float, default=0.5, help="share of solutions with a slip")
    parser.add_argument("--answer-errors", action="store_true", help="add solutions whose answer line is the error")
    args = parser.parse_args(argv)
    counts = build(
        args.out_dir,
        args.problems,
        args.heldout,
        args.seed,
        args.k,
        args.slip,
        args.no_verdict,
        args.error_share,
        args.answer_errors,
    )
    print(json.dumps(counts, indent=2))


if __name__ == "__main__":
    main()
