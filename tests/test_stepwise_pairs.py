"""Step-wise DPO pairs from search paths: question + accepted prefix, best step vs worst step, ties skipped."""

from __future__ import annotations

import pytest

from actors.step_search import SearchPath, SearchSettings, StepChoice, step_search
from algorithms.stepwise_pairs import stepwise_pairs
from rlcore.batch import Batch
from tests.test_step_search import LongestWins, Scripted


class Numbered(Scripted):
    """Scripted, with candidate i of a round getting the token ids [round, i]."""

    def generate(self, prompts: Batch, n: int, sampling=None) -> Batch:
        rows = super().generate(prompts, n, sampling).rows()
        ids = [[row["response_ids"][0], i % n] for i, row in enumerate(rows)]
        return Batch.from_rows([{**row, "response_ids": own} for row, own in zip(rows, ids, strict=True)])


def test_each_round_pairs_the_kept_step_with_the_worst_and_skips_ties():
    script = {  # question 10: two rounds with distinct scores; question 20: all candidates as long (a tie)
        10: [[("a.\n", "stop"), ("abc.\n", "stop"), ("ab.\n", "stop")], [("The answer is 2.", "stop")] * 3],
        20: [[("b.\n", "stop")] * 3],
    }
    rows = [
        {"prompt_ids": [10], "id": "q1", "language": "en", "prompt": "Q1?", "answer": "2"},
        {"prompt_ids": [20], "id": "q2", "language": "fr", "prompt": "Q2?", "answer": "5"},
    ]
    settings = SearchSettings(candidates=3, max_steps=1, delimiter="\n")
    paths, _ = step_search(Numbered(script), LongestWins(), rows, settings)
    built = stepwise_pairs(paths, "\n")
    assert len(built.pairs) == 1 and built.dropped == {"tie": 1, "identical": 0}
    pair = built.pairs[0]
    assert (pair["id"], pair["language"], pair["prompt"], pair["prefix"], pair["step"]) == ("q1", "en", "Q1?", "", 0)
    assert (pair["chosen"], pair["rejected"]) == ("abc.", "a.")
    assert (pair["chosen_score"], pair["rejected_score"]) == (0.04, 0.02)
    assert pair["prompt_ids"] == [10] and (pair["chosen_ids"], pair["rejected_ids"]) == ([0, 1], [0, 0])
    records = built.generations
    assert [r["response"] for r in records] == ["abc.", "b."] and records[0]["rounds"][0]["best"] == 1
    assert records[0]["finish"] == "step_limit" and records[0]["correct"] is False
    assert built.stats["search_steps_mean"] == 1.0 and built.stats["candidates_scored"] == 6.0


def test_later_rounds_prompt_with_the_prefix_tokens_and_identical_steps_are_dropped():
    path = SearchPath({"prompt_ids": [7, 8], "prompt": "Q", "answer": "12"})
    path.steps, path.token_ids, path.finish = ["7 plus 5 is 12.", "The answer is 12."], [1, 2, 3, 4], "answer"
    path.choices = [
        StepChoice(0, ("7 plus 5 is 12.", "7 plus 5 is 13."), ((1, 2), (1, 5)), (1.0, 0.0), 0),
        StepChoice(2, ("The answer is 12.", "The answer is 12. "), ((3, 4), (3, 4)), (1.0, 0.0), 0),
    ]
    built = stepwise_pairs([path], "\n")
    assert built.dropped == {"tie": 0, "identical": 1} and len(built.pairs) == 1
    assert built.pairs[0]["prompt_ids"] == [7, 8] and built.pairs[0]["rejected_ids"] == [1, 5]
    assert built.generations[0]["correct"] is True and built.stats["search_accuracy"] == 1.0
    second = StepChoice(2, ("The answer is 12.", "The answer is 9."), ((3, 4), (3, 9)), (1.0, 0.0), 0)
    path.choices[1] = second
    late = stepwise_pairs([path], "\n").pairs[1]
    assert late["prompt_ids"] == [7, 8, 1, 2] and late["prefix"] == "7 plus 5 is 12.\n" and late["step"] == 1


def test_the_config_names_its_judge_and_refuses_steps_longer_than_the_context():
    import algorithms.stepwise_dpo  # noqa: F401  registers stepwise_dpo before `pip install -e .` adds its entry point
    from rlcore.config import ConfigError, load_config
    from tests.conftest import ROOT

    demo = ROOT / "configs" / "demo_stepwise_dpo.yaml"
    config = load_config(demo)
    assert config.algorithm.judge.name == "world_steps" and config.algorithm.delimiter == "\n"
    config.algorithm.validate_sizes(config)
    too_long = load_config(demo, ["algorithm.max_steps=11"])  # 11 x 24 tokens > rollout.max_model_len 256
    with pytest.raises(ConfigError, match=r"max_steps × step_max_tokens = 264 tokens"):
        too_long.algorithm.validate_sizes(too_long)
    with pytest.raises(ValueError, match="unknown step judge 'world_step'"):
        load_config(demo, ["algorithm.judge.name=world_step"])
