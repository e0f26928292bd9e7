"""Pair builders on hand-made samples (a scripted context stands in for the workers), and the world translator."""

from __future__ import annotations

import json

import numpy as np
import pytest

from algorithms.pairs import PAIR_BUILDERS
from algorithms.pairs.implicit_cross_lingual import length_control_alpha, select_pair
from rlcore.chat import PromptFormatter
from rlcore.data import DataError
from rlcore.pair_files import load_pair_file
from rlcore.world.translate import translate_solution


class ScriptedContext:
    """generate() answers from a table keyed by prompt text; score() from a table keyed by response text."""

    def __init__(self, answers: dict[str, list[str]], scores: dict[str, float] | None = None, rows_by_key=None):
        self.answers, self.scores, self.rows_by_key = answers, scores or {}, rows_by_key or {}
        self.scored_prompts: list[str] = []

    def generate(self, rows, n, **sampling):
        out = []
        for group, row in enumerate(rows):
            for index in range(n):
                text = self.answers[row["prompt"]][index]
                out.append(
                    {
                        **row,
                        "group": group,
                        "prompt_ids": [len(row["prompt"])],
                        "response_text": text,
                        "response_ids": self.token_ids(text),
                        "finish_reason": "stop" if text else "length",
                    }
                )
        return out

    def score(self, samples):
        self.scored_prompts += [s.get("score_prompt", s["prompt"]) for s in samples]
        return np.array([self.scores[s["response_text"]] for s in samples], np.float32)

    def token_ids(self, text):
        return [ord(c) for c in text] + [2]

    def prompt_ids(self, row):
        return [len(row["prompt"])]


def build(name, prompts, ctx, languages=("en",), **config):
    cls = PAIR_BUILDERS.get(name)
    return cls(cls.Config(name=name, **config), list(languages)).build(prompts, ctx)


def test_reward_ranked_takes_best_and_worst_and_skips_ties():
    prompts = [{"id": "q1", "language": "en", "prompt": "a"}, {"id": "q2", "language": "en", "prompt": "b"}]
    ctx = ScriptedContext(
        {"a": ["good", "bad", "ok"], "b": ["same", "same too", "same"]},
        {"good": 1.0, "bad": 0.0, "ok": 0.5, "same": 1.0, "same too": 1.0},
    )
    result = build("reward_ranked", prompts, ctx, samples_per_prompt=3)
    assert [(p["chosen"], p["rejected"]) for p in result.pairs] == [("good", "bad")]
    assert result.pairs[0]["chosen_score"] == 1.0 and result.pairs[0]["rejected_score"] == 0.0
    assert result.dropped == {"tie": 1} and len(result.generations) == 6


ROWS = {
    ("q1", "en"): {"id": "q1", "language": "en", "prompt": "Q en\n"},
    ("q1", "fr"): {"id": "q1", "language": "fr", "prompt": "Q fr\n"},
    ("q2", "en"): {"id": "q2", "language": "en", "prompt": "R en\n"},
}  # q2 has no French version


def test_language_imbalance_pairs_as_in_the_paper():
    ctx = ScriptedContext(
        {
            "Q en\n": ["2 plus 3 is 5.\nThe answer is 5."],
            "Q fr\n": ["2 plus 3 font 6.\nLa réponse est 6."],
            "R en\n": ["1 plus 1 is 2.\nThe answer is 2."],
        },
        rows_by_key=ROWS,
    )
    result = build(
        "language_imbalance", [ROWS[("q1", "en")], ROWS[("q2", "en")]], ctx, languages=["en", "fr"], translator="world"
    )
    dominant, target = result.pairs
    assert (dominant["language"], dominant["prompt"]) == ("en", "Q en\n")
    assert dominant["chosen"] == "2 plus 3 is 5.\nThe answer is 5."  # y_en
    assert dominant["rejected"] == "2 plus 3 is 6.\nThe answer is 6."  # y_fr translated to English
    assert (target["language"], target["prompt"]) == ("fr", "Q fr\n")
    assert target["chosen"] == "2 plus 3 font 5.\nLa réponse est 5."  # y_en translated to French
    assert target["rejected"] == "2 plus 3 font 6.\nLa réponse est 6."  # y_fr
    assert target["chosen_ids"] == ctx.token_ids(target["chosen"])  # a written response gets EOS
    assert result.dropped["missing_translation_of_question"] == 1


def test_language_imbalance_drops_pairs_whose_translation_failed():
    ctx = ScriptedContext(
        {"Q en\n": ["2 plus 3 is 5.\nThe answer is 5."], "Q fr\n": ["je ne sais pas"]}, rows_by_key=ROWS
    )
    result = build("language_imbalance", [ROWS[("q1", "en")]], ctx, languages=["en", "fr"], translator="world")
    assert [p["side"] for p in result.pairs] == ["target"]  # y_fr cannot be translated: no English-side pair
    assert result.dropped["translation_failed"] == 1


def test_implicit_cross_lingual_scores_against_english_with_length_control():
    ctx = ScriptedContext({"Q fr\n": ["aa", "bbbbbbbb", "c"]}, {"aa": 2.0, "bbbbbbbb": 3.0, "c": 0.0}, rows_by_key=ROWS)
    result = build(
        "implicit_cross_lingual",
        [ROWS[("q1", "fr")]],
        ctx,
        languages=["en", "fr"],
        samples_per_prompt=3,
        alpha_step=0.01,
    )
    assert ctx.scored_prompts == ["Please answer in French.\nQ en\n"] * 3  # x_en with the answer-in-L prefix
    (pair,) = result.pairs
    # α = 0 would pair the long "bbbbbbbb" (r=3) with "c": length gap 7. At α ≥ 0.17 "aa" wins (gap 1).
    assert (pair["chosen"], pair["rejected"]) == ("aa", "c") and pair["alpha"] == pytest.approx(0.17)
    assert result.stats == {"alpha_fr": pytest.approx(0.17)} and result.dropped["tie"] == 0


def test_length_control_alpha_and_selection_by_hand():
    rewards, lengths = np.array([1.0, 5.0, 0.0]), np.array([10.0, 50.0, 10.0])
    assert select_pair(rewards, lengths, 0.0) == (1, 2)
    assert select_pair(rewards, lengths, 0.2) == (0, 1)
    # At α = 0.1 samples 0 and 1 tie at r′ = 0; argmax takes the first (length 10), argmin is sample 2 (length 10).
    assert length_control_alpha([(rewards, lengths)], 0.01) == pytest.approx(0.1)


def test_self_refinement_prefers_the_refinement_and_can_require_improvement():
    prompts = [{"id": "q1", "language": "en", "prompt": "P1\n"}, {"id": "q2", "language": "en", "prompt": "P2\n"}]
    template = "{prompt}{response}\nBetter:\n"
    ctx = ScriptedContext(
        {"P1\n": ["first"], "P2\n": ["fine"], "P1\nfirst\nBetter:\n": ["second"], "P2\nfine\nBetter:\n": ["worse"]},
        {"first": 0.0, "second": 1.0, "fine": 1.0, "worse": 0.0},
    )
    result = build("self_refinement", prompts, ctx, reflection_prompt=template)
    assert [(p["prompt"], p["chosen"], p["rejected"]) for p in result.pairs] == [
        ("P1\n", "second", "first"),
        ("P2\n", "worse", "fine"),
    ]
    strict = build("self_refinement", prompts, ctx, reflection_prompt=template, require_improvement=True)
    assert [(p["chosen"], p["rejected"]) for p in strict.pairs] == [("second", "first")]
    assert strict.dropped["not_improved"] == 1


def test_world_translator_round_trips_and_fails_on_free_text():
    english = "17 plus 13 is 30.\n30 minus 9 is 21.\nThe answer is 21."
    german = translate_solution(english, "en", "de")
    assert german == "17 plus 13 ist 30.\n30 weniger 9 ist 21.\nDie Antwort ist 21."
    assert translate_solution(german, "de", "en") == english
    assert translate_solution("I think 21", "en", "fr") is None
    assert translate_solution("", "en", "fr") is None


def test_pair_file_errors_name_file_and_line(tmp_path):
    class Tokenizer:
        eos_token_id = 2

        def encode(self, text, add_special_tokens=False):
            return [ord(c) for c in text]

    good = {"prompt": "p", "chosen": "c", "rejected": "r"}
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({"prompt": "p", "chosen": "c"}) + "\n")
    with pytest.raises(DataError, match=r"pairs.jsonl:2: \['rejected'\] must be non-empty"):
        load_pair_file(str(path), PromptFormatter(Tokenizer(), "none"))
    path.write_text(json.dumps(good) + "\n")
    (pair,) = load_pair_file(str(path), PromptFormatter(Tokenizer(), "none"))
    assert pair["chosen_ids"] == [ord("c"), 2] and pair["prompt_ids"] == [ord("p")] and pair["id"] == "line-1"
