"""The shipped tiny model: its weights are the recorded ones, HF loadability, tokenizer behaviour, the world card's
claims; and the rebuild recipe's cache handling (the ~6-minute build itself runs in `make model`, not here)."""

import json
import threading
import time
from pathlib import Path

import pytest

from rlcore.grading import final_answer
from rlcore.world import tiny_model as tm
from rlcore.world.tasks import LANGUAGES, generate_problems

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return tm.tiny_model_path()


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    return transformers.AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def model(model_dir):
    return transformers.AutoModelForCausalLM.from_pretrained(model_dir).eval()


def test_model_dir_layout(model_dir):
    assert model_dir.name == tm.MODEL_NAME and tm.VERSION in model_dir.name
    for name in (
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "world_card.json",
    ):
        assert (model_dir / name).is_file(), name
    assert model_dir == tm.SHIPPED_DIR and model_dir.is_relative_to(Path(tm.__file__).parent)


def test_shipped_weights_are_the_recorded_ones(model_dir):
    """Every machine starts from the same weights: the file's hash is the one its world card records."""
    card = json.loads((model_dir / "world_card.json").read_text())
    assert tm.weights_sha256(model_dir) == card["weights_sha256"]
    assert len(card["weights_sha256"]) == 64


def test_config(model, tokenizer):
    cfg = model.config
    assert cfg.model_type == "llama"
    assert cfg.head_dim >= 32 and cfg.head_dim * cfg.num_attention_heads == cfg.hidden_size  # vLLM CPU kernels
    assert cfg.tie_word_embeddings and model.lm_head.weight is model.model.embed_tokens.weight
    assert cfg.vocab_size == len(tokenizer)
    assert (cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id) == (tm.PAD_ID, tm.BOS_ID, tm.EOS_ID)
    gen = model.generation_config
    assert (gen.pad_token_id, gen.bos_token_id, gen.eos_token_id) == (tm.PAD_ID, tm.BOS_ID, tm.EOS_ID)
    assert next(model.parameters()).dtype == torch.float32
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 3e6


def test_tokenizer_round_trip_every_language(tokenizer):
    for p in generate_problems("eval", 5):
        text = p.prompt + p.solution
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.decode(ids) == text, p.language
        # prompt and completion tokenized apart give the same ids as together (the prompt ends with "\n")
        assert tokenizer(p.prompt)["input_ids"] + tokenizer(p.solution)["input_ids"] == ids
    odd = "äöü ß é è ê ç ñ ¿ ã õ à ì ò ù 😀 \t x"  # byte-level: any text survives
    assert tokenizer.decode(tokenizer(odd)["input_ids"]) == odd


def test_special_tokens_and_no_automatic_bos_eos(tokenizer):
    assert (tokenizer.pad_token, tokenizer.bos_token, tokenizer.eos_token) == ("<pad>", "<s>", "</s>")
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    ids = tokenizer("Anna has 3 apples.\n")["input_ids"]
    assert not {0, 1, 2} & set(ids)
    assert tokenizer("</s>", add_special_tokens=False)["input_ids"] == [tm.EOS_ID]
    assert tokenizer.decode([5, tm.EOS_ID], skip_special_tokens=True) == tokenizer.decode([5])


def test_greedy_generation_stops_at_eos(model, tokenizer):
    problems = generate_problems("eval", 8, languages=("en",))
    tokenizer.padding_side = "left"
    enc = tokenizer([p.prompt for p in problems], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=48, do_sample=False)
    completions = out[:, enc["input_ids"].shape[1] :]
    assert all((row == tm.EOS_ID).any() for row in completions)  # every completion ends
    texts = tokenizer.batch_decode(completions, skip_special_tokens=True)
    assert all(final_answer(t) is not None for t in texts)  # the format is learned


def test_world_card(model_dir):
    card = json.loads((model_dir / "world_card.json").read_text())
    acc = card["eval"]["accuracy"]
    assert set(acc) == set(LANGUAGES)
    assert 0.25 <= acc["en"] <= 0.65
    assert all(acc["en"] > acc[lang] for lang in LANGUAGES if lang != "en")
    assert all(acc[lang] >= 0.02 for lang in LANGUAGES)
    assert card["sft"]["steps"] == tm.SPEC["sft_steps"] and card["spec"]["head_dim"] >= 32
    assert card["build_seconds"] > 0 and card["vocab_size"] == tm.SPEC["vocab_size"]


def test_rebuild_happens_once_under_concurrency(tmp_path, monkeypatch):
    calls = []

    def fake_build(out_dir: Path) -> None:
        calls.append(out_dir)
        time.sleep(0.3)
        (out_dir / "world_card.json").write_text("{}")

    monkeypatch.setattr(tm, "_build", fake_build)
    results = []
    threads = [threading.Thread(target=lambda: results.append(tm.build_tiny_model(tmp_path))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(results)) == 1
    final = results[0]
    assert final == tmp_path / "models" / tm.MODEL_NAME and (final / "world_card.json").exists()
    assert calls[0] != final  # built elsewhere, then renamed into place
    assert tm.build_tiny_model(tmp_path, force=True) == final and len(calls) == 2
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == sorted([f".{tm.MODEL_NAME}.lock", tm.MODEL_NAME])


def test_failed_build_leaves_nothing(tmp_path, monkeypatch):
    def broken_build(out_dir: Path) -> None:
        (out_dir / "half.bin").write_text("x")
        raise RuntimeError("boom")

    monkeypatch.setattr(tm, "_build", broken_build)
    with pytest.raises(RuntimeError):
        tm.build_tiny_model(tmp_path)
    assert [p.name for p in (tmp_path / "models").iterdir()] == [f".{tm.MODEL_NAME}.lock"]


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("RLCORE_CACHE", str(tmp_path))
    assert tm.default_cache_dir() == tmp_path
    monkeypatch.delenv("RLCORE_CACHE")
    assert tm.default_cache_dir() == Path.home() / ".cache" / "rlcore"
