"""Pair-builder rules of the cross-lingual builders on scripted samples (`make mutation`): language imbalance
(translations, dropped pairs) and implicit cross-lingual rewarding (scoring prompt, length control α)."""

from __future__ import annotations

import numpy as np
import pytest

from algorithms.pairs import PAIR_BUILDERS
from algorithms.pairs.implicit_cross_lingual import length_control_alpha, select_pair
from tests.test_mutation_pairs import MiscountingContext, RecordingContext
from tests.test_pair_builders import build


def test_select_pair_and_length_control_alpha_by_hand():
    rewards, lengths = np.array([1.0, 3.1, 0.0]), np.array([2.0, 12.0, 1.0])
    assert select_pair(rewards, lengths, 0.0) == (1, 2)
    assert select_pair(rewards, lengths, 0.5) == (0, 1)  # r' = 0, −2.9, −0.5
    assert select_pair(np.array([1.0, 1.0]), np.array([3.0, 3.0]), 0.25) == (0, 0)
    # r' = 1 − 2α, 3.1 − 12α, −α. α < 0.21: chosen 1, rejected 2 (gap |12 − 1| = 11); 0.21 < α < 0.2818: chosen 0,
    # rejected 2 (gap 1); above: chosen 0, rejected 1 (gap 10).
    assert length_control_alpha([(rewards, lengths)], 0.05) == pytest.approx(0.25)
    assert length_control_alpha([(rewards, lengths)], 0.1) == pytest.approx(0.3)  # 0.2 is too early: gap 11
    assert type(length_control_alpha([(rewards, lengths)], 0.1)) is float
    assert length_control_alpha([(np.array([1.0, 0.0]), np.array([5.0, 5.0]))], 0.1) == 0.0  # always balanced


def test_length_control_alpha_balances_the_mean_lengths_of_a_language_and_keeps_the_smallest_alpha():
    # prompt 1: r' = 1 − 10α, 0.5 − 4α, −2α; chosen − rejected length: +8 (α < 1/12), +2 (< 0.125), −6 (< 0.25), −8
    # prompt 2: r' = 1 − 3α, −α: +2 below α = 0.5
    # mean gap |Δ1 + Δ2| / 2: 5, then 2, 2 (a tie, only through averaging), 3: the first α above 1/12 wins
    groups = [(np.array([1.0, 0.5, 0.0]), np.array([10.0, 4.0, 2.0])), (np.array([1.0, 0.0]), np.array([3.0, 1.0]))]
    assert length_control_alpha(groups, 0.01) == pytest.approx(0.09)
    assert length_control_alpha(groups[:1], 0.01) == pytest.approx(0.09)


ROWS = {
    ("q1", "en"): {"id": "q1", "language": "en", "prompt": "Q en\n"},
    ("q1", "fr"): {"id": "q1", "language": "fr", "prompt": "Q fr\n"},
    ("q1", "xx"): {"id": "q1", "language": "xx", "prompt": "Q xx\n"},
    ("q2", "fr"): {"id": "q2", "language": "fr", "prompt": "R fr\n"},  # q2 has no English version
}


def test_implicit_cross_lingual_scoring_prompt_and_dropped_questions():
    ctx = RecordingContext(
        {"Q en\n": ["a", "bb"], "Q xx\n": ["c", "dd"]}, {"a": 1.0, "bb": 0.0, "c": 0.5, "dd": 0.5}, rows_by_key=ROWS
    )
    prompts = [ROWS[("q1", "en")], ROWS[("q1", "xx")], ROWS[("q2", "fr")]]
    result = build("implicit_cross_lingual", prompts, ctx, languages=["en", "fr"], samples_per_prompt=2)
    assert ctx.calls == [(["Q en\n", "Q xx\n"], 2, {"temperature": 0.9})]
    # English scores against itself; an unnamed language is named by its code
    assert ctx.scored_prompts == ["Q en\n"] * 2 + ["Please answer in xx.\nQ en\n"] * 2
    assert [(p["chosen"], p["rejected"], p["language"]) for p in result.pairs] == [("a", "bb", "en")]
    assert result.pairs[0]["chosen_score"] == 1.0 and result.pairs[0]["rejected_score"] == 0.0
    assert result.dropped == {"tie": 1, "no_english_version": 1}
    assert set(result.stats) == {"alpha_en", "alpha_xx"} and [g["score"] for g in result.generations] == [
        1.0,
        0.0,
        0.5,
        0.5,
    ]


def test_implicit_cross_lingual_without_length_control_uses_alpha_zero_and_its_own_settings():
    ctx = RecordingContext(
        {"Q fr\n": ["aa", "bbbbbbbb", "c"]}, {"aa": 2.0, "bbbbbbbb": 3.0, "c": 0.0}, rows_by_key=ROWS
    )
    result = build(
        "implicit_cross_lingual",
        [ROWS[("q1", "fr")]],
        ctx,
        languages=["fr"],
        samples_per_prompt=3,
        temperature=0.5,
        length_control=False,
        english="fr",
        answer_in_prefix="In {language}: ",
    )
    assert ctx.calls == [(["Q fr\n"], 3, {"temperature": 0.5})]
    assert ctx.scored_prompts == ["Q fr\n"] * 3  # "fr" is the scoring language here
    (pair,) = result.pairs
    assert (pair["chosen"], pair["rejected"], pair["alpha"]) == ("bbbbbbbb", "c", 0.0)
    assert result.stats == {"alpha_fr": 0.0}


def test_implicit_cross_lingual_defaults_sample_ten_and_pick_alpha_per_language():
    answers = {"Q fr\n": ["a", "bbbbbbbbbb", *["c"] * 8]}
    scores = {"a": 2.0, "bbbbbbbbbb": 3.0, "c": 0.0}
    ctx = RecordingContext(answers, scores, rows_by_key={**ROWS, ("q1", "de"): {"prompt": "Q en\n"}})
    result = build("implicit_cross_lingual", [ROWS[("q1", "fr")]], ctx, languages=["fr"])
    assert ctx.calls[0][1] == 10 and ctx.scored_prompts[0] == "Please answer in French.\nQ en\n"
    # grid step 0.001: "a" overtakes the 10-char answer once 2 − α > 3 − 10α, i.e. α > 1/9
    assert result.stats["alpha_fr"] == pytest.approx(0.112)
    assert (result.pairs[0]["chosen"], result.pairs[0]["rejected"]) == ("a", "c")


LI_ROWS = {
    ("q1", "en"): {"id": "q1", "language": "en", "prompt": "Q en\n"},
    ("q1", "fr"): {"id": "q1", "language": "fr", "prompt": "Q fr\n"},
    ("q1", "de"): {"id": "q1", "language": "de", "prompt": "Q de\n"},
}


def test_language_imbalance_targets_and_prompt_languages():
    cls = PAIR_BUILDERS.get("language_imbalance")
    builder = cls(cls.Config(name="language_imbalance"), ["fr", "en", "de"])
    assert builder.targets() == ["fr", "de"] and builder.prompt_languages() == ["en"]
    chosen = cls(cls.Config(name="language_imbalance", targets=["de"], dominant="fr"), ["en"])
    assert chosen.targets() == ["de"] and chosen.prompt_languages() == ["fr"]
    with pytest.raises(ValueError) as error:
        cls(cls.Config(name="language_imbalance"), ["en"]).targets()
    assert str(error.value) == (
        "language_imbalance needs target languages: set data.train_languages to the dominant language plus at least "
        "one other, or pair_builder.targets"
    )


def test_language_imbalance_policy_translator_prompts_and_failures():
    translate = "{source}>{target}:{text}"
    ctx = RecordingContext(
        {
            "Q en\n": ["yen"],
            "Q fr\n": ["yfr"],
            "Q de\n": ["yde"],
            "English>French:yen": ["  tfr  "],
            "English>German:yen": ["cut"],
            "French>English:yfr": ["   "],
            "German>English:yde": ["ten"],
        },
        rows_by_key=LI_ROWS,
        finish={"cut": "length"},
    )
    result = build(
        "language_imbalance",
        [LI_ROWS[("q1", "en")]],
        ctx,
        languages=["en", "fr", "de"],
        translate_prompt=translate,
        translate_max_tokens=7,
    )
    translation_calls = ctx.calls[2:]
    assert [call[2] for call in translation_calls] == [{"temperature": 0.0, "max_tokens": 7}] * 2
    assert translation_calls[0][0] == ["English>French:yen", "English>German:yen"]
    assert translation_calls[1][0] == ["French>English:yfr", "German>English:yde"]
    # fr: y_en -> "tfr" (stripped) gives the target pair; y_fr -> blank fails. de: y_en truncated fails;
    # y_de -> "ten" gives the dominant pair.
    assert [(p["side"], p["language"], p["chosen"], p["rejected"], p["paired_language"]) for p in result.pairs] == [
        ("target", "fr", "tfr", "yfr", "en"),
        ("dominant", "en", "yen", "ten", "de"),
    ]
    assert result.dropped == {"missing_translation_of_question": 0, "translation_failed": 2}
    target_pair, dominant_pair = result.pairs
    assert target_pair["chosen_ids"] == ctx.token_ids("tfr") and target_pair["prompt_ids"] == [len("Q fr\n")]
    assert dominant_pair["rejected_ids"] == ctx.token_ids("ten") and dominant_pair["prompt_ids"] == [len("Q en\n")]
    roles = [(g["role"], g["language"]) for g in result.generations]
    assert roles == [
        ("answer", "en"),
        ("answer", "fr"),
        ("translation", "fr"),
        ("translation", "en"),
        ("answer", "de"),
        ("translation", "de"),
        ("translation", "en"),
    ]
    fr_to_en = result.generations[3]
    assert fr_to_en == {"id": "q1", "language": "en", "role": "translation", "source": "yfr", "translation": None}
    assert result.generations[2] == {
        "id": "q1",
        "language": "fr",
        "role": "translation",
        "source": "yen",
        "translation": "tfr",
    }


def test_language_imbalance_without_max_tokens_leaves_the_rollout_limit():
    ctx = RecordingContext(
        {
            "Q en\n": ["yen"],
            "Q fr\n": ["yfr"],
            "Translate English to French: yen": ["t1"],
            "Translate French to English: yfr": ["t2"],
        },
        rows_by_key=LI_ROWS,
    )
    result = build(
        "language_imbalance",
        [LI_ROWS[("q1", "en")]],
        ctx,
        languages=["en", "fr"],
        translate_prompt="Translate {source} to {target}: {text}",
        dominant="en",
        targets=["fr"],
    )
    assert ctx.calls[2][2] == {"temperature": 0.0}
    assert [(p["side"], p["chosen"], p["rejected"]) for p in result.pairs] == [
        ("dominant", "yen", "t2"),
        ("target", "t1", "yfr"),
    ]
    assert result.dropped == {"missing_translation_of_question": 0, "translation_failed": 0}


def test_language_imbalance_default_prompt_names_the_languages():
    cls = PAIR_BUILDERS.get("language_imbalance")
    ctx = RecordingContext({"Translate the following text from English into Swahili. Reply with the translation "
                            "only.\n\nhello\n": ["jambo"]})  # fmt: skip
    assert cls(cls.Config(name="language_imbalance"), ["en", "sw"]).translate([("hello", "en", "sw")], ctx) == ["jambo"]
    world = cls(cls.Config(name="language_imbalance", translator="world"), ["en", "de"])
    assert world.translate([("The answer is 4.", "en", "de"), ("hm", "en", "de")], ctx) == ["Die Antwort ist 4.", None]


def test_language_imbalance_counts_every_missing_question_and_failed_translation():
    rows = {
        ("q1", "en"): {"id": "q1", "language": "en", "prompt": "A"},
        ("q2", "en"): {"id": "q2", "language": "en", "prompt": "B"},
        ("q2", "de"): {"id": "q2", "language": "de", "prompt": "B de"},
        ("q2", "it"): {"id": "q2", "language": "it", "prompt": "B it"},
    }
    answers = {"A": ["free text"], "B": ["more text"], "B de": ["mehr"], "B it": ["altro"]}
    ctx = RecordingContext(answers, rows_by_key=rows)
    result = build("language_imbalance", [rows[("q1", "en")], rows[("q2", "en")]], ctx, targets=["fr", "de", "it"],
                   translator="world")  # fmt: skip
    # q1 has no fr/de/it version, q2 no fr: 4 missing; q2-de and q2-it are asked, and all four translations fail
    assert result.dropped == {"missing_translation_of_question": 4, "translation_failed": 4}
    assert result.pairs == [] and ctx.calls[1][0] == ["B de", "B it"]
    with pytest.raises(ValueError):  # a target answer missing: the jobs no longer line up
        build("language_imbalance", [rows[("q2", "en")]], MiscountingContext(answers, rows_by_key=rows, short_call=2),
              targets=["de", "it"], translator="world")  # fmt: skip


def test_policy_translation_names_unknown_languages_by_their_code():
    cls = PAIR_BUILDERS.get("language_imbalance")
    builder = cls(cls.Config(name="language_imbalance", translate_prompt="{source}>{target}:{text}"), ["xx", "yy"])
    ctx = RecordingContext({"xx>yy:hi": ["yo"], "German>zz:hi": ["zo"]})
    assert builder.translate([("hi", "xx", "yy"), ("hi", "de", "zz")], ctx) == ["yo", "zo"]


def test_length_control_alpha_stays_below_one_and_is_zero_without_prompts():
    # prompt 1 always pairs long over short (+1); prompt 2 does too until α > 1.2, then short over long (−1):
    # balanced lengths need α > 1.2, outside the grid [0, 1), so α stays 0
    groups = [(np.array([5.0, 0.0]), np.array([2.0, 1.0])), (np.array([1.2, 0.0]), np.array([2.0, 1.0]))]
    assert length_control_alpha(groups, 0.25) == 0.0
    with pytest.warns(RuntimeWarning):
        assert length_control_alpha([], 0.5) == 0.0
