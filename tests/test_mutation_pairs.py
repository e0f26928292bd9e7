"""The rules of the pair builders on scripted samples (`make mutation`): which samples become chosen/rejected,
what is dropped and why, what is asked of the workers; base, reward-ranked and self-refinement here, the
cross-lingual builders in test_mutation_pairs_languages.py. A scripted context stands in for the workers."""

from __future__ import annotations

import numpy as np
import pytest

from algorithms.pairs.base import PairContext, generation_record, make_pair, response, written
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


def test_pair_context_generates_prompt_columns_with_merged_sampling():
    runtime = FakeRuntime()
    ctx = PairContext(runtime, {"temperature": 1.0, "top_p": 0.9}, FakeTokenizer())
    rows = [{"id": "q", "prompt": "p", "steps": [1, 2], "meta": {"a": 1}, "n": 3, "x": 0.5, "ok": True}]
    samples = ctx.generate(rows, 2, temperature=0.0)
    batch, n, sampling = runtime.generated[0]
    assert n == 2 and sampling == {"temperature": 0.0, "top_p": 0.9}
    assert sorted(batch.columns) == ["id", "n", "ok", "prompt", "prompt_ids", "x"]  # nested structures stay behind
    assert batch["prompt_ids"] == [[ord("p")]]  # formatted here (no chat template: the plain text)
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


def test_reward_ranked_rejects_the_worst_wherever_it_is():
    ctx = RecordingContext({"a": ["mid", "hi", "lo"]}, {"mid": 0.5, "hi": 1.0, "lo": 0.0})
    result = build("reward_ranked", [{"id": "q", "language": "en", "prompt": "a"}], ctx, samples_per_prompt=3)
    assert [(p["chosen"], p["rejected"]) for p in result.pairs] == [("hi", "lo")]


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
