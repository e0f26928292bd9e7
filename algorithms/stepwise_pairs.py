"""Step-wise DPO pairs from search paths (METHODS.md §3): at every round of a question's search, prompt = the
question + the accepted prefix, chosen = the kept (best) candidate step, rejected = the worst-scored one; a round
whose best and worst scores are equal teaches nothing and is skipped (a tie), as is one whose two steps are the
same tokens. Pure logic over actors.step_search's paths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actors.step_search import SearchPath
from algorithms.pairs import BuildResult
from rlcore.grading import is_correct
from rlcore.steps import join_prefix


def stepwise_pairs(paths: Sequence[SearchPath], delimiter: str) -> BuildResult:
    """The pairs of every search round with distinct best and worst scores, and one generation record per path."""
    pairs: list[dict[str, Any]] = []
    dropped = {"tie": 0, "identical": 0}
    for path in paths:
        row = path.row
        for index, choice in enumerate(path.choices):
            worst = min(range(len(choice.scores)), key=lambda c: choice.scores[c])
            if choice.scores[choice.best] <= choice.scores[worst]:
                dropped["tie"] += 1
                continue
            chosen, rejected = choice.candidate_ids[choice.best], choice.candidate_ids[worst]
            if chosen == rejected:
                dropped["identical"] += 1
                continue
            pairs.append(
                {
                    "id": row.get("id", ""),
                    "language": row.get("language", ""),
                    "prompt": row.get("prompt", ""),
                    "prefix": join_prefix(path.steps[:index], delimiter),
                    "step": index,
                    "chosen": choice.candidates[choice.best],
                    "rejected": choice.candidates[worst],
                    "chosen_score": choice.scores[choice.best],
                    "rejected_score": choice.scores[worst],
                    "prompt_ids": [*row["prompt_ids"], *path.token_ids[: choice.prefix_tokens]],
                    "chosen_ids": list(chosen),
                    "rejected_ids": list(rejected),
                }
            )
    return BuildResult(
        pairs, [search_record(path, delimiter) for path in paths], dropped, search_stats(paths, delimiter)
    )


def search_record(path: SearchPath, delimiter: str) -> dict[str, Any]:
    """One line of generations.jsonl: the question, the searched solution, every round's candidates and scores."""
    row = path.row
    return {
        "id": row.get("id", ""),
        "language": row.get("language", ""),
        "prompt": row.get("prompt", ""),
        "response": path.text(delimiter),
        "finish": path.finish,
        "correct": _correct(path, delimiter),
        "rounds": [
            {"candidates": list(choice.candidates), "scores": list(choice.scores), "best": choice.best}
            for choice in path.choices
        ],
    }


def search_stats(paths: Sequence[SearchPath], delimiter: str) -> dict[str, float]:
    """How the search went: final-answer accuracy of the searched solutions, mean steps, candidates scored."""
    if not paths:
        return {}
    correct = [bool(_correct(path, delimiter)) for path in paths if "answer" in path.row]
    stats = {"search_steps_mean": sum(len(p.steps) for p in paths) / len(paths)}
    stats["candidates_scored"] = float(sum(len(c.scores) for p in paths for c in p.choices))
    if correct:
        stats["search_accuracy"] = sum(correct) / len(correct)
    return stats


def _correct(path: SearchPath, delimiter: str) -> bool | None:
    row = path.row
    if "answer" not in row:
        return None
    return is_correct(path.text(delimiter), row["answer"], str(row.get("language", "en")))
