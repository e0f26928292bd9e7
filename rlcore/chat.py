"""Prompt formatting, the one place where a prompt becomes token ids (rollout, learner, reference, implicit DPO
reward, pair building, translations and evaluation all use the ids made here).

A prompt row carries `prompt` (its plain text) and, optionally, `messages` (an OpenAI-style list of {role, content})
and `system`. `data.chat_template` decides how it is rendered:

- `auto`: the tokenizer's own chat template, with `add_generation_prompt=True`, when it has one; else as `none`.
- `none`: the plain `prompt` text, with a BOS token only where the tokenizer adds one by default.
- a file path: that Jinja template instead of the tokenizer's.

A rendered template is encoded without added special tokens, as `tokenizer.apply_chat_template` does: the template
decides BOS (Llama-3's writes it; Qwen's has none), so it is never doubled nor missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROLES = ("system", "user", "assistant", "tool")

Messages = list[dict[str, str]]


class ChatError(ValueError):
    """A prompt or template that cannot be formatted; callers add the file and line."""


def check_messages(messages: Any, what: str = "messages") -> Messages:
    """`messages` as a list of {role, content} dicts, or a ChatError saying what is wrong with it."""
    if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise ChatError(f"{what} must be a non-empty list of {{role, content}} objects, got {type(messages).__name__}")
    out = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ChatError(f"{what}[{index}] must be an object with role and content, got {type(message).__name__}")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise ChatError(f"{what}[{index}].role must be one of {list(ROLES)}, got {role!r}")
        if not isinstance(content, str):
            raise ChatError(f"{what}[{index}].content must be a string, got {type(content).__name__}")
        out.append({"role": role, "content": content})
    return out


def check_prompt_messages(messages: Any, what: str = "messages") -> Messages:
    """A valid message list that asks for a reply: its last message is a user turn."""
    checked = check_messages(messages, what)
    if checked[-1]["role"] != "user":
        raise ChatError(f"{what} must end with a user message (the reply is generated), got {checked[-1]['role']!r}")
    return checked


def plain_text(messages: Messages) -> str:
    """A message list as plain text (no template): the contents, one per line."""
    return "\n".join(message["content"] for message in messages)


def row_messages(row: Mapping[str, Any]) -> Messages:
    """A prompt row's structured prompt: its `messages`, else its `prompt` as one user turn; `system` goes first."""
    messages = list(row["messages"]) if row.get("messages") else [{"role": "user", "content": row["prompt"]}]
    system = row.get("system")
    if system and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system}, *messages]
    return messages


def rewrite_user_turn(row: Mapping[str, Any], rewrite: Callable[[str], str]) -> dict[str, Any]:
    """A copy of a prompt row whose user text is rewritten (an instruction added by an algorithm stays inside the
    user turn): the last user message and the plain `prompt` both; its old prompt ids are dropped."""
    out = {key: value for key, value in row.items() if key != "prompt_ids"}
    out["prompt"] = rewrite(row["prompt"])
    if row.get("messages"):
        messages = [dict(message) for message in row["messages"]]
        last = max(i for i, message in enumerate(messages) if message["role"] == "user")
        messages[last]["content"] = rewrite(messages[last]["content"])
        out["messages"] = messages
    return out


def resolve_template(tokenizer: Any, setting: str) -> str | None:
    """The Jinja template a `data.chat_template` setting names for this tokenizer (None: plain text)."""
    if setting == "none":
        return None
    if setting == "auto":
        return getattr(tokenizer, "chat_template", None) or None
    path = Path(setting).expanduser()
    if not path.is_file():
        raise ChatError(f"data.chat_template: {setting!r} is neither auto, none nor a template file")
    return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class EncodedPrompt:
    ids: list[int]
    text: str


def encode_prompt(
    tokenizer: Any, prompt: str | Sequence[Mapping[str, str]], template: str | None, system: str | None = None
) -> EncodedPrompt:
    """The token ids (and text) of one prompt: a plain string (a user turn under a template) or a message list."""
    return encode_rows(tokenizer, [_as_row(prompt, system)], template)[0]


def encode_rows(tokenizer: Any, rows: Sequence[Mapping[str, Any]], template: str | None) -> list[EncodedPrompt]:
    """Token ids (and texts) of prompt rows; `template` is from `resolve_template` (None: plain text)."""
    if template is None:
        texts = [_plain_row_text(row) for row in rows]
    else:
        texts = [_render(tokenizer, row_messages(row), template) for row in rows]
    encoded = [tokenizer.encode(text, add_special_tokens=False) for text in texts]
    if template is None and _adds_bos(tokenizer):
        encoded = [ids if ids[:1] == [tokenizer.bos_token_id] else [tokenizer.bos_token_id, *ids] for ids in encoded]
    return [EncodedPrompt(list(ids), text) for ids, text in zip(encoded, texts, strict=True)]


class PromptFormatter:
    """A tokenizer with the run's `data.chat_template` resolved once: what every prompt-encoding caller holds."""

    def __init__(self, tokenizer: Any, chat_template: str = "auto"):
        self.tokenizer = tokenizer
        self.template = resolve_template(tokenizer, chat_template)

    @classmethod
    def for_model(cls, model_path: str, chat_template: str = "auto") -> PromptFormatter:
        """The formatter of a model (a directory, a run directory or builtin:tiny-arith): its tokenizer's."""
        from rlcore.modeling import load_tokenizer, resolve_model_path

        return cls(load_tokenizer(resolve_model_path(model_path)), chat_template)

    def encode(self, prompt: str | Sequence[Mapping[str, str]], system: str | None = None) -> EncodedPrompt:
        return encode_prompt(self.tokenizer, prompt, self.template, system)

    def with_prompt_ids(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows with `prompt_ids` added where they lack them (rows that have ids keep theirs)."""
        todo = [row for row in rows if "prompt_ids" not in row]
        encoded = iter(encode_rows(self.tokenizer, todo, self.template))
        return [row if "prompt_ids" in row else {**row, "prompt_ids": next(encoded).ids} for row in rows]

    def response_ids(self, text: str) -> list[int]:
        return response_ids(self.tokenizer, text)


def response_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of a response (an assistant turn's text) the policy did not generate token by token, + EOS."""
    return [*tokenizer.encode(text, add_special_tokens=False), tokenizer.eos_token_id]


def _as_row(prompt: str | Sequence[Mapping[str, str]], system: str | None) -> dict[str, Any]:
    if isinstance(prompt, str):
        return {"prompt": prompt, "system": system}
    messages = check_prompt_messages(prompt)
    return {"prompt": plain_text(messages), "messages": messages, "system": system}


def _plain_row_text(row: Mapping[str, Any]) -> str:
    system = row.get("system")
    has_system = bool(row.get("messages")) and row["messages"][0]["role"] == "system"
    return f"{system}\n{row['prompt']}" if system and not has_system else row["prompt"]


def _render(tokenizer: Any, messages: Messages, template: str) -> str:
    try:
        return tokenizer.apply_chat_template(
            messages, chat_template=template, tokenize=False, add_generation_prompt=True
        )
    except Exception as error:  # jinja errors (e.g. a template's raise_exception on an unsupported role order)
        raise ChatError(f"the chat template cannot render {messages!r}: {error}") from error


def _adds_bos(tokenizer: Any) -> bool:
    """Whether the tokenizer puts BOS in front of a text by default (Llama's do; Qwen's and the tiny model's don't)."""
    bos = getattr(tokenizer, "bos_token_id", None)
    return bos is not None and tokenizer.encode("a", add_special_tokens=True)[:1] == [bos]
