"""The step-search driver's bookkeeping with a scripted generator (real vLLM: test_step_search_on_cpu.py)."""

from __future__ import annotations

import pytest

from actors.step_search import SearchSettings, step_search
from rlcore.batch import Batch
from rlcore.steps import StepQuery


class Scripted:
    """Candidate i of a prompt is script[prompt's first id][round][i]: (text, finish reason); token ids = [round]."""

    def __init__(self, script):
        self.script, self.prompts = script, []

    def generate(self, prompts: Batch, n: int, sampling=None) -> Batch:
        self.prompts.append([list(ids) for ids in prompts["prompt_ids"]])
        rows = []
        for ids in prompts["prompt_ids"]:
            round_index = len(ids) - 1
            for text, finish in self.script[ids[0]][round_index][:n]:
                rows.append({"response_text": text, "finish_reason": finish, "response_ids": [round_index]})
        return Batch.from_rows(rows)


class LongestWins:
    def __init__(self, per_candidate=None):
        self.per_candidate = per_candidate

    def score_steps(self, queries: list[StepQuery]) -> list[list[float]]:
        if self.per_candidate is not None:
            return [[0.0] * self.per_candidate for _ in queries]
        return [[len(c) / 100 for c in q.candidates] for q in queries]


def test_rounds_keep_the_best_candidate_and_end_for_each_reason():
    script = {
        10: [[("a.\n", "stop"), ("ab.\n", "stop")], [("The answer is 2.\n", "stop"), ("x\n", "stop")]],
        20: [[("b.\n", "stop"), ("bbb.", "stop")]],  # the best one ended the text (EOS, no delimiter)
        30: [[("c.\n", "stop"), ("cc.\n", "stop")]] * 3,  # runs into the step limit
    }
    generator = Scripted(script)
    rows = [{"prompt_ids": [q], "question": f"q{q}"} for q in (10, 20, 30)]
    paths, stats = step_search(
        generator, LongestWins(), rows, SearchSettings(candidates=2, max_steps=2, delimiter="\n")
    )
    assert [p.finish for p in paths] == ["answer", "end", "step_limit"]
    assert paths[0].steps == ["ab.", "The answer is 2."] and paths[0].text("\n") == "ab.\nThe answer is 2."
    assert paths[1].steps == ["bbb."] and paths[2].steps == ["cc.", "cc."]
    assert paths[0].token_ids == [0, 1]  # the kept candidates' own tokens, appended to the next prompt
    assert generator.prompts == [[[10], [20], [30]], [[10, 0], [30, 0]]]
    assert (stats.rounds, stats.generate_calls, stats.judge_calls, stats.open_per_round) == (2, 2, 2, [3, 2])
    # every round's candidates, their tokens and scores are kept (step-wise DPO pairs are made from them)
    first, second = paths[0].choices
    assert first.candidates == ("a.", "ab.") and first.scores == (0.02, 0.03) and first.best == 1
    assert first.candidate_ids == ((0,), (0,)) and (first.prefix_tokens, second.prefix_tokens) == (0, 1)
    assert second.candidates == ("The answer is 2.", "x") and second.best == 0


def test_bad_rows_and_a_judge_with_the_wrong_number_of_scores_are_named():
    generator = Scripted({1: [[("a\n", "stop")] * 2]})
    with pytest.raises(ValueError, match=r"rows \[1\] have no prompt_ids"):
        step_search(generator, LongestWins(), [{"prompt_ids": [1]}, {"prompt": "x"}], SearchSettings(candidates=2))
    with pytest.raises(ValueError, match="step judge LongestWins must return 2 scores for each of 1 queries"):
        step_search(generator, LongestWins(per_candidate=1), [{"prompt_ids": [1]}], SearchSettings(candidates=2))
