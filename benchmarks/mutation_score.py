"""Mutation score of the pure-logic modules from mutmut's results (run `make mutation`; see docs/mutation.md).

Reads mutants/**/*.meta through mutmut's own API, prints killed/total per module and overall, and writes
benchmarks/results/mutation.json. A timeout counts as killed (the tests noticed: the mutant never finished). Scope:
the modules in [tool.mutmut] only_mutate, less the functions in OUT_OF_SCOPE (I/O, display, integration); both
tables name functions by file stem, so they survive a module's move between packages. Mutants
listed in EQUIVALENT (no behaviour can tell them apart) give the adjusted score; the raw score counts them as
survivors. Each claim names the mutated line it expects, so a claim that no longer matches (the source changed and
mutmut renumbered) is reported as stale and ignored.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "make mutation  (= mutmut run --max-children 2, then python benchmarks/mutation_score.py)"

OUT_OF_SCOPE = {
    "data.x_read_records": "file-format I/O (JSONL, JSON, Parquet, datasets dirs); tests/test_data.py",
    "multilingual.x_evaluate_parallel": "generates with rollout workers: integration",
    "multilingual.x_report_tables": "terminal display",
    "multilingual.x_normalize_answer": "the voting key, being replaced by the grader's normaliser",
    "config.x_save_config": "writes a file",
}

RENAMED_GROUP = (
    "renames a private group; only back-references use it and the number and denominator groups still differ"
)

# mutant -> (the mutated line as mutmut shows it, why no test can tell it from the original)
EQUIVALENT = {
    "data.xǁPromptSamplerǁnext_batch__mutmut_16": (
        "take = min(size - len(out), len(self.rows) + self.index)",
        "an oversized take only shortens the slice at an epoch's end; the next pass starts the next epoch anyway",
    ),
    "parallel_data.xǁParallelSamplerǁ__init____mutmut_45": (
        "seed + 7920 * i",
        "any distinct per-language seed satisfies 'each language with its own seeded order'",
    ),
    "multilingual.x_acc_at_k__mutmut_14": (
        "if math.comb(len(languages), k) < _MAX_SUBSETS:",
        "C(L, k) = 5000 only for L = 5000 languages (k = 1 or 4999)",
    ),
    "transfer.x_fit_power_law__mutmut_19": (
        "strict=None))}",
        "zip over ns and values built from ns: always the same length",
    ),
    "transfer.x_fit_power_law__mutmut_22": (
        "values.tolist(), ))}",
        "zip over ns and values built from ns: always the same length",
    ),
    "transfer.x_fit_power_law__mutmut_23": (
        "strict=False))}",
        "zip over ns and values built from ns: always the same length",
    ),
    "transfer.x_fit_power_law__mutmut_57": (
        "law.predict(np.array(ns, dtype=None))",
        "np.power of an int array to a float exponent is float anyway",
    ),
    "transfer.x_fit_power_law__mutmut_59": (
        "law.predict(np.array(ns, ))",
        "np.power of an int array to a float exponent is float anyway",
    ),
    "transfer.x_accuracy_stderr__mutmut_15": ('float("NAN")', "float() parses NaN case-insensitively"),
    "multilingual.x_acc_at_k__mutmut_31": (
        "replace=None)",
        "numpy's Generator.choice reads replace=None as False",
    ),
    "self_refinement.xǁSelfRefinementǁbuild__mutmut_40": (
        "zip(originals, refinements, strict=None)",
        "a shorter refined_scores list still fails the strict zip of the loop below",
    ),
    "self_refinement.xǁSelfRefinementǁbuild__mutmut_43": (
        "zip(originals, refinements, )",
        "a shorter refined_scores list still fails the strict zip of the loop below",
    ),
    "self_refinement.xǁSelfRefinementǁbuild__mutmut_44": (
        "zip(originals, refinements, strict=False)",
        "a shorter refined_scores list still fails the strict zip of the loop below",
    ),
    "config.x_apply_override__mutmut_27": (
        "if (raw.strip()) or True else None",
        "yaml.safe_load of a blank value is None too",
    ),
    "config.x__suggestion__mutmut_44": ("list(model.model_fields), )", "only the closest match is used"),
    "config.x__suggestion__mutmut_49": ("list(model.model_fields), n=2)", "only the closest match is used"),
    "implicit_cross_lingual.x_length_control_alpha__mutmut_5": (
        'float("INF")',
        "float() parses inf case-insensitively",
    ),
    "implicit_cross_lingual.x_length_control_alpha__mutmut_27": (
        "zip(groups, picks, strict=None)",
        "picks is built from groups: always the same length",
    ),
    "implicit_cross_lingual.x_length_control_alpha__mutmut_30": (
        "zip(groups, picks, )",
        "picks is built from groups: always the same length",
    ),
    "implicit_cross_lingual.x_length_control_alpha__mutmut_31": (
        "zip(groups, picks, strict=False)",
        "picks is built from groups: always the same length",
    ),
    "implicit_cross_lingual.x_length_control_alpha__mutmut_35": (
        "zip(groups, picks, strict=None)",
        "picks is built from groups: always the same length",
    ),
    "implicit_cross_lingual.x_length_control_alpha__mutmut_38": (
        "zip(groups, picks, )",
        "picks is built from groups: always the same length",
    ),
    "implicit_cross_lingual.x_length_control_alpha__mutmut_39": (
        "zip(groups, picks, strict=False)",
        "picks is built from groups: always the same length",
    ),
    "implicit_cross_lingual.x_length_control_alpha__mutmut_40": (
        "if gap <= best_gap - 1e-12:",
        "differs only when a gap is exactly 1e-12 below the best",
    ),
    "implicit_cross_lingual.xǁImplicitCrossLingualǁbuild__mutmut_42": (
        "samples[members[1]]",
        "every sample of a group shares its prompt's language (samples_per_prompt >= 2)",
    ),
    "implicit_cross_lingual.xǁImplicitCrossLingualǁbuild__mutmut_50": (
        "for i in m], None))",
        "integer lengths: r − α·len and the length means are float anyway",
    ),
    "implicit_cross_lingual.xǁImplicitCrossLingualǁbuild__mutmut_52": (
        "for i in m], ))",
        "integer lengths: r − α·len and the length means are float anyway",
    ),
    "implicit_cross_lingual.xǁImplicitCrossLingualǁbuild__mutmut_63": (
        "zip(member_lists, arrays, strict=None)",
        "arrays is built from member_lists: always the same length",
    ),
    "implicit_cross_lingual.xǁImplicitCrossLingualǁbuild__mutmut_66": (
        "zip(member_lists, arrays, )",
        "arrays is built from member_lists: always the same length",
    ),
    "implicit_cross_lingual.xǁImplicitCrossLingualǁbuild__mutmut_67": (
        "zip(member_lists, arrays, strict=False)",
        "arrays is built from member_lists: always the same length",
    ),
    "grading.x_final_answer__mutmut_28": (
        'split("\\n", )[0]',
        "the first piece of a split is the same whatever the maxsplit",
    ),
    "grading.x_final_answer__mutmut_33": (
        'split("\\n", maxsplit=2)[0]',
        "the first piece of a split is the same whatever the maxsplit",
    ),
    "grading.x_final_answer__mutmut_39": (
        "_SENTENCE_END.split(line, )[0]",
        "the first piece of a split is the same whatever the maxsplit",
    ),
    "grading.x_final_answer__mutmut_41": (
        "_SENTENCE_END.split(line, maxsplit=2)[0]",
        "the first piece of a split is the same whatever the maxsplit",
    ),
    "grading.x__braced__mutmut_8": (
        'depth -= {"{": 1, "}": -1}',
        "counting braces with the opposite sign reaches zero at the same closing brace",
    ),
    "grading.x__number__mutmut_5": (
        r'(r"[. \u00A0\u202F]", ",")',
        "regex escapes \\u00A0 and \\u00a0 are the same character",
    ),
    "grading.x__value__mutmut_13": (
        r'r"[. \u00A0\u202F]"',
        "regex escapes \\u00A0 and \\u00a0 are the same character",
    ),
    "grading.x__symbolic__mutmut_5": (
        "deleted: extraction_config=[LatexExtractionConfig(), ExprExtractionConfig()],",
        "math-verify's default extraction_config is [LatexExtractionConfig(), ExprExtractionConfig()]",
    ),
    "grading.x__answer_pattern__mutmut_3": ("_number(decimal_comma, None)", RENAMED_GROUP),
    "grading.x__answer_pattern__mutmut_6": ("_number(decimal_comma, 'XXsepXX')", RENAMED_GROUP),
    "grading.x__answer_pattern__mutmut_7": ("_number(decimal_comma, 'SEP')", RENAMED_GROUP),
    "grading.x__answer_pattern__mutmut_9": ("_number(decimal_comma, None)", RENAMED_GROUP),
    "grading.x__answer_pattern__mutmut_12": ("_number(decimal_comma, 'XXdensepXX')", RENAMED_GROUP),
    "grading.x__answer_pattern__mutmut_13": ("_number(decimal_comma, 'DENSEP')", RENAMED_GROUP),
}


def short_name(mutant: str) -> str:
    """'rlcore.data.x_load_rows__mutmut_3' -> 'data.x_load_rows__mutmut_3': claims survive a module's move."""
    return ".".join(mutant.rsplit(".", 2)[-2:])


def module_of(mutant: str) -> str:
    """'rlcore.data.xǁPromptSamplerǁnext_batch__mutmut_3' -> 'rlcore.data'."""
    return mutant.rsplit(".", 1)[0]


def function_of(mutant: str) -> str:
    return mutant.rsplit("__mutmut_", 1)[0]


def added_line(mutant: str, path: Path) -> str:
    """The mutant's added lines; for a mutant that only deletes, 'deleted: ' and the deleted lines."""
    diff = get_diff_for_mutant(mutant, path=path).splitlines()
    added = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    deleted = [f"deleted: {line[1:].strip()}" for line in diff if line.startswith("-") and not line.startswith("---")]
    return "\n".join(added or deleted)


def collect() -> dict:
    per_module: dict[str, Counter] = defaultdict(Counter)
    whole_files: dict[str, Counter] = defaultdict(Counter)
    survivors, equivalent, stale = [], [], []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        for mutant, exit_code in data.exit_code_by_key.items():
            status = status_by_exit_code[exit_code]
            module = module_of(mutant)
            whole_files[module][status] += 1
            if function_of(short_name(mutant)) in OUT_OF_SCOPE:
                continue
            counts = per_module[module]
            counts["total"] += 1
            if status in ("killed", "timeout"):
                counts["killed"] += 1
                counts["timeout"] += status == "timeout"
                continue
            claim = EQUIVALENT.get(short_name(mutant))
            if claim and status == "survived":
                if claim[0] in added_line(mutant, path):
                    counts["equivalent"] += 1
                    equivalent.append({"mutant": mutant, "reason": claim[1]})
                    continue
                stale.append(mutant)
            survivors.append({"mutant": mutant, "status": status})
    return {
        "modules": per_module,
        "whole_files": whole_files,
        "survivors": survivors,
        "equivalent": equivalent,
        "stale_claims": stale,
    }


def score(killed: int, total: int) -> float:
    return round(100 * killed / total, 1) if total else 0.0


def report(result: dict, duration_s: float | None) -> dict:
    rows = {}
    for module, c in sorted(result["modules"].items()):
        rows[module] = {
            "killed": c["killed"],
            "total": c["total"],
            "timeout": c["timeout"],
            "equivalent": c["equivalent"],
            "raw_percent": score(c["killed"], c["total"]),
            "adjusted_percent": score(c["killed"], c["total"] - c["equivalent"]),
        }
    killed = sum(r["killed"] for r in rows.values())
    total = sum(r["total"] for r in rows.values())
    equivalent = sum(r["equivalent"] for r in rows.values())
    whole_killed = sum(c["killed"] + c["timeout"] for c in result["whole_files"].values())
    whole_total = sum(sum(c.values()) for c in result["whole_files"].values())
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": COMMAND,
        "mutmut_run_seconds": duration_s,
        "overall": {
            "killed": killed,
            "total": total,
            "equivalent": equivalent,
            "raw_percent": score(killed, total),
            "adjusted_percent": score(killed, total - equivalent),
        },
        "whole_files_including_out_of_scope": {
            "killed": whole_killed,
            "total": whole_total,
            "percent": score(whole_killed, whole_total),
        },
        "modules": rows,
        "out_of_scope": OUT_OF_SCOPE,
        "equivalent_mutants": result["equivalent"],
        "stale_equivalence_claims": result["stale_claims"],
        "survivors": result["survivors"],
    }


def markdown(summary: dict) -> str:
    """The score section of docs/mutation.md."""
    o, seconds = summary["overall"], summary["mutmut_run_seconds"]
    took = f", mutmut run {seconds // 60:.0f} min {seconds % 60:.0f} s" if seconds is not None else ""
    lines = [
        f"{summary['date']}, `{COMMAND}`{took} (2 shared CPU cores).",
        "",
        "| module | killed / mutants | raw | equivalent | adjusted |",
        "|---|---|---|---|---|",
    ]
    for module, r in summary["modules"].items():
        lines.append(
            f"| {module} | {r['killed']} / {r['total']} | {r['raw_percent']}% | {r['equivalent']} "
            f"| {r['adjusted_percent']}% |"
        )
    lines.append(
        f"| **overall** | **{o['killed']} / {o['total']}** | **{o['raw_percent']}%** | {o['equivalent']} "
        f"| **{o['adjusted_percent']}%** |"
    )
    whole = summary["whole_files_including_out_of_scope"]
    whole_line = (
        f"Whole files, out-of-scope functions included: {whole['killed']} / {whole['total']} ({whole['percent']}%)."
    )
    lines += ["", whole_line, "", "Equivalent mutants (counted as survivors in the raw score):", ""]
    lines += [f"- `{e['mutant']}`: {e['reason']}" for e in summary["equivalent_mutants"]] or ["- none"]
    lines += ["", "Survivors (`mutmut show <mutant>`):", ""]
    lines += [f"- `{s['mutant']}` ({s['status']})" for s in summary["survivors"]] or ["- none"]
    return "\n".join(lines)


def write_doc(path: Path, section: str) -> None:
    start, end = "<!-- score:start -->", "<!-- score:end -->"
    text = path.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        path.write_text(f"{head}{start}\n{section}\n{end}{rest.split(end, 1)[1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=None, help="seconds the mutmut run took (for the record)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "mutation.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "mutation.md", help="score section to rewrite")
    parser.add_argument("--min-raw", type=float, default=None, help="exit 1 if the overall raw score is below this")
    args = parser.parse_args()
    summary = report(collect(), args.duration)
    print(f"{'module':32} {'killed':>6} / {'total':<6} {'raw':>6} {'adjusted':>9}  (equivalent, timeouts)")
    for module, r in summary["modules"].items():
        print(
            f"{module:32} {r['killed']:>6} / {r['total']:<6} {r['raw_percent']:>5}% {r['adjusted_percent']:>8}%"
            f"  ({r['equivalent']}, {r['timeout']})"
        )
    o = summary["overall"]
    print(f"{'overall':32} {o['killed']:>6} / {o['total']:<6} {o['raw_percent']:>5}% {o['adjusted_percent']:>8}%")
    for survivor in summary["survivors"]:
        print(f"  not killed: {survivor['mutant']} ({survivor['status']})  -> mutmut show {survivor['mutant']}")
    for mutant in summary["stale_equivalence_claims"]:
        print(f"  stale equivalence claim (source changed?): {mutant}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    if args.doc.exists():
        write_doc(args.doc, markdown(summary))
    print(f"written {args.out} and the score section of {args.doc}")
    return 1 if args.min_raw is not None and o["raw_percent"] < args.min_raw else 0


if __name__ == "__main__":
    sys.exit(main())
