"""The rules of the pair builders on scripted samples (`make mutation`): which samples become chosen/rejected,
what is dropped and why, what is asked of the workers. A scripted context stands in for the workers."""

from __future__ import annotations

import numpy as np
import pytest

from algorithms.pairs.base import PairContext, generation_record, make_pair, response, written
from algorithms.pairs.implicit_cross_lingual import length_control_alpha, select_pair
from algorithms.pairs.self_refinement import _row_of
from rlcore.batch import Batch
from tests.test_pair_builders import ScriptedContext, build


class RecordingContext(ScriptedContext):
    """A scripted context that also records every generate() call: (prompts, n, sampling)."""

    def __init__(self, *args, finish: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[list[str], int, dict]] = []
        self.finish = finish or {}

    def generate(self, rows, n, **sampling):
        self.calls.append(([row["prompt"] for row in rows], n, sampling))
        out = super().generate(rows, n, **sampling)
        for sample in out:
            sample["finish_reason"] = self.finish.get(sample["response_text"], sample["finish_reason"])
        return out


class FakeRuntime:
    def __init__(self):
        self.generated: list[tuple[Batch, int, dict]] = []

    def generate(self, batch: Batch, n: int, sampling: dict) -> Batch:
        self.generated.append((batch, n, sampling))
        return batch.repeat_interleave(n).with_columns(response_text=[f"r{i}" for i in range(len(batch) * n)])

    def score(self, batch: Batch) -> Batch:
        return batch.with_tensors(rewards=np.arange(len(batch), dtype=np.float64) / 2)


class FakeTokenizer:
    eos_token_id = 0

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return [ord(c) for c in text] + ([1] if add_special_tokens else [])


def test_pair_context_generates_prompt_columns_with_merged_sampling():
    runtime = FakeRuntime()
    ctx = PairContext(runtime, {"temperature": 1.0, "top_p": 0.9}, FakeTokenizer())
    rows = [{"id": "q", "prompt": "p", "steps": [1, 2], "meta": {"a": 1}, "n": 3, "x": 0.5, "ok": True}]
    samples = ctx.generate(rows, 2, temperature=0.0)
    batch, n, sampling = runtime.generated[0]
    assert n == 2 and sampling == {"temperature": 0.0, "top_p": 0.9}
    assert sorted(batch.columns) == ["id", "n", "ok", "prompt", "x"]  # nested structures stay behind
    assert [s["response_text"] for s in samples] == ["r0", "r1"] and samples[0]["id"] == "q"
    assert ctx.generate([], 2) == [] and len(runtime.generated) == 1


def test_pair_context_scores_and_tokenizes_written_text():
    ctx = PairContext(FakeRuntime(), {}, FakeTokenizer())
    scores = ctx.score([{"response_text": "a"}, {"response_text": "b"}, {"response_text": "c"}])
    assert scores.dtype == np.float32 and scores.tolist() == [0.0, 0.5, 1.0]
    empty = ctx.score([])
    assert empty.dtype == np.float32 and empty.shape == (0,)
    assert ctx.token_ids("ab") == [97, 98, 0]  # no special tokens, EOS appended
    assert written("ab", ctx) == {"text": "ab", "ids": [97, 98, 0]}
    assert response({"response_text": "t", "response_ids": (5, 6)}) == {"text": "t", "ids": [5, 6]}


def test_token_ids_of_written_text_with_a_real_fast_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "</s>": 1, "<s>": 2, "a": 3, "b": 4}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 2)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="</s>", unk_token="[UNK]")
    assert tokenizer.encode("a b") == [2, 3, 4]  # BOS by default ...
    assert PairContext(None, {}, tokenizer).token_ids("a b") == [3, 4, 1]  # ... but not in a response: EOS instead


def test_make_pair_and_generation_record_fields():
    pair = make_pair(
        {"prompt": "p"}, (1, 2), {"text": "c", "ids": [3]}, {"text": "r", "ids": [4]}, side="target", extra=1
    )
    assert pair == {
        "id": "",
        "language": "",
        "prompt": "p",
        "chosen": "c",
        "rejected": "r",
        "prompt_ids": [1, 2],
        "chosen_ids": [3],
        "rejected_ids": [4],
        "side": "target",
        "extra": 1,
    }
    side = {"text": "t", "ids": [5]}
    assert make_pair({"id": "q", "language": "fr", "prompt": "p"}, [], side, side)["language"] == "fr"
    sample = {"prompt": "p", "response_text": "t"}
    assert generation_record(sample) == {"id": "", "language": "", "prompt": "p", "response": "t", "finish_reason": ""}
    full = {"id": "q", "language": "de", "prompt": "p", "response_text": "t", "finish_reason": "stop"}
    record = generation_record(full, np.float32(0.5), role="answer")
    assert record == {
        "id": "q",
        "language": "de",
        "prompt": "p",
        "response": "t",
        "finish_reason": "stop",
        "role": "answer",
        "score": 0.5,
    }
    assert type(record["score"]) is float
    assert generation_record(sample, 0.0)["score"] == 0.0


def test_reward_ranked_needs_a_margin_above_min_margin_and_asks_for_n_samples():
    prompts = [{"id": f"q{i}", "language": "en", "prompt": p} for i, p in enumerate("abc")]
    ctx = RecordingContext(
        {"a": ["lo", "hi", "mid", "lo2"], "b": ["x", "y", "x", "y"], "c": ["one", "two", "one", "one"]},
        {"lo": 0.0, "hi": 1.0, "mid": 0.5, "lo2": 0.0, "x": 0.25, "y": 0.75, "one": 0.5, "two": 0.5},
    )
    result = build("reward_ranked", prompts, ctx, samples_per_prompt=4, min_margin=0.5)
    assert ctx.calls[0][1] == 4
    # a: margin 1.0 > 0.5 -> hi vs the first lowest (lo); b: margin 0.5 is not above 0.5; c: all equal
    assert [(p["chosen"], p["rejected"], p["id"]) for p in result.pairs] == [("hi", "lo", "q0")]
    assert result.pairs[0]["chosen_score"] == 1.0 and result.pairs[0]["rejected_score"] == 0.0
    assert result.pairs[0]["prompt_ids"] == [1] and result.pairs[0]["chosen_ids"] == ctx.token_ids("hi")
    assert result.dropped == {"tie": 2}
    assert [g["score"] for g in result.generations[:4]] == [0.0, 1.0, 0.5, 0.0]
    default = build("reward_ranked", prompts, RecordingContext(ctx.answers, ctx.scores), samples_per_prompt=4)
    assert len(default.pairs) == 2 and default.dropped == {"tie": 1}  # default margin 0: only c is a tie


def test_reward_ranked_defaults_to_four_samples():
    ctx = RecordingContext({"a": ["w", "x", "y", "z"]}, {"w": 0.0, "x": 1.0, "y": 0.0, "z": 0.0})
    result = build("reward_ranked", [{"id": "q", "language": "en", "prompt": "a"}], ctx)
    assert ctx.calls[0][1] == 4 and len(result.generations) == 4 and result.pairs[0]["chosen"] == "x"


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
    cls = build.__globals__["PAIR_BUILDERS"].get("language_imbalance")
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
    cls = build.__globals__["PAIR_BUILDERS"].get("language_imbalance")
    ctx = RecordingContext({"Translate the following text from English into Swahili. Reply with the translation "
                            "only.\n\nhello\n": ["jambo"]})  # fmt: skip
    assert cls(cls.Config(name="language_imbalance"), ["en", "sw"]).translate([("hello", "en", "sw")], ctx) == ["jambo"]
    world = cls(cls.Config(name="language_imbalance", translator="world"), ["en", "de"])
    assert world.translate([("The answer is 4.", "en", "de"), ("hm", "en", "de")], ctx) == ["Die Antwort ist 4.", None]


def test_self_refinement_reflection_prompt_drops_and_scores():
    prompts = [{"id": f"q{i}", "language": "en", "prompt": f"P{i}\n", "answer": "1"} for i in range(4)]
    ctx = RecordingContext(
        {
            "P0\n": ["a0"],
            "P1\n": ["a1"],
            "P2\n": ["a2"],
            "P3\n": ["a3"],
            "P0\n|a0": ["better"],
            "P1\n|a1": ["cut"],
            "P2\n|a2": ["  "],
            "P3\n|a3": ["same"],
        },
        {"a0": 0.0, "better": 1.0, "a1": 0.0, "cut": 1.0, "a2": 0.0, "  ": 1.0, "a3": 0.5, "same": 0.5},
        finish={"cut": "length", "  ": "stop"},
    )
    strict = build("self_refinement", prompts, ctx, reflection_prompt="{prompt}|{response}", require_improvement=True)
    assert ctx.calls[1][0] == ["P0\n|a0", "P1\n|a1", "P2\n|a2", "P3\n|a3"] and ctx.calls[1][1] == 1
    assert [(p["id"], p["chosen"], p["rejected"], p["prompt"]) for p in strict.pairs] == [
        ("q0", "better", "a0", "P0\n")
    ]
    assert strict.pairs[0]["chosen_score"] == 1.0 and strict.pairs[0]["rejected_score"] == 0.0
    assert strict.dropped == {"refinement_truncated_or_empty": 2, "not_improved": 1}
    assert ctx.scored_prompts[4:] == ["P0\n", "P1\n", "P2\n", "P3\n"]  # refinements scored on the original prompt
    assert [(g["role"], g.get("score")) for g in strict.generations[:2]] == [("answer", 0.0), ("refinement", 1.0)]
    ctx.scored_prompts.clear()
    lenient = build("self_refinement", prompts, ctx, reflection_prompt="{prompt}|{response}")
    assert [p["chosen"] for p in lenient.pairs] == ["better", "same"] and ctx.scored_prompts == []
    assert "chosen_score" not in lenient.pairs[0] and "score" not in lenient.generations[0]
    assert lenient.dropped == {"refinement_truncated_or_empty": 2, "not_improved": 0}


def test_self_refinement_default_reflection_prompt_and_samples():
    prompt = {"id": "q", "language": "en", "prompt": "P\n"}
    reflection = (
        "P\na\n\nReflect on the answer above: consider the user's situation and needs, check each step, and write an "
        "improved answer.\n"
    )
    ctx = RecordingContext({"P\n": ["a"], reflection: ["b"]})
    result = build("self_refinement", [prompt], ctx)
    assert ctx.calls[0][1] == 1 and [p["chosen"] for p in result.pairs] == ["b"]


def test_row_of_removes_generation_outputs_only():
    sample = {
        "id": "q",
        "prompt": "p",
        "answer": "1",
        **{
            key: 0
            for key in (
                "prompt_ids",
                "response_ids",
                "response_text",
                "finish_reason",
                "sample_index",
                "group",
                "rollout_logprobs",
                "response_mask",
            )
        },
    }
    assert _row_of(sample) == {"id": "q", "prompt": "p", "answer": "1"}


class MiscountingContext(RecordingContext):
    """A context whose workers return one result too few (generate) or too many (score)."""

    def __init__(self, *args, short_call: int | None = None, extra_score: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.short_call, self.extra_score = short_call, extra_score

    def generate(self, rows, n, **sampling):
        out = super().generate(rows, n, **sampling)
        return out[:-1] if len(self.calls) == self.short_call else out

    def score(self, samples):
        scores = super().score(samples)
        return np.append(scores, 0.0).astype(np.float32) if self.extra_score else scores


def test_builders_refuse_worker_results_that_do_not_line_up_with_their_requests():
    answers = {"a": ["x", "y"], "a|x": ["x2"], "a|y": ["y2"]}
    scores = {"x": 0.0, "y": 1.0, "x2": 1.0, "y2": 2.0}
    prompt = [{"id": "q", "language": "en", "prompt": "a"}]
    for strict in (True, False):
        ctx = MiscountingContext(answers, scores, short_call=2)  # one refinement missing
        with pytest.raises(ValueError):
            build("self_refinement", prompt, ctx, samples_per_prompt=2, reflection_prompt="{prompt}|{response}",
                  require_improvement=strict)  # fmt: skip
    with pytest.raises(ValueError):
        build("reward_ranked", prompt, MiscountingContext(answers, scores, extra_score=True), samples_per_prompt=2)
    fr = {("q", "en"): {"id": "q", "language": "en", "prompt": "a"}, ("q", "fr"): {"id": "q", "language": "fr"}}
    with pytest.raises(ValueError):
        build("implicit_cross_lingual", prompt, MiscountingContext(answers, scores, extra_score=True, rows_by_key=fr),
              samples_per_prompt=2)  # fmt: skip


def test_counts_of_dropped_pairs_add_up():
    answers = {f"P{i}": [f"a{i}"] for i in range(3)} | {f"P{i}|a{i}": [f"r{i}"] for i in range(3)}
    scores = {f"a{i}": 1.0 for i in range(3)} | {f"r{i}": 0.5 for i in range(3)}
    prompts = [{"id": f"q{i}", "language": "en", "prompt": f"P{i}"} for i in range(3)]
    strict = build("self_refinement", prompts, RecordingContext(answers, scores),
                   reflection_prompt="{prompt}|{response}", require_improvement=True)  # fmt: skip
    assert strict.pairs == [] and strict.dropped == {"refinement_truncated_or_empty": 0, "not_improved": 3}
    # implicit: two tied prompts, then one with a pair, all in one language
    answers = {"T1": ["s", "s"], "T2": ["u", "u"], "W": ["good", "bad"]}
    scores = {"s": 1.0, "u": 0.0, "good": 1.0, "bad": 0.0}
    rows = {(q, lang): {"id": q, "language": lang, "prompt": p} for q, p in [("t1", "T1"), ("t2", "T2"), ("w", "W")]
            for lang in ("en",)}  # fmt: skip
    ctx = RecordingContext(answers, scores, rows_by_key=rows)
    result = build("implicit_cross_lingual", list(rows.values()), ctx, languages=["en"], samples_per_prompt=2)
    assert result.dropped == {"tie": 2, "no_english_version": 0} and [p["chosen"] for p in result.pairs] == ["good"]


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
    cls = build.__globals__["PAIR_BUILDERS"].get("language_imbalance")
    builder = cls(cls.Config(name="language_imbalance", translate_prompt="{source}>{target}:{text}"), ["xx", "yy"])
    ctx = RecordingContext({"xx>yy:hi": ["yo"], "German>zz:hi": ["zo"]})
    assert builder.translate([("hi", "xx", "yy"), ("hi", "de", "zz")], ctx) == ["yo", "zo"]


def test_reward_ranked_rejects_the_worst_wherever_it_is():
    ctx = RecordingContext({"a": ["mid", "hi", "lo"]}, {"mid": 0.5, "hi": 1.0, "lo": 0.0})
    result = build("reward_ranked", [{"id": "q", "language": "en", "prompt": "a"}], ctx, samples_per_prompt=3)
    assert [(p["chosen"], p["rejected"]) for p in result.pairs] == [("hi", "lo")]


def test_length_control_alpha_stays_below_one_and_is_zero_without_prompts():
    # prompt 1 always pairs long over short (+1); prompt 2 does too until α > 1.2, then short over long (−1):
    # balanced lengths need α > 1.2, outside the grid [0, 1), so α stays 0
    groups = [(np.array([5.0, 0.0]), np.array([2.0, 1.0])), (np.array([1.2, 0.0]), np.array([2.0, 1.0]))]
    assert length_control_alpha(groups, 0.25) == 0.0
    with pytest.warns(RuntimeWarning):
        assert length_control_alpha([], 0.5) == 0.0
