"""Tiny multilingual arithmetic model: shipped with the project, and rebuildable from its recipe.

The model every run, test and document uses is the one in `rlcore/world/models/` (`tiny_model_path()`): a few MB of
safetensors and tokenizer, so that every machine starts from the same weights (a rebuild's floating-point reductions
may differ between CPUs) and no run waits minutes for a build.

`build_tiny_model()` is the recipe that made it: it trains a byte-level BPE tokenizer on the synthetic tasks, builds a
~1M-parameter Llama and warm-starts it by SFT with a 10:1 English-to-other-language data imbalance, stopping early on
purpose: English is mediocre and the other languages are worse, so that RL has room to improve. The result is a
Hugging Face model directory (safetensors) that transformers and vLLM load, with a `world_card.json` describing how
it was made and the SHA-256 of its weights.

Run `rlcore build-model [--force]` to rebuild it into the cache and compare its weights with the shipped ones.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rlcore.checkpoint import sha256
from rlcore.grading import is_correct
from rlcore.world.lexicon import NUMBER_WORDS
from rlcore.world.tasks import LANGUAGES, Problem, generate_problems

__all__ = ["SPEC", "VERSION", "build_tiny_model", "default_cache_dir", "evaluate", "main", "tiny_model_path"]

VERSION = "v2"  # bump when anything below (or the task text) changes: the cached model is rebuilt
MODEL_NAME = f"tiny-arith-{VERSION}"
SHIPPED_DIR = Path(__file__).resolve().parent / "models" / MODEL_NAME
SPEC: dict = {
    "vocab_size": 1200,
    "hidden_size": 128,
    "num_attention_heads": 4,
    "head_dim": 32,
    "num_hidden_layers": 4,
    "intermediate_size": 512,
    "max_position_embeddings": 256,
    # A snapshot mid-way through a longer cosine schedule, still at a high learning rate: a model stopped there is
    # mediocre (English ~42%) yet keeps improving under RL (GRPO +12 points in 300 steps, measured), whereas one
    # whose schedule fully decayed at the same accuracy (400 of 400 steps) got worse under the same GRPO.
    "sft_steps": 470,
    "sft_schedule_steps": 1000,
    "batch_size": 64,
    "peak_lr": 2e-3,
    "warmup_steps": 100,
    "min_lr_ratio": 0.1,
    "weight_decay": 0.01,
    "english_ratio": 10,  # English : each other language, in the SFT data
    "sft_english_problems": 20_000,
    "eval_per_language": 500,
    "seed": 0,
}
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>")  # ids 0, 1, 2
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


def _log(msg: str) -> None:
    print(f"[tiny_model] {msg}", file=sys.stderr, flush=True)


def default_cache_dir() -> Path:
    """$RLCORE_CACHE, or ~/.cache/rlcore."""
    return Path(os.environ.get("RLCORE_CACHE") or Path.home() / ".cache" / "rlcore")


def tiny_model_path() -> Path:
    """The shipped tiny model's directory (what `builtin:tiny-arith` names)."""
    return SHIPPED_DIR


def weights_sha256(model_dir: Path) -> str:
    """SHA-256 of a model directory's model.safetensors."""
    return sha256(Path(model_dir) / "model.safetensors")


def build_tiny_model(cache_dir: Path | None = None, force: bool = False) -> Path:
    """Rebuild the tiny model from its recipe into the cache (once, atomically, under a file lock); its directory."""
    models = Path(cache_dir or default_cache_dir()) / "models"
    models.mkdir(parents=True, exist_ok=True)
    final = models / MODEL_NAME
    with open(models / f".{MODEL_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent builder waits here, then finds the model ready
        if (final / "world_card.json").exists() and not force:
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}-build-", dir=models))
        try:
            _build(tmp)
            tmp.chmod(0o755)  # mkdtemp makes it private
            if final.exists():
                old = models / f".{MODEL_NAME}-old-{os.getpid()}"
                final.rename(old)
                shutil.rmtree(old, ignore_errors=True)
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


# ---------------------------------------------------------------------------------------------------- building


# The chat template of the tiny model: a user (or system) turn is its text and a newline, so that one user turn is
# exactly the prompt the model was trained on (question + "\n"); an assistant turn is its text and EOS.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}{{- message['content'] + eos_token -}}"
    "{%- else -%}{{- message['content'] + '\\n' -}}{%- endif -%}"
    "{%- endfor -%}"
)


def _train_tokenizer(out_dir: Path):
    """Byte-level BPE on task text of every language; no BOS/EOS added on encode; the tiny chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [p.prompt + p.solution for p in generate_problems("train", 3000, seed=SPEC["seed"] + 1)]
    corpus += [" ".join(words) for words in NUMBER_WORDS.values()]
    # Every number 0..99 as one token, both at a line start ("30") and after a space (" 30").
    corpus += ["\n".join(map(str, range(100))), " ".join(map(str, range(100)))] * 1000
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=SPEC["vocab_size"],
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [PAD_ID, BOS_ID, EOS_ID]
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", padding_side="right"
    )
    hf_tok.chat_template = CHAT_TEMPLATE
    hf_tok.save_pretrained(out_dir)
    return hf_tok


def _build_model(vocab_size: int):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=SPEC["hidden_size"],
        intermediate_size=SPEC["intermediate_size"],
        num_hidden_layers=SPEC["num_hidden_layers"],
        num_attention_heads=SPEC["num_attention_heads"],
        num_key_value_heads=SPEC["num_attention_heads"],
        head_dim=SPEC["head_dim"],
        max_position_embeddings=SPEC["max_position_embeddings"],
        tie_word_embeddings=True,
        pad_token_id=PAD_ID,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        dtype="float32",
    )
    torch.manual_seed(SPEC["seed"])
    model = LlamaForCausalLM(config).float()
    model.generation_config = GenerationConfig(
        bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID, do_sample=False, max_new_tokens=48
    )
    return model


def _sft_examples(tokenizer) -> list[tuple[list[int], int]]:
    """(token ids of prompt + completion + </s>, prompt length), English ratio:1 to each other language."""
    n_en = SPEC["sft_english_problems"]
    problems = generate_problems("train", n_en, languages=("en",), seed=SPEC["seed"])
    others = tuple(lang for lang in LANGUAGES if lang != "en")
    problems += generate_problems("train", n_en // SPEC["english_ratio"], languages=others, seed=SPEC["seed"])
    prompts = tokenizer([p.prompt for p in problems], add_special_tokens=False)["input_ids"]
    completions = tokenizer([p.solution for p in problems], add_special_tokens=False)["input_ids"]
    return [(p + c + [EOS_ID], len(p)) for p, c in zip(prompts, completions, strict=True)]


def _lr_at(step: int) -> float:
    """Linear warm-up, then cosine decay to min_lr_ratio * peak."""
    peak, warm = SPEC["peak_lr"], SPEC["warmup_steps"]
    total = SPEC.get("sft_schedule_steps", SPEC["sft_steps"])
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    floor = SPEC["min_lr_ratio"]
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def _length_bucketed_batches(lengths: list[int], gen, window: int = 8) -> list[list[int]]:
    """One epoch of shuffled batches; within windows of `window` batches, examples are sorted by length so that
    batches carry little padding (about a third less compute), while batch order stays random."""
    import torch

    size = SPEC["batch_size"]
    order = torch.randperm(len(lengths), generator=gen).tolist()
    batches = []
    for w in range(0, len(order) - size + 1, size * window):
        chunk = sorted(order[w : w + size * window], key=lengths.__getitem__)
        batches += [chunk[i : i + size] for i in range(0, len(chunk) - size + 1, size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]


def _sft(model, examples: list[tuple[list[int], int]]) -> dict:
    """Plain-torch SFT, loss on completion tokens (and </s>) only. Returns stats."""
    import torch

    gen = torch.Generator().manual_seed(SPEC["seed"])
    opt = torch.optim.AdamW(model.parameters(), lr=SPEC["peak_lr"], weight_decay=SPEC["weight_decay"])
    model.train()
    batches: list[list[int]] = []
    losses, start = [], time.time()
    for step in range(SPEC["sft_steps"]):
        if not batches:
            batches = _length_bucketed_batches([len(ids) for ids, _ in examples], gen)
        batch = [examples[i] for i in batches.pop()]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), PAD_ID, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, prompt_len) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, prompt_len : len(ids)] = torch.tensor(ids[prompt_len:])
            mask[row, : len(ids)] = 1
        for group in opt.param_groups:
            group["lr"] = _lr_at(step)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == SPEC["sft_steps"] - 1:
            _log(f"sft step {step:4d}  loss {loss.item():.3f}  lr {_lr_at(step):.2e}  {time.time() - start:.0f}s")
    model.eval()
    return {"final_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4), "seconds": round(time.time() - start, 1)}


def evaluate(model, tokenizer, problems: list[Problem], batch_size: int = 256, max_new_tokens: int = 48) -> dict:
    """Greedy accuracy per language (batched HF generation with left padding), graded by rlcore.grading."""
    import torch

    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    correct: dict[str, list[int]] = {}
    try:
        for i in range(0, len(problems), batch_size):
            chunk = problems[i : i + batch_size]
            enc = tokenizer([p.prompt for p in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                out = model.generate(
                    **enc, do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=EOS_ID, pad_token_id=PAD_ID
                )
            texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            for p, text in zip(chunk, texts, strict=True):
                correct.setdefault(p.language, []).append(is_correct(text, str(p.answer), p.language))
    finally:
        tokenizer.padding_side = side
    return {lang: round(sum(v) / len(v), 4) for lang, v in correct.items()}


def _build(out_dir: Path) -> None:
    """Tokenizer, model, SFT, evaluation, world card; everything written into out_dir."""
    import torch
    import transformers

    start = time.time()
    torch.set_num_threads(2)
    _log(f"building {MODEL_NAME} in {out_dir}")
    tokenizer = _train_tokenizer(out_dir)
    _log(f"tokenizer: {len(tokenizer)} tokens ({time.time() - start:.1f}s)")
    model = _build_model(len(tokenizer))
    examples = _sft_examples(tokenizer)
    _log(f"model: {sum(p.numel() for p in model.parameters()):,} parameters; {len(examples)} SFT examples")
    sft_stats = _sft(model, examples)
    model.save_pretrained(out_dir, safe_serialization=True)
    eval_problems = generate_problems("eval", SPEC["eval_per_language"], seed=SPEC["seed"])
    eval_start = time.time()
    accuracy = evaluate(model, tokenizer, eval_problems)
    _log(f"eval accuracy {accuracy} ({time.time() - eval_start:.0f}s)")
    card = {
        "name": MODEL_NAME,
        "version": VERSION,
        "spec": SPEC,
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "special_tokens": {"pad": PAD_ID, "bos": BOS_ID, "eos": EOS_ID},
        "prompt_format": "question + '\\n'; completion = solution + '</s>'",
        "sft": {"steps": SPEC["sft_steps"], **sft_stats},
        "eval": {"split": "eval", "per_language": SPEC["eval_per_language"], "greedy": True, "accuracy": accuracy},
        "build_seconds": round(time.time() - start, 1),
        "weights_sha256": weights_sha256(out_dir),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    (out_dir / "world_card.json").write_text(json.dumps(card, indent=2) + "\n")
    _log(f"built in {card['build_seconds']}s")


def load_world_card(model_dir: Path) -> dict:
    """The world card of a built model directory."""
    return json.loads((Path(model_dir) / "world_card.json").read_text())


def main(argv: list[str] | None = None) -> None:
    """CLI: rebuild the tiny model into the cache, print its world card and compare it with the shipped model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if a rebuilt model is cached")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: $RLCORE_CACHE or ~/.cache/rlcore")
    args = parser.parse_args(argv)
    model_dir = build_tiny_model(args.cache_dir, force=args.force)
    card = load_world_card(model_dir)
    print(f"model dir      {model_dir}")
    print(f"parameters     {card['parameters']:,}   vocab {card['vocab_size']}")
    print(f"SFT            {card['sft']['steps']} steps, {card['sft']['seconds']} s, loss {card['sft']['final_loss']}")
    print(f"build          {card['build_seconds']} s")
    print(f"{'language':<10}{'accuracy':>10}   (greedy, {card['eval']['per_language']} eval problems each)")
    shipped_accuracy = load_world_card(SHIPPED_DIR)["eval"]["accuracy"]
    for lang, acc in card["eval"]["accuracy"].items():
        shipped = shipped_accuracy.get(lang)
        print(f"{lang:<10}{acc:>10.1%}   (shipped model: {shipped:.1%})")
    same = weights_sha256(model_dir) == weights_sha256(SHIPPED_DIR)
    print(f"weights        {'identical to' if same else 'differ from'} the shipped model ({SHIPPED_DIR})")


if __name__ == "__main__":
    main()
