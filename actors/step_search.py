"""Batched step-level search (METHODS.md §3, §4b): for many questions at once, each round samples k candidate next
steps for every open question in ONE generate call (prompt = question prompt_ids + the accepted steps' tokens,
sampling stopped at the step delimiter), scores all of them in ONE judge call, and appends each question's best
candidate to its prefix; a question is done at a final answer, at the end of the text, or at the step limit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlcore.batch import Batch
from rlcore.evaluation import Generator
from rlcore.steps import DEFAULT_DELIMITER, StepJudge, StepQuery, is_final, join_steps


@dataclass(frozen=True)
class SearchSettings:
    candidates: int = 8  # k candidate next steps per question and round
    max_steps: int = 30
    delimiter: str = DEFAULT_DELIMITER
    step_max_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0

    def sampling(self) -> dict[str, Any]:
        """Rollout sampling overrides: stop at the delimiter and keep it, so that the tokens continue the prefix."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.step_max_tokens,
            "stop": [self.delimiter],
            "include_stop_str_in_output": True,
        }


@dataclass(frozen=True)
class StepChoice:
    """One round of a question's search: every candidate (text, tokens, score) and which one was kept; the prompt
    of the round was the question's prompt_ids + the path's first `prefix_tokens` tokens (step-wise DPO pairs)."""

    prefix_tokens: int
    candidates: tuple[str, ...]
    candidate_ids: tuple[tuple[int, ...], ...]
    scores: tuple[float, ...]
    best: int


@dataclass
class SearchPath:
    """One question's search: accepted steps, their judge scores and tokens, and why it ended ('' while open):
    'answer' (a step stated the final answer), 'end' (the model ended its text), 'step_limit'."""

    row: Mapping[str, Any]
    steps: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    finish: str = ""
    choices: list[StepChoice] = field(default_factory=list)

    def text(self, delimiter: str) -> str:
        return join_steps(self.steps, delimiter)


@dataclass
class SearchStats:
    rounds: int = 0
    generate_calls: int = 0
    judge_calls: int = 0
    open_per_round: list[int] = field(default_factory=list)


def step_search(
    generator: Generator, judge: StepJudge, rows: Sequence[Mapping[str, Any]], settings: SearchSettings
) -> tuple[list[SearchPath], SearchStats]:
    """Search every row (each with `prompt_ids`, and the columns the judge reads); paths in the order of `rows`."""
    missing = [i for i, row in enumerate(rows) if "prompt_ids" not in row]
    if missing:
        raise ValueError(f"step_search: rows {missing[:5]} have no prompt_ids (format them with rlcore.chat first)")
    paths, stats, k = [SearchPath(row) for row in rows], SearchStats(), settings.candidates
    while open_paths := [path for path in paths if not path.finish]:
        prompts = Batch.from_rows([{"prompt_ids": [*path.row["prompt_ids"], *path.token_ids]} for path in open_paths])
        samples = generator.generate(prompts, n=k, sampling=settings.sampling())
        texts, finish_reasons = list(samples["response_text"]), list(samples["finish_reason"])
        token_ids = [list(ids) for ids in samples["response_ids"]]
        queries = [
            StepQuery(
                str(path.row.get("question") or path.row.get("prompt", "")),
                tuple(path.steps),
                tuple(_step_text(text, settings.delimiter) for text in texts[j * k : (j + 1) * k]),
                path.row,
            )
            for j, path in enumerate(open_paths)
        ]
        scores = judge.score_steps(queries)
        if len(scores) != len(queries) or any(len(row) != k for row in scores):
            raise ValueError(
                f"step judge {type(judge).__name__} must return {k} scores for each of {len(queries)} queries"
            )
        stats.rounds += 1
        stats.generate_calls += 1
        stats.judge_calls += 1
        stats.open_per_round.append(len(open_paths))
        for j, (path, query, candidate_scores) in enumerate(zip(open_paths, queries, scores, strict=True)):
            best = max(range(k), key=lambda c: candidate_scores[c])  # the first of equals
            sample = j * k + best
            own_ids = tuple(tuple(ids) for ids in token_ids[j * k : (j + 1) * k])
            scored = tuple(float(score) for score in candidate_scores)
            path.choices.append(StepChoice(len(path.token_ids), query.candidates, own_ids, scored, best))
            path.steps.append(query.candidates[best])
            path.scores.append(float(candidate_scores[best]))
            path.token_ids.extend(token_ids[sample])
            ended = finish_reasons[sample] == "stop" and not texts[sample].endswith(settings.delimiter)
            if is_final(query.candidates[best]):
                path.finish = "answer"
            elif ended:
                path.finish = "end"
            elif len(path.steps) >= settings.max_steps:
                path.finish = "step_limit"
    return paths, stats


def _step_text(text: str, delimiter: str) -> str:
    return text[: -len(delimiter)].strip() if text.endswith(delimiter) else text.strip()
