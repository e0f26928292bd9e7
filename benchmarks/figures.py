"""Every figure in README.md and docs/ comes from here: committed results (benchmarks/results/) rendered into the
marked blocks of the docs, so that a figure in the docs is what a script measured, with its date, machine, seeds and
spread.

    PYTHONPATH=. .venv/bin/python benchmarks/figures.py           # rewrite the blocks (`make figures`)
    PYTHONPATH=. .venv/bin/python benchmarks/figures.py --check   # exit 1 where a block differs (a test runs this)

A block is `<!-- figure: NAME -->` ... `<!-- /figure -->`; NAME is one of RENDERERS. The results themselves are
written by the benchmarks and by `benchmarks/collect_demo.py` (`make figures-data` reruns everything).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.machine import one_line
from rlcore.stats import wilson_interval
from rlcore.world.tiny_model import tiny_model_path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- figure: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figure -->)", re.S)


def _runs(name: str) -> list[dict]:
    """Every committed run of one benchmark (results/NAME/*.json), oldest first."""
    return [json.loads(path.read_text()) for path in sorted((RESULTS / name).glob("*.json"))]


def _spread(values: list[float], fmt: str = "{:.2f}") -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if fmt.format(low) == fmt.format(high) else f"{fmt.format(low)}–{fmt.format(high)}"


def _measured_on(runs: list[dict]) -> str:
    dates = sorted(run["machine"]["date"] for run in runs)
    span = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    return f"{len(runs)} runs, {span}, on {one_line(runs[-1]['machine'])}"


def rollout_throughput() -> str:
    """P1 (benchmarks/rollout_throughput.py): one row per workload (runs before --workload existed are short)."""
    by_workload: dict[str, list[dict]] = {}
    for run in _runs("rollout_throughput"):
        by_workload.setdefault(run["setup"].get("workload", "short"), []).append(run)
    rows, notes = [], []
    for name, runs in by_workload.items():
        ratios = [run["ratio_rlcore_over_raw"] for run in runs]
        ours = [run["tokens_per_s"]["rlcore"] for run in runs]
        raw = [run["tokens_per_s"]["raw_vllm"] for run in runs]
        setup = runs[-1]["setup"]
        length = f"exactly {setup['max_tokens']}" if setup.get("min_tokens") else f"up to {setup['max_tokens']}"
        rows.append(f"| {name} | {_spread(ours, '{:,.0f}')} | {_spread(raw, '{:,.0f}')} | **{_spread(ratios)}** |\n")
        loads = _spread([run["machine"]["load_average_1min"] for run in runs], "{:.1f}")
        notes.append(
            f"{name}: {setup['prompts']} prompts × {setup['n']} samples, {length} tokens, median of {setup['reps']} "
            f"rounds per run, load average at the end {loads}; {_measured_on(runs)}."
        )
    return (
        "| workload | rlcore tokens/s | raw vLLM tokens/s | ratio |\n|---|---|---|---|\n"
        + "".join(rows)
        + "\n"
        + " ".join(notes)
        + " Long: EOS suppressed until the length (vLLM min_tokens) on both sides.\n"
    )


QUIET_LOAD = 3.0  # a run whose load average stayed below this had the machine to itself (2 cores)


def dpo_throughput() -> str:
    """P2 (benchmarks/dpo_throughput.py): one row per TRL mode, rlcore layout (runs before --share-prompts existed
    trained padded rows) and whether the machine was quiet, as other work on it moves the ratio by ±20%."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for run in _runs("dpo_throughput"):
        layout = "prompt shared" if run["setup"].get("share_prompts") else "padded rows"
        quiet = max(run["setup"]["load_average_start_end"]) < QUIET_LOAD
        groups.setdefault((layout, "quiet" if quiet else "busy"), []).append(run)
    lines = [
        "| TRL DPOTrainer mode | rlcore layout | machine | TRL pairs/s | rlcore pairs/s | rlcore ÷ TRL | max loss "
        "difference |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, label in (
        ("trl", "default (reference forward every step)"),
        ("trl_precompute", "precompute_ref_log_probs"),
    ):
        for (layout, machine), runs in sorted(groups.items(), key=lambda item: (item[0][1] != "quiet", item[0])):
            loads = [load for run in runs for load in run["setup"]["load_average_start_end"]]
            trl = [run["pairs_per_s"][mode] for run in runs]
            ours = [run["pairs_per_s"][f"rlcore_vs_{mode}"] for run in runs]
            ratio = [run["ratio"][f"rlcore_over_{mode}"] for run in runs]
            diff = max(max(run["loss_max_abs_diff"][mode].values()) for run in runs)
            lines.append(
                f"| {label} | {layout} | {machine}, load {_spread(loads, '{:.0f}')} ({len(runs)} runs) "
                f"| {_spread(trl, '{:.1f}')} | {_spread(ours, '{:.1f}')} | **{_spread(ratio)}×** | {diff:.1e} |"
            )
    runs = [run for group in groups.values() for run in group]
    setup = runs[-1]["setup"]
    return "\n".join(lines) + (
        f"\n\n{setup['pairs']} pairs, {setup['batch_pairs']} pairs per step, {setup['loss_type']} loss, fp32, "
        f"{setup['threads']} torch thread(s) each side, the sides in lockstep; load: the load average at each run's "
        f"start and end (quiet: below {QUIET_LOAD:.0f}); {_measured_on(runs)}.\n"
    )


def step_search() -> str:
    """Step-search runs (benchmarks/step_search.py): the newest run's accuracies with their intervals (the seeded
    engine makes them the same in every run), and calls and speed-ups over all runs (timings vary with the load)."""
    runs = _runs("step_search")
    run = runs[-1]
    setup, k = run["settings"], run["settings"]["k"]

    def row(label: str, key: str) -> str:
        acc = run[key]
        return f"| {label} | {100 * acc['accuracy']:.1f} [{100 * acc['low']:.1f}, {100 * acc['high']:.1f}] |"

    lines = ["| method | held-out accuracy [95%] |", "|---|---|"]
    temperature = setup.get("temperature", 1.0)
    lines += [row("pass@1, greedy", "pass@1_greedy")]
    lines += [row(f"pass@1, sampled at temperature {temperature} (mean of {k} samples)", "pass@1_sampled")]
    lines += [row(f"majority vote over the same {k} samples", f"majority@{k}")]
    lines += [
        row(f"step search: {k} candidates per step (same temperature), rule checker as judge", f"step_search@{k}")
    ]
    batched, speed = run["batched"], run["speedup"]
    subset = [r["speedup"]["speedup"] for r in runs]
    # the whole set one question at a time, extrapolated from the timed subset's pace
    whole = [
        r["speedup"]["one_at_a_time_s"]
        / r["speedup"]["questions"]
        * r["settings"]["questions"]
        / r["batched"]["seconds"]
        for r in runs
    ]
    loads = ", ".join(str(r["machine"]["load_average_1min"]) for r in runs)
    return "\n".join(lines) + (
        f"\n\n{setup['questions']} held-out questions ({setup['per_language']} per language, "
        f"{len(setup['languages'])} languages); steps of at most {setup['step_max_tokens']} tokens, at most "
        f"{setup['max_steps']} steps.{_candidates_right(run)} Batched search: {batched['rounds']} rounds, "
        f"**{batched['generate_calls_per_round']:.0f} generate call and 1 judge call per round** for all open "
        f"questions, where one question at a time makes one call per question and round "
        f"({speed['one_at_a_time_generate_calls']} calls for the first {speed['questions']} questions). Batched was "
        f"**{_spread(subset, '{:.1f}')}× faster** on those {speed['questions']} questions, and "
        f"{_spread(whole, '{:.1f}')}× on the whole set (one at a time extrapolated from the subset's pace). "
        f"{_measured_on(runs)}; 1-minute load averages {loads} on those 2 cores (other jobs ran beside it), so the "
        "timings are noisy.\n"
    )


def prm_world() -> str:
    """The world R-PRM (benchmarks/prm_world.py): ProcessBench F1 against the length-only baseline and the search
    methods, per run (the PRM's engine seed varies), and scoring throughput over all runs."""
    runs = _runs("prm_world")
    f1 = [run for run in runs if "processbench" in run]
    search = [run for run in runs if "search" in run]
    lines = ["| | first-error F1 | accuracy on erroneous | accuracy on correct |", "|---|---|---|---|"]
    for name, key in (("R-PRM (K critiques, mean P(Yes))", "prm"), ("length-only baseline", "length_only_baseline")):
        values = [run["processbench"][key] for run in f1]
        lines.append(
            f"| {name} | **{_spread([v['f1'] for v in values])}** | {_spread([v['error_accuracy'] for v in values])} "
            f"| {_spread([v['correct_accuracy'] for v in values])} |"
        )
    methods = list(search[-1]["search"]["methods"]) if search else []
    lines += ["", "| method | held-out accuracy, per run (seeds of the PRM engine) |", "|---|---|"]
    for method in methods:
        values = [100 * run["search"]["methods"][method]["accuracy"] for run in search]
        lines.append(f"| {method} | {', '.join(f'{v:.1f}' for v in values)} |")
    speed = [r for run in runs if "throughput" in run for r in run["throughput"]["speedup"]]
    batched = [v for run in runs if "throughput" in run for v in run["throughput"]["steps_per_s"]["batched"]]
    single = [v for run in runs if "throughput" in run for v in run["throughput"]["steps_per_s"]["one_at_a_time"]]
    setup = runs[-1]["settings"]
    return "\n".join(lines) + (
        f"\n\nF1 on {f1[-1]['processbench']['solutions']} held-out world solutions "
        f"({f1[-1]['processbench']['erroneous']} with an error); search on {setup['per_language']} held-out questions "
        f"per language, k = {setup['k']}, K = {setup['critiques']} critiques at temperature "
        f"{setup['critique_temperature']}. Scoring throughput ({setup['throughput_steps']} steps, K = "
        f"{setup['critiques']}): all critiques batched **{_spread(batched, '{:.1f}')} steps/s** in 2 engine calls, "
        f"one critique per request {_spread(single, '{:.2f}')} steps/s, **{_spread(speed, '{:.0f}')}×**. "
        f"{_measured_on(runs)}.\n"
    )


def _candidates_right(run: dict) -> str:
    right = run.get("search_candidates_right")
    if right is None:
        return ""
    return (
        f" The checker accepted {100 * right['share_of_candidates']:.0f}% of the candidate steps; at "
        f"{100 * right['choices_without_a_right_candidate']:.0f}% of the choices no candidate was right (the "
        "search's ceiling with this policy)."
    )


def packing_throughput() -> str:
    runs = _runs("packing_throughput")
    lines = ["| micro-batches | padding | tokens/s | ÷ padded 16 rows |", "|---|---|---|---|"]
    for name, config in runs[-1]["configs"].items():
        layout = "packed" if config["packing"] else "padded"
        size = config["max_tokens_per_micro_batch"]
        size = f"{size} tokens" if size else f"{config['micro_batch_rows']} rows"
        padding = [run["configs"][name]["padding_fraction"] * 100 for run in runs]
        speed = [run["configs"][name]["tokens_per_s"] for run in runs]
        ratio = [run["configs"][name]["speedup_vs_padded_rows"] for run in runs]
        lines.append(
            f"| {layout}, {size} | {_spread(padding, '{:.0f}')} % | {_spread(speed, '{:,.0f}')} | "
            f"**{_spread(ratio)}×** |"
        )
    setup = runs[-1]["setup"]
    return "\n".join(lines) + (
        f"\n\n{setup['rows']} GRPO-like rows ({setup['real_tokens']} tokens), one AdamW step each, median of "
        f"{setup['reps']} steps per run, {setup['threads']} torch thread(s), in one process; {_measured_on(runs)}.\n"
    )


def _setting(name: str) -> str:
    """'1@1' -> 'async_steps 1, torch_threads 1' (benchmarks/async_rollout.py's settings)."""
    steps, _, threads = name.partition("@")
    return f"async_steps {steps}" + (f", torch_threads {threads}" if threads else " (demo: torch_threads 2)")


def _async_ratios(runs: list[dict], name: str) -> list[float]:
    """Steps/s of setting `name` ÷ async_steps 0 at the same torch_threads, repeat by repeat (none for a base)."""
    base = "0" + name[name.index("@") :] if "@" in name else "0"
    pairs = [zip(run["runs"][base], run["runs"][name], strict=True) for run in runs if {base, name} <= set(run["runs"])]
    return [one["steps_per_s"] / zero["steps_per_s"] for pair in pairs for zero, one in pair] if name != base else []


def async_rollout() -> str:
    runs = _runs("async_rollout")
    lines = [
        "| setting | steps/s | generate s | train s | sync s | ÷ async_steps 0 (same threads), per repeat |",
        "|---|---|---|---|---|---|",
    ]
    names = list(dict.fromkeys(name for run in runs for name in run["runs"]))
    for name in names:
        results = [result for run in runs for result in run["runs"].get(name, [])]
        phases = [_spread([r["phase_s"][phase] for r in results]) for phase in ("generate", "train", "sync")]
        ratios = _async_ratios(runs, name)
        ratio = f"**{_spread(ratios)}×**" if ratios else ("1" if name.startswith("0") else "—")
        speed = _spread([r["steps_per_s"] for r in results])
        lines.append(f"| {_setting(name)} | {speed} | {' | '.join(phases)} | {ratio} |")
    steps = "/".join(str(n) for n in sorted({run["setup"]["steps"] for run in runs}))
    return "\n".join(lines) + (
        f"\n\nRanges over every repeat. `{runs[-1]['setup']['config']}`, {steps} steps per run (steps/s after the "
        f"first step), no evaluation or checkpoints, the settings taking turns; {_measured_on(runs)}.\n"
    )


def _pts(value: float) -> str:
    return f"{100 * value:+.1f}"


def demo_changes(name: str) -> str:
    """The held-out accuracy before and after a multi-seed demo, with every interval, from results/demo/NAME.json."""
    result = json.loads((RESULTS / "demo" / f"{name}.json").read_text())
    seeds, initial, changes = result["seeds"], result["initial"], result["changes"]
    lines = [
        "| language | initial [95%] | final, mean of seeds (range) | change, mean of seeds | 95% over seeds (t) "
        "| 95% over questions (paired) | significant: questions / seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for lang, change in changes.items():
        if lang in initial:
            start = initial[lang]
            before = f"{100 * start['accuracy']:.1f}"
            before += f" [{100 * start['low']:.1f}, {100 * start['high']:.1f}]" if "low" in start else ""
            finals = [result["final"][str(s)][lang]["accuracy"] for s in seeds]
            after = f"{100 * statistics.mean(finals):.1f} ({_spread([100 * f for f in finals], '{:.1f}')})"
        else:  # a mean over languages: the paired comparison defines it
            before, after = "", ""
        seeds_ci = (
            "-" if change["seeds_low"] is None else f"[{_pts(change['seeds_low'])}, {_pts(change['seeds_high'])}]"
        )
        questions_ci = f"[{_pts(change['questions_low'])}, {_pts(change['questions_high'])}]"
        mark = f"{'**yes**' if change['significant'] else 'no'} / {'**yes**' if change['seeds_significant'] else 'no'}"
        lines.append(
            f"| {lang} | {before} | {after} | **{_pts(change['mean'])}** | {seeds_ci} | {questions_ci} | {mark} |"
        )
    minutes = [seconds / 60 for seconds in result["seconds"].values()]
    n = next(iter(initial.values()))["n"]
    return "\n".join(lines) + (
        f"\n\nPoints of held-out accuracy (greedy, {n} questions per language, the same questions for every seed). "
        f"`{result['command']}`: seeds {', '.join(map(str, seeds))}, {_spread(minutes, '{:.0f}')} min a seed; "
        f"{result['machine']['date']}, on {one_line(result['machine'])}. "
        "Significant: that interval excludes zero.\n"
    )


def demo_trans_zero() -> str:
    """chrF and QE per direction before and after TRANS-ZERO's two rounds, over seeds, from
    results/demo/demo_trans_zero.json."""
    result = json.loads((RESULTS / "demo" / "demo_trans_zero.json").read_text())
    seeds, changes = result["seeds"], result["changes"]
    directions = sorted(name.split("/", 1)[1] for name in changes if name.startswith("chrf/"))
    lines = [
        "| direction | chrF initial | chrF change per seed | mean | 95% over seeds (t) | rose in | QE change, mean |",
        "|---|---|---|---|---|---|---|",
    ]
    for direction in directions:
        chrf, qe = changes[f"chrf/{direction}"], changes.get(f"qe/{direction}")
        per_seed = [chrf["per_seed"][str(s)] for s in seeds]
        rose = sum(change > 0 for change in per_seed)
        mean = f"**{_pts(chrf['mean'])}**" if chrf["seeds_significant"] else _pts(chrf["mean"])
        lines.append(
            f"| {direction} | {100 * result['initial_metrics'][f'eval/chrf/{direction}']:.1f} "
            f"| {', '.join(_pts(c) for c in per_seed)} | {mean} "
            f"| [{_pts(chrf['seeds_low'])}, {_pts(chrf['seeds_high'])}] | {rose} of {len(seeds)} "
            f"| {_pts(qe['mean']) if qe else '-'} |"
        )
    minutes = [seconds / 60 for seconds in result["seconds"].values()]
    return "\n".join(lines) + (
        f"\n\nPoints of corpus chrF (greedy translations of the held-out sets, the same for every seed) and of the "
        f"tiny QE model's mean score; bold: the interval over seeds excludes zero. `{result['command']}`: seeds "
        f"{', '.join(map(str, seeds))}, {_spread(minutes, '{:.0f}')} min a seed; {result['machine']['date']}, on "
        f"{one_line(result['machine'])}.\n"
    )


def demo_step_time() -> str:
    """The GRPO demo's median step time per phase, from results/demo/demo_grpo.json."""
    result = json.loads((RESULTS / "demo" / "demo_grpo.json").read_text())
    per_seed = result["step_seconds"].values()
    phases = [p for p in next(iter(per_seed)) if p != "step" and any(s[p] >= 0.005 for s in per_seed)]
    cells = [_spread([s[p] for s in per_seed]) + " s" for p in ["step", *phases]]
    return (
        "| step | " + " | ".join(phases) + " |\n|" + "---|" * (len(phases) + 1) + "\n| " + " | ".join(cells) + " |\n\n"
        f"Median seconds per GRPO step of `make demo` (8 prompts × 8 samples, steps without evaluation or checkpoint), "
        f"range over seeds {', '.join(map(str, result['seeds']))}; {result['machine']['date']}, on "
        f"{one_line(result['machine'])}.\n"
    )


def tiny_model() -> str:
    """The shipped tiny model's held-out accuracy, from its world card."""
    card = json.loads((tiny_model_path() / "world_card.json").read_text())
    n, accuracy = card["eval"]["per_language"], card["eval"]["accuracy"]
    cells = []
    for value in accuracy.values():
        interval = wilson_interval(round(value * n), n)
        cells.append(f"{100 * value:.1f} [{100 * interval.low:.1f}, {100 * interval.high:.1f}]")
    return (
        "| " + " | ".join(accuracy) + " |\n|" + "---|" * len(accuracy) + "\n| " + " | ".join(cells) + " |\n\n"
        f"Greedy accuracy in % [95% Wilson interval] on {n} held-out problems per language (transformers generate, "
        f"at build time: `rlcore/world/models/{card['name']}/world_card.json`); {card['parameters']:,} parameters, "
        f"{card['sft']['steps']} SFT steps, weights SHA-256 {card['weights_sha256'][:12]}….\n"
    )


def _sweep() -> dict:
    return json.loads((RESULTS / "demo" / "demo_parallel_rpt.json").read_text())


def sweep_report() -> str:
    """The parallel-language sweep's own report (algorithms/parallel_sweep), headings moved under the doc's."""
    from algorithms.parallel_sweep.report_text import markdown

    result = _sweep()
    body = re.sub(r"^(#+) ", lambda m: "#" * (len(m[1]) + 2) + " ", markdown(result["report"]), flags=re.M)
    return body.rstrip("\n") + (
        f"\n\n`{result['command']}`, one seed; {result['machine']['date']}, on {one_line(result['machine'])}.\n"
    )


def sweep_findings() -> str:
    result = _sweep()
    lines = [f"- {line}" for line in result["report"]["findings"]]
    return "\n".join(lines) + f"\n\n(`{result['command']}`, one seed, {result['machine']['date']}.)\n"


WEIGHT_SYNC_METHODS = ("local_save_load", "object_store", "collective", "ipc", "collective_transport_only")


def weight_sync() -> str:
    """P4 (benchmarks/weight_sync_throughput.py): MB/s of each transport and of a local safetensors save + load, the
    range over every counted round of every run and each run's median. Only runs that timed every method (in turn,
    round by round, so under the same load) are rendered: older ones predate the ipc transport."""
    runs = [
        run
        for run in _runs("weight_sync")
        if all(method in run["models"]["large"]["rounds_bytes_per_s"] for method in WEIGHT_SYNC_METHODS)
    ]
    rows = []
    for model, label in (("demo", "demo, tiny-arith"), ("large", "random-init Qwen2-style")):
        results = [run["models"][model] for run in runs if model in run["models"]]
        cells = []
        for method in WEIGHT_SYNC_METHODS:
            rounds = [value / 1e6 for result in results for value in result["rounds_bytes_per_s"][method]]
            medians = "; ".join(f"{result['bytes_per_s_median'][method] / 1e6:,.0f}" for result in results)
            cells.append(f"{_spread(rounds, '{:,.0f}')} ({medians})")
        rows.append(f"| {label} ({results[-1]['megabytes']:.0f} MB) | " + " | ".join(cells) + " |\n")
    large = [run["models"]["large"] for run in runs]
    ratios = {
        name: "; ".join(f"{result[f'ratio_{name}_over_local']:.2f}" for result in large)
        for name in ("collective", "ipc", "object_store")
    }
    loads = "; ".join(f"{run['machine']['load_average_1min']:.1f}" for run in runs)
    setup = runs[-1]["setup"]
    return (
        "| model | local save + load | object store | collective | ipc (/dev/shm) | collective, transport only |\n"
        "|---|---|---|---|---|---|\n" + "".join(rows) + "\n"
        f"MB/s: range over every counted round, each run's median in brackets. ÷ local save + load on the large model "
        f"(medians, per run): collective **{ratios['collective']}** (target >= 0.5), ipc **{ratios['ipc']}**, object "
        f"store {ratios['object_store']}. {setup['reps']} counted rounds per run, {setup['bucket_mb']:.0f} MB buckets, "
        f"one learner rank and one engine; load average at each run's start {loads}; {_measured_on(runs)}.\n"
    )


def grpo_throughput() -> str:
    """P3 (benchmarks/grpo_throughput.py): samples/s of TRL's GRPOTrainer and of rlcore (on-policy and one step
    off) per workload, ranges over the runs, with each side's mean seconds per step by phase."""
    by_workload: dict[str, list[dict]] = {}
    for run in _runs("grpo_throughput"):
        by_workload.setdefault(run["setup"]["workload"], []).append(run)
    lines = [
        "| workload | TRL samples/s | rlcore samples/s | rlcore ÷ TRL | rlcore, one step off | ÷ TRL |",
        "|---|---|---|---|---|---|",
    ]
    phases, notes = [], []
    for name in ("short", "long"):
        runs = by_workload.get(name, [])
        if not runs:
            continue
        cells = [_spread([run["sides"]["trl"]["samples_per_s"] for run in runs], "{:.1f}")]
        for side in ("rlcore_async_0", "rlcore_async_1"):
            cells.append(_spread([run["sides"][side]["samples_per_s"] for run in runs], "{:.1f}"))
            cells.append(f"**{_spread([run['ratio'][f'{side}_over_trl']['samples_per_s'] for run in runs])}×**")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        setup = runs[-1]["setup"]
        timed = setup["steps"] - setup["warmup_steps"]
        per_step = {
            side: {p: statistics.mean(run["sides"][side]["phase_seconds"][p] / timed for run in runs) for p in keys}
            for side, keys in (
                ("trl", ("generate", "reward", "train_and_rest")),
                ("rlcore_async_0", ("generate", "reward", "train", "sync")),
            )
        }
        phases.append(
            f"{name}: TRL "
            + ", ".join(f"{p.replace('_', ' ')} {s:.2f}" for p, s in per_step["trl"].items())
            + "; rlcore "
            + ", ".join(f"{p} {s:.2f}" for p, s in per_step["rlcore_async_0"].items())
        )
        tokens = [run["sides"][s]["completion_tokens_mean"] for run in runs for s in run["sides"]]
        loads = [load for run in runs for load in run["setup"]["load_average_start_end"]]
        length = f"exactly {setup['max_tokens']}" if setup["min_tokens"] else f"up to {setup['max_tokens']}"
        notes.append(
            f"{name}: {setup['prompts_per_step']} prompts × {setup['group_size']} samples, {length} tokens "
            f"({_spread(tokens, '{:.1f}')} per sample), steps {setup['timed_steps']} of {setup['steps']} timed, load "
            f"average {_spread(loads, '{:.1f}')}; {_measured_on(runs)}."
        )
    return "\n".join(lines) + (
        "\n\nMean seconds per timed step (rlcore on-policy): "
        + "; ".join(phases)
        + ".\n\n"
        + " ".join(notes)
        + f" {runs[-1]['setup']['torch_threads_each_side']} torch thread(s) per process, fp32, no KL.\n"
    )


RENDERERS: dict[str, Callable[[], str]] = {
    "parallel-rpt-sweep": sweep_report,
    "parallel-rpt-findings": sweep_findings,
    "tiny-model": tiny_model,
    "demo-grpo": lambda: demo_changes("demo_grpo"),
    "demo-dpo": lambda: demo_changes("demo_dpo"),
    "demo-trans-zero": demo_trans_zero,
    "demo-step-time": demo_step_time,
    "rollout-throughput": rollout_throughput,
    "dpo-throughput": dpo_throughput,
    "grpo-throughput": grpo_throughput,
    "step-search": step_search,
    "prm-world": prm_world,
    "packing-throughput": packing_throughput,
    "weight-sync": weight_sync,
    "async-rollout": async_rollout,
}


def render_blocks(text: str, where: str) -> tuple[str, list[str]]:
    """The text with every block rendered anew, and the names of the blocks that changed."""
    changed = []

    def render(match: re.Match) -> str:
        name = match["name"]
        if name not in RENDERERS:
            raise SystemExit(f"{where}: unknown figure block {name!r}; known: {sorted(RENDERERS)}")
        body = RENDERERS[name]()
        if body != match["body"]:
            changed.append(name)
        return match[1] + body + match[4]

    return BLOCK.sub(render, text), changed


def update(check: bool) -> list[str]:
    """Rewrite (or, with check, only compare) every block; returns 'file: block' for each block that differs."""
    stale = []
    for path in DOCS:
        where = str(path.relative_to(ROOT))
        text, changed = render_blocks(path.read_text(), where)
        stale += [f"{where}: {name}" for name in changed]
        if changed and not check:
            path.write_text(text)
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block is out of date")
    args = parser.parse_args()
    stale = update(args.check)
    for item in stale:
        print(f"{'out of date' if args.check else 'rewrote'}: {item}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
