"""Synthetic QE data of the embedded world (METHODS.md §5) and a tiny QE model trained on it for CPU runs.

A row is a world sentence rendered in a source language and, as its "translation", the exact reference in the target
language with controlled errors: a word replaced by another word of the same language (`substitution`), by a word of
another language (`wrong_language`), dropped (`omission`), doubled (`duplicate`) or swapped with its neighbour
(`order`). The word tags come from an alignment (difflib) of the translation against the reference, not from the
edit log, so they are what a word-level annotator comparing with the reference would write; the severity of a BAD
word is that of the error type the alignment shows (`ERROR_SEVERITY`), an omission is tagged on the word at the gap
(word tags have no gaps), and the sentence score is MQM of the tags (rlcore.mqm).

Where ADSQE differs: its pseudo-translations come from a constrained beam search of an MT model and its severities
from an annotator model's token ranks; the world has exact references and a closed lexicon, so controlled edits and
error-type severities give the same kind of labels without a second model.

    python -m rlcore.world.qe_data rows OUT.jsonl [--num 1000] [--split test] [--seed 0]
    python -m rlcore.world.qe_data train OUT_DIR [--minutes 3] [--head regression|tags] [--init-from TAGGER_DIR]
    python -m rlcore.world.qe_data evaluate MODEL_DIR [--num 1000]     # Pearson/Spearman with MQM, held-out rows

The model is a small BERT (hidden 96, 2 layers, about 0.27 M parameters) with a WordPiece tokenizer trained on world
sentences (whole words: the policy model's tokenizer splits the other languages' accented words into bytes); the
first dimensions of its word embeddings start as the world lexicon's languages of each word (`_lexicon_init`).
When it is shipped, `builtin:tiny-qe` (`tiny_qe_path()`) names it in a `qe` reward's `model`.

Training and held-out rows never share a sentence: held-out rows come from the `test` bucket of
rlcore/world/sentences.py, training rows from every other bucket.
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import string
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rlcore.mqm import (
    OK,
    SEVERITIES,
    encode_pairs,
    mqm_score,
    regression_predictions,
    translation_word_starts,
    word_tag_predictions,
)
from rlcore.world.sentences import bucket_of
from rlcore.world.sentences_grammar import SENTENCE_LANGUAGES, language_words, render_sentence, sample_sentence
from rlcore.world.sentences_grammar import tokenize as lexicon_tokens

ErrorType = Literal["substitution", "wrong_language", "omission", "duplicate", "order"]
ERROR_TYPES: tuple[ErrorType, ...] = ("substitution", "wrong_language", "omission", "duplicate", "order")
# Fluency slips are minor, meaning changes major, text in another language critical (it is not translated at all).
ERROR_SEVERITY: dict[str, str] = {
    "duplicate": "minor",
    "order": "minor",
    "substitution": "major",
    "omission": "major",
    "wrong_language": "critical",
}
ERRORS_PER_ROW = (0.3, 0.3, 0.2, 0.2)  # P(0, 1, 2, 3 errors): a quarter-plus of rows are perfect translations
TAG_LABELS: tuple[str, ...] = (OK, *SEVERITIES)  # a token-classification head's label ids, in this order
Split = Literal["train", "test"]
Head = Literal["regression", "tags"]
BUILTIN_TINY_QE = "builtin:tiny-qe"
TINY_QE = "tiny-qe-v1"  # under rlcore/world/models/, when shipped
MAX_LENGTH = 128  # tokens of a (source, translation) pair; world sentences take about 30


def tiny_qe_path() -> Path:
    """The shipped tiny QE regression model of the embedded world (`builtin:tiny-qe`)."""
    path = Path(__file__).resolve().parent / "models" / TINY_QE
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{path}: no tiny QE model shipped; train one: python -m rlcore.world.qe_data train DIR"
        )
    return path


def _key(word: str) -> str:
    """A word as the alignment compares it: lower-cased, without surrounding punctuation ("¿Pinta" = "pinta")."""
    return word.lower().strip(string.punctuation + "¿¡") or word


@cache
def foreign_words(language: str) -> frozenset[str]:
    """Words other world languages write and `language` never does."""
    others = {t for other in SENTENCE_LANGUAGES if other != language for t in language_words(other)}
    return frozenset(others - language_words(language))


def _wrong_language(word: str, language: str) -> bool:
    """A word with a token of another world language that `language` never writes (names are in no language)."""
    return any(t in foreign_words(language) for t in lexicon_tokens(word))


def word_tags(translation: str, reference: str, language: str) -> list[str]:
    """One tag per whitespace word of `translation`: OK where it aligns with `reference`, else the severity of the
    error the alignment shows (ERROR_SEVERITY); an omitted reference word makes the word at the gap `major`."""
    hyp, ref = [_key(w) for w in translation.split()], [_key(w) for w in reference.split()]
    tags = [OK] * len(hyp)
    if not hyp:
        return tags
    hyp_count, ref_count = Counter(hyp), Counter(ref)
    rank = {tag: i for i, tag in enumerate(TAG_LABELS)}

    def mark(position: int, error: str) -> None:  # the worse severity wins when two errors meet on a word
        severity = ERROR_SEVERITY[error]
        tags[position] = max(tags[position], severity, key=rank.__getitem__)

    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ref, hyp, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        for j in range(j1, j2):  # translation words the alignment left unmatched
            word = hyp[j]
            neighbours = {hyp[k] for k in (j - 1, j + 1) if 0 <= k < len(hyp)}
            if word in neighbours and hyp_count[word] > ref_count[word]:
                mark(j, "duplicate")
            elif word in ref_count:  # the reference has it elsewhere: moved, not wrong
                mark(j, "order")
            elif _wrong_language(translation.split()[j], language):
                mark(j, "wrong_language")
            else:
                mark(j, "substitution")
        if op == "delete" and any(ref_count[w] > hyp_count[w] for w in ref[i1:i2]):
            mark(min(j1, len(hyp) - 1), "omission")  # a moved word is deleted here but found elsewhere: not omitted
    return tags


def corrupt(reference: str, language: str, source: str, rng: random.Random, num_errors: int) -> tuple[str, list[str]]:
    """`reference` with `num_errors` random edits; the edited text and the edit types, in order applied."""
    words, applied = reference.split(), list[str]()
    vocabulary = sorted(language_words(language))
    foreign = [w for w in source.split() if _wrong_language(w, language)] or sorted(foreign_words(language))
    for _ in range(num_errors):
        error: ErrorType = rng.choice(ERROR_TYPES)
        i = rng.randrange(len(words))
        if error == "substitution":
            words[i] = rng.choice([w for w in vocabulary if w != _key(words[i])])
        elif error == "wrong_language":
            words[i] = rng.choice(foreign)
        elif error == "omission" and len(words) > 2:
            del words[i]
        elif error == "duplicate":
            words.insert(i, words[i])
        elif error == "order" and i + 1 < len(words):
            words[i], words[i + 1] = words[i + 1], words[i]
        else:
            continue  # an edit the sentence is too short for
        applied.append(error)
    return " ".join(words), applied


def qe_rows(num: int, split: Split = "train", seed: int = 0) -> list[dict[str, Any]]:
    """`num` rows {id, src, trg, source, translation, reference, errors, tags, mqm}, deterministic in (split, seed)."""
    rng = random.Random(f"rlcore-qe:{split}:{seed}")
    rows: list[dict[str, Any]] = []
    while len(rows) < num:
        sentence = sample_sentence(rng)
        if (bucket_of(sentence) == "test") != (split == "test"):
            continue
        src, trg = rng.sample(SENTENCE_LANGUAGES, 2)
        source, reference = render_sentence(sentence, src), render_sentence(sentence, trg)
        num_errors = rng.choices(range(len(ERRORS_PER_ROW)), weights=ERRORS_PER_ROW)[0]
        translation, errors = corrupt(reference, trg, source, rng, num_errors)
        tags = word_tags(translation, reference, trg)
        rows.append(
            {"id": f"qe-{split}-{len(rows):06d}", "src": src, "trg": trg, "source": source}
            | {"translation": translation, "reference": reference, "errors": errors, "tags": tags}
            | {"mqm": mqm_score(tags)}
        )
    return rows


def build_tokenizer(seed: int = 0) -> Any:
    """A WordPiece tokenizer (a `PreTrainedTokenizerFast`) trained on world sentences of every language; pairs are
    encoded BERT-style, `[CLS] source [SEP] translation [SEP]` with token types 0/1. Accents are kept: they tell
    languages apart."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    rng = random.Random(f"rlcore-qe-tokenizer:{seed}")
    texts = [render_sentence(sample_sentence(rng), lang) for _ in range(500) for lang in SENTENCE_LANGUAGES]
    texts += [" ".join(sorted(language_words(lang))) for lang in SENTENCE_LANGUAGES]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=1500, special_tokens=specials))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def build_model(tokenizer: Any, head: Head = "regression", hidden: int = 96, layers: int = 2) -> Any:
    """A small BERT encoder with a regression head (num_labels=1: the sentence MQM) or a word-tag head
    (TAG_LABELS); the tokenizer's vocabulary sets its embedding size."""
    from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification

    config = BertConfig(
        vocab_size=len(tokenizer),
        intermediate_size=2 * hidden,
        max_position_embeddings=MAX_LENGTH,
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=0.0,  # no dropout: training rows never repeat, there is nothing to overfit
        attention_probs_dropout_prob=0.0,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
    )
    if head == "regression":
        config.num_labels, config.problem_type = 1, "regression"
        model: Any = BertForSequenceClassification(config)
    else:
        config.id2label = dict(enumerate(TAG_LABELS))
        config.label2id = {label: i for i, label in enumerate(TAG_LABELS)}
        model = BertForTokenClassification(config)
    _lexicon_init(model.bert.embeddings.word_embeddings.weight, tokenizer)
    return model


def _lexicon_init(embeddings: Any, tokenizer: Any, scale: float = 1.0) -> None:
    """Write into the first dimensions of each token's embedding which world languages write that word.

    Why: most of the MQM penalty is wrong-language words (critical), and with the world's closed lexicon a token's
    languages are known; from random embeddings a tiny encoder spends most of a CPU budget learning them (without
    this prior, 3 to 10 minute runs on a busy 2-core machine reached held-out Pearson 0.06 to 0.2; with it, 7 minutes
    reached 0.41).
    """
    import torch

    with torch.no_grad():
        for token, index in tokenizer.get_vocab().items():
            word = token.removeprefix("##")
            for column, language in enumerate(SENTENCE_LANGUAGES):
                embeddings[index, column] = scale if word in language_words(language) else 0.0


def _labels(head: Head, encoding: Any, rows: Sequence[dict[str, Any]]) -> Any:
    """Training targets: each row's MQM, or the tag id at each translation word's first token (-100 elsewhere)."""
    import torch

    if head == "regression":
        return torch.tensor([row["mqm"] for row in rows], dtype=torch.float32)
    labels = torch.full(encoding["input_ids"].shape, -100, dtype=torch.long)
    for i, row in enumerate(rows):
        for word, position in translation_word_starts(encoding, i).items():
            labels[i, position] = TAG_LABELS.index(row["tags"][word])
    return labels


def _training_batches(batch_size: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    """Fresh training rows, batch after batch: the data never repeats, so there is nothing to overfit."""
    for chunk in range(1_000_000):
        rows = qe_rows(64 * batch_size, "train", seed=seed * 1_000_000 + chunk)
        yield from (rows[i : i + batch_size] for i in range(0, len(rows), batch_size))


def _fit(model: Any, tokenizer: Any, head: Head, seconds: float, batch_size: int, lr: float, seed: int) -> int:
    """Train on fresh rows for `seconds` of wall clock (lr: linear warm-up, then linear decay over the budget, so a
    busy machine shortens training instead of stopping it at a high lr); the number of optimizer steps."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    started, steps = time.monotonic(), 0
    for rows in _training_batches(batch_size, seed):
        elapsed = time.monotonic() - started
        if elapsed >= seconds:
            return steps
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (steps + 1) / 100) * max(0.05, 1.0 - elapsed / seconds)
        encoding = encode_pairs(tokenizer, [r["source"] for r in rows], [r["translation"] for r in rows], MAX_LENGTH)
        output = model(**encoding, labels=_labels(head, encoding, rows))  # MSE (regression) or cross-entropy (tags)
        output.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        steps += 1
    return steps


def train_qe_model(
    out_dir: Path,
    minutes: float = 3.0,
    head: Head = "regression",
    seed: int = 0,
    init_from: Path | None = None,
    batch_size: int = 32,
    lr: float = 1e-3,
    eval_rows: int = 1000,
    threads: int = 1,
) -> dict[str, Any]:
    """Train a tiny QE model on synthetic rows for `minutes` of wall clock, save it as a transformers model dir
    (safetensors) with its tokenizer and a qe_card.json, and return the card: steps, rows seen and the held-out
    correlation with MQM (evaluate_qe_model).

    `init_from`: a tiny QE model dir (e.g. a word tagger) whose tokenizer and encoder a regression model starts
    from; word tags are dense supervision, so a tagger's encoder learns the errors in fewer steps than a sentence
    score alone teaches them. `threads`: torch's CPU threads while training; a model this small gains nothing from
    more, and on a shared CPU they wait on each other (10x slower steps seen with 2 threads on 2 busy cores)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        if init_from is None:
            tokenizer = build_tokenizer(seed)
            model = build_model(tokenizer, head)
        elif head == "regression":
            tokenizer = AutoTokenizer.from_pretrained(init_from)
            model = AutoModelForSequenceClassification.from_pretrained(
                # the tagger's 4-label classifier gives way to a 1-output regression head
                init_from,
                num_labels=1,
                problem_type="regression",
                ignore_mismatched_sizes=True,
            )
        else:
            raise ValueError("init_from starts a regression model from a tagger's encoder; train a tagger from scratch")
        steps = _fit(model.train(), tokenizer, head, 60.0 * minutes, batch_size, lr, seed)
    finally:
        torch.set_num_threads(threads_before)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    card: dict[str, Any] = {
        "head": head,
        "seed": seed,
        "minutes": minutes,
        "steps": steps,
        "rows_seen": steps * batch_size,
    }
    card |= {"init_from": str(init_from)} if init_from else {}
    card |= evaluate_qe_model(out_dir, eval_rows) if eval_rows else {}
    (out_dir / "qe_card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (MQM ties a lot: every perfect translation scores 1)."""
    order = np.empty(len(values))
    order[np.argsort(values, kind="stable")] = np.arange(len(values))
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=order) / counts)[inverse]


def correlations(predicted: Sequence[float], target: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlation of predicted scores with the true ones."""
    x, y = np.asarray(predicted, dtype=float), np.asarray(target, dtype=float)
    return {"pearson": float(np.corrcoef(x, y)[0, 1]), "spearman": float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])}


def evaluate_qe_model(model_dir: Path, num: int = 1000, seed: int = 0) -> dict[str, float]:
    """Correlation of a QE model's sentence scores (its regression output, or MQM of its word tags) with the true
    MQM of `num` held-out rows (sentences no training row has)."""
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
    )

    rows = qe_rows(num, "test", seed)
    sources, translations = [r["source"] for r in rows], [r["translation"] for r in rows]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tagger = any(a.endswith("TokenClassification") for a in AutoConfig.from_pretrained(model_dir).architectures or [])
    if tagger:
        model = AutoModelForTokenClassification.from_pretrained(model_dir).eval()
        predicted = [mqm_score(tags) for tags in word_tag_predictions(model, tokenizer, sources, translations)]
    else:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
        predicted = regression_predictions(model, tokenizer, sources, translations)
    return correlations(predicted, [r["mqm"] for r in rows]) | {"eval_rows": num}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The command line (see the module docstring); prints a JSON summary."""
    parser = argparse.ArgumentParser(prog="python -m rlcore.world.qe_data", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rows = commands.add_parser("rows", help="write synthetic QE rows as JSONL")
    rows.add_argument("out", type=Path)
    rows.add_argument("--num", type=int, default=1000)
    rows.add_argument("--split", choices=["train", "test"], default="train")
    train = commands.add_parser("train", help="train a tiny QE model and save it as a transformers model dir")
    train.add_argument("out_dir", type=Path)
    train.add_argument("--minutes", type=float, default=3.0)
    train.add_argument("--head", choices=["regression", "tags"], default="regression")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--init-from", type=Path, help="a tiny QE tagger whose encoder the regression model starts from")
    evaluate = commands.add_parser("evaluate", help="Pearson/Spearman of a QE model with MQM on held-out rows")
    evaluate.add_argument("model_dir", type=Path)
    evaluate.add_argument("--num", type=int, default=1000)
    for command in (rows, train, evaluate):
        command.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "rows":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in qe_rows(args.num, args.split, args.seed))
        summary: dict[str, Any] = {"rows": args.num, "out": str(args.out)}
    elif args.command == "train":
        summary = train_qe_model(args.out_dir, args.minutes, args.head, args.seed, args.init_from, args.batch_size)
    else:
        summary = evaluate_qe_model(args.model_dir, args.num, args.seed)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
