"""Several seeds of one config (`run.seeds: [1, 2, 3]`): the run once per seed into `<run_dir>/seed_<s>/`, one after
the other in this process (so on the same Ray cluster), then `<run_dir>/aggregate.json` and a table.

Per language (and for the means of rlcore.evaluation.language_groups), the aggregate gives the change of held-out
accuracy from the start to the end of each seed's run and across seeds:
- `mean`, `std`, `minimum`/`maximum` and the Student-t 95% interval of the mean change over seeds (`seeds_*`):
  how much training itself varies;
- a paired bootstrap 95% interval over questions of the seed-averaged change (`questions_*`): how much the
  chosen held-out questions matter. `significant` is this interval excluding zero; `seeds_significant` the t one.
  Questions are matched across seeds by id; the builtin world draws its held-out set with `data.eval_seed`, not
  `run.seed`, so every seed answers the same questions and the spread across seeds is training's alone.
A seed whose run already has summary.json is not trained again (delete its folder to redo it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlcore.config import RunConfig, load_config
from rlcore.evaluation import language_groups
from rlcore.metrics.reports import summary_table
from rlcore.registry import ALGORITHMS
from rlcore.run_storage import RunStorage, is_uri
from rlcore.stats import paired_bootstrap_interval, seed_spread

Graded = Mapping[str, Mapping[str, int]]
COLUMNS = [
    "language or score",
    "mean change",
    "min..max",
    "t 95% (seeds)",
    "paired 95% (questions)",
    "significant (questions / seeds)",
]


def seed_config(config: RunConfig, seed: int) -> RunConfig:
    """The config of one seed's run: `<run_dir>/seed_<seed>/`, `run.seed = seed`."""
    data = config.model_dump(mode="json")
    data["run"].update(output_dir=config.run_location, name=f"seed_{seed}", seed=seed, seeds=None)
    return load_config(data)


def run_seeds(config: RunConfig) -> dict[str, Any]:
    """Train the config once per seed in `run.seeds` (skipping finished ones), then aggregate; returns it."""
    if not config.run.seeds:
        raise ValueError("run_seeds needs run.seeds")
    algorithm = ALGORITHMS.get(config.algorithm.name)
    for seed in config.run.seeds:
        run = seed_config(config, seed)
        if not (run.run_dir / "summary.json").exists():
            print(f"seed {seed}: training into {run.run_dir.resolve()}", flush=True)
            algorithm(run).run()
    aggregate = write_aggregate(config.run_dir, config.run.seeds, config.run.name)
    if is_uri(config.run.output_dir):  # each seed's run mirrored itself; the aggregate joins them
        RunStorage(config.run_location, config.run_dir).push_file("aggregate.json")
    return aggregate


def write_aggregate(root: Path, seeds: Sequence[int], title: str) -> dict[str, Any]:
    """aggregate.json (and the printed table) from the seed runs' summary.json and eval/{initial,final}.json."""
    changes: dict[int, dict[str, float]] = {}
    graded: dict[int, tuple[Graded, Graded]] = {}
    for seed in seeds:
        run_dir = root / f"seed_{seed}"
        summary = json.loads((run_dir / "summary.json").read_text())
        changes[seed] = {lang: c["estimate"] for lang, c in summary.get("changes", {}).items()}
        reports = [run_dir / "eval" / f"{name}.json" for name in ("initial", "final")]
        if all(path.exists() for path in reports):
            before, after = (json.loads(path.read_text()).get("graded") or {} for path in reports)
            graded[seed] = (before, after)
    aggregated = aggregate_changes(changes, graded)
    aggregate: dict[str, Any] = {
        "seeds": list(seeds),
        "run_dirs": [str((root / f"seed_{seed}").resolve()) for seed in seeds],
        "changes": aggregated,
    }
    path = root / "aggregate.json"
    path.write_text(json.dumps(aggregate, indent=2))
    summary_table(
        f"{title}: change from the first to the last evaluation over {len(seeds)} seeds {list(seeds)}",
        COLUMNS,
        aggregate_rows(aggregated),
    )
    print(f"aggregate: {path.resolve()}", flush=True)
    aggregate["path"] = str(path.resolve())
    return aggregate


def aggregate_changes(
    changes: Mapping[int, Mapping[str, float]], graded: Mapping[int, tuple[Graded, Graded]]
) -> dict[str, dict[str, Any]]:
    """Per language or mean present in every seed's `changes`: the spread across seeds and, when every seed kept
    its grades, the paired bootstrap over questions of the seed-averaged change."""
    seeds = list(changes)
    names = [name for name in changes[seeds[0]] if all(name in changes[s] for s in seeds)] if seeds else []
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        spread = seed_spread([changes[s][name] for s in seeds])
        entry = {"per_seed": {str(s): changes[s][name] for s in seeds}, **spread.to_dict()}
        entry = {("seeds_" + k if k in ("low", "high", "significant") else k): v for k, v in entry.items()}
        differences = _seed_averaged_differences(graded, name) if len(graded) == len(seeds) else None
        if differences is not None and len(differences):
            interval = paired_bootstrap_interval(differences)
            entry |= {"questions": interval.n, "questions_low": interval.low, "questions_high": interval.high}
            entry["significant"] = interval.significant
        else:
            entry["significant"] = None  # no grades to pair: only the spread across seeds is known
        out[name] = entry
    return out


def _seed_averaged_differences(graded: Mapping[int, tuple[Graded, Graded]], name: str) -> np.ndarray | None:
    """Per question graded in every seed (before and after, in every language of `name`): the change averaged over
    the languages of `name` and the seeds."""
    runs = list(graded.values())
    languages = [lang for lang in runs[0][1] if all(lang in before and lang in after for before, after in runs)]
    group = language_groups(languages).get(name, [name] if name in languages else None)
    if not group:
        return None
    questions = [
        q for q in runs[0][1][group[0]] if all(q in side[lang] for run in runs for side in run for lang in group)
    ]
    per_seed = [[[after[lang][q] - before[lang][q] for lang in group] for q in questions] for before, after in runs]
    return np.asarray(per_seed, dtype=float).reshape(len(runs), len(questions), len(group)).mean(axis=(0, 2))


def aggregate_rows(changes: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for name, c in changes.items():
        seeds_ci = "-" if c["seeds_low"] is None else f"[{100 * c['seeds_low']:+.1f}, {100 * c['seeds_high']:+.1f}]"
        questions_ci = (
            f"[{100 * c['questions_low']:+.1f}, {100 * c['questions_high']:+.1f}]" if "questions_low" in c else "-"
        )
        marks = {True: "yes", False: "no", None: "-"}
        mark = f"{marks[c['significant']]} / {marks[c['seeds_significant']]}"
        rows.append(
            [
                name,
                f"{100 * c['mean']:+.1f} pts",
                f"{100 * c['minimum']:+.1f}..{100 * c['maximum']:+.1f}",
                seeds_ci,
                questions_ci,
                mark,
            ]
        )
    return rows
