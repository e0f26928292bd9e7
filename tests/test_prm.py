"""R-PRM pure logic: verdict line, P(Yes) from hand-made logits, mean over critiques, training-data builders."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rlcore.chat import PromptFormatter
from rlcore.pair_files import load_pair_file, write_jsonl
from rlcore.prm import (
    NO,
    VERDICT_QUESTION,
    YES,
    VerdictTokens,
    critique_prompt,
    cut_at_verdict,
    mean_p_yes,
    p_yes,
    p_yes_from_logits,
    parse_verdict,
    verdict_tokens,
    with_verdict,
)
from rlcore.prm_data import CritiquedStep, dpo_pairs, sft_rows


def critique(body: str, verdict: str | None) -> str:
    return f"{body}\nVerification: {VERDICT_QUESTION} {verdict}" if verdict else body


def test_cut_and_parse_the_verdict():
    text = critique("**Calculation Analysis**: 7 + 5 = 12, right.", "Yes") + "\nExtra talk."
    assert cut_at_verdict(text) == "**Calculation Analysis**: 7 + 5 = 12, right.\nVerification: " + VERDICT_QUESTION
    assert parse_verdict(text) is True
    assert parse_verdict(critique("wrong", "no.")) is False
    assert parse_verdict(critique("bold", "**Yes**")) is True
    assert parse_verdict(f"x {VERDICT_QUESTION} Maybe") is None
    assert cut_at_verdict("no verdict line here") is None and parse_verdict("no verdict line here") is None
    assert with_verdict(text, False).endswith(VERDICT_QUESTION + NO)
    with pytest.raises(ValueError, match="no verdict question"):
        with_verdict("plain", True)


def test_p_yes_is_a_softmax_over_the_two_verdict_logits():
    logits = np.full(10, -5.0)
    logits[3], logits[7] = 2.0, 0.0  # " Yes" = 3, " No" = 7; other tokens do not matter
    expected = math.exp(2) / (math.exp(2) + 1)
    assert p_yes_from_logits(logits, yes_id=3, no_id=7) == pytest.approx(expected)
    assert p_yes_from_logits(torch.tensor(logits), 3, 7) == pytest.approx(expected)
    assert p_yes_from_logits(list(logits), 7, 3) == pytest.approx(1 - expected)
    logprobs = torch.log_softmax(torch.tensor(logits), -1)  # log-probs give the same answer as logits
    assert p_yes(float(logprobs[3]), float(logprobs[7])) == pytest.approx(expected)
    assert p_yes(0.0, 0.0) == 0.5
    assert p_yes(1000.0, -1000.0) == 1.0 and p_yes(-1000.0, 1000.0) == pytest.approx(0.0)
    assert p_yes(-math.inf, 0.0) == 0.0
    with pytest.raises(ValueError, match="probability 0"):
        p_yes(-math.inf, -math.inf)


class _Vocabulary:
    def __init__(self, words: dict[str, list[int]]):
        self.words = words

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self.words[text]


def test_verdict_tokens_of_one_token_words_and_of_indistinguishable_ones():
    assert verdict_tokens(_Vocabulary({YES: [7], NO: [9]})) == VerdictTokens((), 7, 9)
    assert verdict_tokens(_Vocabulary({YES: [1, 2, 7], NO: [1, 2, 9, 4]})) == VerdictTokens((1, 2), 7, 9)
    with pytest.raises(ValueError, match="no token tells them apart"):
        verdict_tokens(_Vocabulary({YES: [1, 2], NO: [1, 2, 3]}))


def test_mean_over_critiques_drops_and_counts_those_without_verdict():
    score = mean_p_yes([0.9, None, 0.5, None, 0.1])
    assert score.score == pytest.approx(0.5) and (score.used, score.dropped) == (3, 2)
    assert mean_p_yes([None, None]).score is None and mean_p_yes([]).used == 0


def test_verdict_tokens_of_the_tiny_tokenizer_and_the_prompt(tiny_model_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    tokens = verdict_tokens(tokenizer)  # the tiny vocabulary has no one-token " Yes": its first tokens differ
    assert YES.startswith(tokenizer.decode([*tokens.prefix_ids, tokens.yes_id]))
    assert NO.startswith(tokenizer.decode([*tokens.prefix_ids, tokens.no_id]))
    assert tokens.yes_id != tokens.no_id
    prompt = critique_prompt("Tom has 7 pens and buys 5. How many?", ["7 plus 5 is 12."], "The answer is 12.")
    assert "Step 1: 7 plus 5 is 12." in prompt and "Now Step: The answer is 12." in prompt
    assert VERDICT_QUESTION in prompt and "(none)" in critique_prompt("q", [], "s")


def test_compact_template_is_a_few_short_lines_and_the_default_is_unchanged():
    compact = critique_prompt(
        "Tom has 7 pens and buys 5. How many?", ["7 plus 5 is 12."], "The answer is 12.", "compact"
    )
    assert compact == (
        "Question: Tom has 7 pens and buys 5. How many?\nPrevious Steps:\n7 plus 5 is 12.\n"
        "Now Step: The answer is 12.\nVerify the Now Step.\n"
    )
    assert "Previous Steps:\n(none)\n" in critique_prompt("q", [], "s", "compact")
    assert critique_prompt("q", ["a", "b"], "s", "compact").count("\n") == 6  # one line per previous step
    assert critique_prompt("q", ["a"], "s") == critique_prompt("q", ["a"], "s", "rprm")
    assert critique_prompt("q", ["a"], "s").startswith("You are an excellent math teacher.")
    with pytest.raises(ValueError, match="unknown critique prompt template 'long': choose one of rprm, compact"):
        critique_prompt("q", [], "s", "long")


def _step(index: int, label: bool, verdicts: list[str | None]) -> CritiquedStep:
    critiques = tuple(critique(f"analysis {index}.{j}", v) for j, v in enumerate(verdicts))
    return CritiquedStep(f"s{index}", "en", f"prompt {index}", label, critiques)


def test_sft_rows_keep_matching_verdicts_balanced():
    steps = [
        _step(0, True, ["Yes", "Yes", "Yes", "No"]),  # 3 matching Yes
        _step(1, False, ["No", "Yes", None]),  # 1 matching No
        _step(2, False, ["Yes"]),  # none matching
    ]
    rows, stats = sft_rows(steps, seed=1)
    completions = [row["completion"] for row in rows]
    assert sum(c.endswith(YES) for c in completions) == sum(c.endswith(NO) for c in completions) == 1
    assert stats == {"no_verdict": 1, "wrong_verdict": 3, "yes": 1, "no": 1, "unbalanced_dropped": 2}
    no_row = next(row for row in rows if row["completion"].endswith(NO))
    assert no_row["prompt"] == "prompt 1" and no_row["completion"].startswith("analysis 1.0")


def test_dpo_pairs_drop_rule_and_at_most_two_pairs_per_step():
    steps = [
        _step(0, True, ["Yes"] * 4 + ["No"] * 3),  # 4/7 right, 3 wrong: 2 pairs
        _step(1, False, ["No", "Yes", "Yes"]),  # 1/3 right: kept, 1 pair
        _step(2, False, ["No", "Yes", "Yes", None]),  # 1/4 right: dropped
        _step(3, True, ["Yes", "Yes", None]),  # nothing to reject
    ]
    pairs, stats = dpo_pairs(steps, seed=0)
    assert [pair["id"] for pair in pairs] == ["s0/0", "s0/1", "s1/0"]
    assert stats == {"steps": 4, "too_few_right": 1, "none_wrong": 1, "paired_steps": 2, "pairs": 3}
    for pair in pairs:
        assert parse_verdict(pair["chosen"]) == pair["step_label"]
        assert parse_verdict(pair["rejected"]) == (not pair["step_label"])
    assert len({pair["chosen"] for pair in pairs[:2]}) == 2 and len({pair["rejected"] for pair in pairs[:2]}) == 2
    assert len(dpo_pairs(steps, max_pairs_per_step=5)[0]) == 4


def test_dpo_pairs_load_through_the_pair_file_path(tmp_path, tiny_model_path):
    pairs, _ = dpo_pairs([_step(0, True, ["Yes", "No"]), _step(1, False, ["No", "Yes"])])
    write_jsonl(tmp_path / "prm_pairs.jsonl", pairs)
    prompts = PromptFormatter.for_model(tiny_model_path)
    loaded = load_pair_file(str(tmp_path / "prm_pairs.jsonl"), prompts)
    assert [row["id"] for row in loaded] == ["s0/0", "s1/0"]
    assert loaded[0]["chosen_ids"] == prompts.response_ids(pairs[0]["chosen"])
