"""rlcore.chat, the one prompt formatter: chat templates (auto/none/PATH) with real Hugging Face tokenizers built
locally in both BOS conventions (Llama-3's template writes BOS, Qwen's has none), message rows, system prompts,
instructions inside the user turn, the tiny model's template, and conversational pair files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlcore.chat import ChatError, PromptFormatter, check_prompt_messages, encode_prompt, rewrite_user_turn
from rlcore.config import DataSection
from rlcore.data import DataError, load_rows
from rlcore.pair_files import load_pair_file

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
QWEN_TEMPLATE = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
CORPUS = ["What is two plus three? Answer briefly.", "system user assistant", "Be brief. Translate this."] * 20


def _tokenizer(special: list[str], bos: str | None, eos: str, template: str, bos_by_default: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(CORPUS, trainer=trainer)
    if bos_by_default:
        assert bos is not None
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, backend.token_to_id(bos))]
        )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos)
    tokenizer.chat_template = template
    return tokenizer


@pytest.fixture(scope="module")
def llama3_style():
    """BOS added on encode by default, and written by the template too (as Llama-3's)."""
    special = ["<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"]
    return _tokenizer(special, "<|begin_of_text|>", "<|eot_id|>", LLAMA3_TEMPLATE, bos_by_default=True)


@pytest.fixture(scope="module")
def qwen_style():
    """No BOS at all (as Qwen2.5's)."""
    return _tokenizer(["<|im_start|>", "<|im_end|>"], None, "<|im_end|>", QWEN_TEMPLATE, bos_by_default=False)


@pytest.fixture(scope="module")
def tiny():
    from rlcore.modeling import load_tokenizer
    from rlcore.world.tiny_model import tiny_model_path

    return load_tokenizer(str(tiny_model_path()))


def hf_ids(tokenizer, messages) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False))


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def test_llama3_style_template_gives_exactly_one_bos(llama3_style):
    bos = llama3_style.bos_token_id
    assert llama3_style.encode("What is", add_special_tokens=True)[0] == bos  # the tokenizer's own convention
    encoded = PromptFormatter(llama3_style, "auto").encode("What is two plus three?")
    assert encoded.ids == hf_ids(llama3_style, [user("What is two plus three?")])
    assert encoded.ids[0] == bos and encoded.ids.count(bos) == 1
    assert encoded.text.startswith("<|begin_of_text|><|start_header_id|>user")
    assert encoded.text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_llama3_style_plain_text_gets_the_tokenizers_bos_once(llama3_style):
    bos = llama3_style.bos_token_id
    plain = PromptFormatter(llama3_style, "none").encode("What is two plus three?")
    assert plain.text == "What is two plus three?"
    assert plain.ids == llama3_style.encode("What is two plus three?", add_special_tokens=True)
    already = PromptFormatter(llama3_style, "none").encode("<|begin_of_text|>What is")
    assert already.ids[0] == bos and already.ids.count(bos) == 1


def test_qwen_style_template_has_no_bos_and_matches_apply_chat_template(qwen_style):
    assert qwen_style.bos_token_id is None
    messages = [{"role": "system", "content": "Be brief."}, user("What is two plus three?")]
    encoded = PromptFormatter(qwen_style, "auto").encode(messages)
    assert encoded.ids == hf_ids(qwen_style, messages)
    assert encoded.text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is two plus three?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert PromptFormatter(qwen_style, "none").encode("What is").ids == qwen_style.encode("What is")


def test_a_plain_string_is_a_user_turn_and_system_comes_first(qwen_style):
    formatter = PromptFormatter(qwen_style, "auto")
    assert formatter.encode("Translate this.").ids == hf_ids(qwen_style, [user("Translate this.")])
    with_system = formatter.encode("Translate this.", system="Be brief.")
    assert with_system.ids == hf_ids(qwen_style, [{"role": "system", "content": "Be brief."}, user("Translate this.")])
    assert PromptFormatter(qwen_style, "none").encode("Translate this.", system="Be brief.").text == (
        "Be brief.\nTranslate this."
    )


def test_a_template_file_replaces_the_tokenizers(tmp_path, qwen_style):
    path = tmp_path / "plain.jinja"
    path.write_text("{% for m in messages %}Q: {{ m['content'] }}\n{% endfor %}A:")
    encoded = PromptFormatter(qwen_style, str(path)).encode("What is")
    assert encoded.text == "Q: What is\nA:" and encoded.ids == qwen_style.encode("Q: What is\nA:")
    with pytest.raises(ChatError, match="neither auto, none nor a template file"):
        PromptFormatter(qwen_style, str(tmp_path / "missing.jinja"))


def test_auto_without_a_template_is_plain_text(qwen_style):
    from transformers import PreTrainedTokenizerFast

    bare = PreTrainedTokenizerFast(tokenizer_object=qwen_style.backend_tokenizer, eos_token="<|im_end|>")
    assert PromptFormatter(bare, "auto").template is None
    assert PromptFormatter(bare, "auto").encode("What is").text == "What is"


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ("hi", "non-empty list"),
        ([], "non-empty list"),
        (["hi"], r"messages\[0\] must be an object"),
        ([{"role": "human", "content": "hi"}], r"messages\[0\].role must be one of"),
        ([{"role": "user", "content": 3}], r"messages\[0\].content must be a string"),
        ([user("hi"), {"role": "assistant", "content": "yo"}], "must end with a user message"),
    ],
)
def test_malformed_messages_are_refused(messages, error):
    with pytest.raises(ChatError, match=error):
        check_prompt_messages(messages)


def test_the_tiny_template_renders_builtin_rows_as_the_trained_prompt(tiny):
    from rlcore.world.tiny_model import CHAT_TEMPLATE

    assert tiny.chat_template == CHAT_TEMPLATE  # the shipped tokenizer has the recipe's template
    rows = load_rows("builtin:arith", "eval", DataSection(), None, 0, 20)
    rows += load_rows("builtin:arith", "train", DataSection(), None, 1, 20)
    formatted = PromptFormatter(tiny, "auto").with_prompt_ids(rows)
    for row in formatted:
        assert row["prompt_ids"] == tiny.encode(row["question"] + "\n", add_special_tokens=False)  # as before
        assert row["prompt_ids"] == hf_ids(tiny, row["messages"])
    plain = PromptFormatter(tiny, "none").with_prompt_ids(rows)
    assert [row["prompt_ids"] for row in plain] == [row["prompt_ids"] for row in formatted]
    conversation = [{"role": "system", "content": "S"}, user("Q"), {"role": "assistant", "content": "A"}, user("R")]
    assert encode_prompt(tiny, conversation, tiny.chat_template).text == "S\nQ\nA</s>R\n"


def test_an_instruction_goes_inside_the_user_turn(qwen_style):
    row = {"prompt": "What is", "messages": [user("What is")], "prompt_ids": [1], "id": "q"}
    rewritten = rewrite_user_turn(row, lambda text: "Answer in French.\n" + text)
    assert rewritten["prompt"] == "Answer in French.\nWhat is" and "prompt_ids" not in rewritten
    assert row["messages"][0]["content"] == "What is"  # the original row is left alone
    (encoded,) = PromptFormatter(qwen_style, "auto").with_prompt_ids([rewritten])
    assert encoded["prompt_ids"] == hf_ids(qwen_style, [user("Answer in French.\nWhat is")])


def test_message_rows_load_with_system_prompts(tmp_path):
    path, other = tmp_path / "rows.jsonl", tmp_path / "other.jsonl"
    path.write_text(json.dumps({"messages": [user("What is 2+3?")], "answer": "5", "system": "Be brief."}) + "\n")
    chat = [{"role": "system", "content": "S"}, user("Q")]
    other.write_text(json.dumps({"chat": chat, "answer": 1, "id": "q2"}) + "\n")
    (first,) = load_rows(str(path), "train", DataSection(), None, 0, 1)
    assert first["messages"] == [{"role": "system", "content": "Be brief."}, user("What is 2+3?")]
    assert first["prompt"] == "Be brief.\nWhat is 2+3?" and first["answer"] == "5"
    (second,) = load_rows(str(other), "train", DataSection(messages_key="chat"), None, 0, 1)
    assert second["messages"] == chat and second["id"] == "q2" and second["prompt"] == "S\nQ"


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ({"messages": [{"role": "user"}], "answer": "1"}, r"rows.jsonl:2: 'messages'\[0\].content must be a string"),
        ({"messages": "hi", "answer": "1"}, r"rows.jsonl:2: 'messages' must be a non-empty list"),
        ({"messages": [user("q")], "answer": "1", "system": 5}, r"rows.jsonl:2: 'system' must be a non-empty"),
    ],
)
def test_malformed_message_rows_name_file_and_line(tmp_path, row, error):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"prompt": "ok", "answer": "1"}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError, match=error):
        load_rows(str(path), "train", DataSection(), None, 0, 1)


def test_conversational_pair_files(tmp_path, qwen_style):
    formatter = PromptFormatter(qwen_style, "auto")
    eos = qwen_style.eos_token_id
    answer = [{"role": "assistant", "content": "Five."}]
    rows = [
        {
            "prompt": [user("What is two plus three?")],
            "chosen": answer,
            "rejected": [{"role": "assistant", "content": "Six."}],
        },
        {"chosen": [user("Q"), *answer], "rejected": [user("Q"), {"role": "assistant", "content": "No."}], "id": "x"},
        {"prompt": "Translate this.", "chosen": "Five.", "rejected": "Six.", "system": "Be brief."},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    conversational, implicit, plain = load_pair_file(str(path), formatter)
    assert conversational["prompt_ids"] == hf_ids(qwen_style, rows[0]["prompt"])
    assert conversational["chosen"] == "Five." and conversational["chosen_ids"] == [*qwen_style.encode("Five."), eos]
    assert conversational["rejected_ids"] == [*qwen_style.encode("Six."), eos]
    assert implicit["prompt_ids"] == hf_ids(qwen_style, [user("Q")]) and implicit["rejected"] == "No."
    assert implicit["id"] == "x" and implicit["prompt"] == "Q"
    system = [{"role": "system", "content": "Be brief."}, user("Translate this.")]
    assert plain["prompt_ids"] == hf_ids(qwen_style, system)


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ({"prompt": [user("Q")], "chosen": [user("A")], "rejected": "B"}, "chosen must be one assistant message"),
        ({"chosen": [user("Q"), user("A")], "rejected": [user("P"), user("B")]}, "differ in their last turn"),
        ({"prompt": [{"role": "assistant", "content": "Q"}], "chosen": "A", "rejected": "B"}, "end with a user"),
        ({"prompt": "Q", "chosen": [], "rejected": "B"}, r"\['chosen'\] must be non-empty strings"),
    ],
)
def test_malformed_conversational_pairs_name_file_and_line(tmp_path, qwen_style, row, error):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=rf"pairs.jsonl:1: .*{error}"):
        load_pair_file(str(path), PromptFormatter(qwen_style, "auto"))


def test_a_configured_system_prompt_fills_rows_without_one(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [{"prompt": "Q", "answer": "1"}, {"prompt": "R", "answer": "2", "system": "Own."}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    first, second = load_rows(str(path), "train", DataSection(system_prompt="Think."), None, 0, 1)
    assert first["system"] == "Think." and second["system"] == "Own."


class EchoRuntime:
    """Stands in for the workers (pure logic): records the prompt batches; every response is "ok"."""

    def __init__(self):
        self.prompts: list = []
        self.scored: list = []

    def generate(self, prompts, n, sampling=None):
        self.prompts.append(prompts)
        rows = prompts.with_columns(group=list(range(len(prompts)))).repeat_interleave(n)
        texts = ["ok"] * len(rows)
        ids = [[5] * len(text) for text in texts]
        return rows.with_columns(response_text=texts, response_ids=ids, finish_reason=["stop"] * len(rows))

    def score(self, samples):
        self.scored.append(samples)
        return samples.with_tensors(rewards=np.arange(len(samples), dtype=np.float32))


def test_builders_put_their_instructions_inside_the_user_turn(tiny):
    from algorithms.pairs import PAIR_BUILDERS, PairContext

    rows = PromptFormatter(tiny, "auto").with_prompt_ids(
        load_rows("builtin:arith", "train", DataSection(), ["en", "fr"], 0, 2)
    )
    by_key = {(row["id"], row["language"]): row for row in rows}
    runtime = EchoRuntime()
    ctx = PairContext(runtime, {}, tiny, by_key, "auto")
    cls = PAIR_BUILDERS.get("implicit_cross_lingual")
    french = [row for row in rows if row["language"] == "fr"]
    cls(cls.Config(name="implicit_cross_lingual", samples_per_prompt=3), ["en", "fr"]).build(french, ctx)
    (scored,) = runtime.scored
    for question_id, ids in zip(scored["id"], scored["score_prompt_ids"], strict=True):
        english = by_key[(question_id, "en")]
        instruction = [{"role": "user", "content": "Please answer in French.\n" + english["question"]}]
        assert ids == hf_ids(tiny, instruction)

    runtime = EchoRuntime()
    cls = PAIR_BUILDERS.get("self_refinement")
    english = [row for row in rows if row["language"] == "en"]
    cls(cls.Config(name="self_refinement"), ["en"]).build(english, PairContext(runtime, {}, tiny, by_key, "auto"))
    first, reflections = runtime.prompts
    assert first["prompt_ids"] == [row["prompt_ids"] for row in english]
    reflection = cls.Config.model_fields["reflection_prompt"].default
    for row, ids in zip(english, reflections["prompt_ids"], strict=True):
        request = reflection.format(prompt=row["question"], response="ok")
        assert ids == hf_ids(tiny, [{"role": "user", "content": request}])
