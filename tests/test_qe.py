"""The `qe` reward (rewards/qe.py): its config, the comet backend's missing-extra error, scoring with tiny
transformers models; and the embedded world's synthetic QE data (rlcore/world/qe_data.py) on hand-made examples."""

from __future__ import annotations

import random
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from rewards import REWARDS
from rewards.qe import QEConfig, QEReward, mixed_scores, mqm_score, mqm_scores
from rewards.qe_model import COMET_EXTRA, MissingCometError, comet_checkpoint, import_comet
from rlcore.world.qe_data import (
    ERROR_SEVERITY,
    ERROR_TYPES,
    build_model,
    build_tokenizer,
    correlations,
    corrupt,
    qe_rows,
    word_tags,
)

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "Heute verkauft die Katze den Hut."  # German: "Today the cat sells the hat."


def test_the_qe_reward_is_registered_and_its_config_checks_the_models_each_mode_needs():
    assert REWARDS.get("qe") is QEReward
    config = QEConfig(name="qe", model="m")
    assert (config.mode, config.source_key, config.backend, config.weights) == (
        "regression",
        "source",
        "transformers",
        "0.1/1/5",
    )
    QEConfig(name="qe", mode="mqm", tagger="t")
    QEConfig(name="qe", mode="mixed", model="m", tagger="t", regression_weight=0.3)
    for bad in (
        {},  # regression without a model
        {"mode": "mqm", "model": "m"},  # MQM without a tagger
        {"mode": "mixed", "tagger": "t"},  # mixed without a model
        {"model": "m", "regression_weight": 1.5},
        {"model": "m", "weights": "1/2/3"},
        {"model": "m", "backend": "onnx"},
        {"model": "m", "dtype": "float8"},
    ):
        with pytest.raises(ValidationError):
            QEConfig(name="qe", **bad)


def test_the_comet_backend_without_unbabel_comet_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "comet", None)  # an import of it now raises ImportError
    with pytest.raises(MissingCometError, match=r"pip install 'rlcore\[gpu\]'"):
        import_comet()
    with pytest.raises(MissingCometError, match="unbabel-comet"):
        QEReward(QEConfig(name="qe", model=str(tmp_path), backend="comet"))
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(requirement.startswith("unbabel-comet") for requirement in extras[COMET_EXTRA])


def test_comet_checkpoint_accepts_a_file_or_a_model_dir(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "model.ckpt").write_bytes(b"")
    assert comet_checkpoint(str(tmp_path)) == tmp_path / "checkpoints" / "model.ckpt"
    assert comet_checkpoint(str(tmp_path / "checkpoints" / "model.ckpt")).name == "model.ckpt"
    with pytest.raises(FileNotFoundError, match="COMET checkpoint"):
        comet_checkpoint(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("translation", "tags", "error"),
    [
        (REFERENCE, ["OK"] * 6, None),
        ("Heute verkauft die Katze den Ball.", ["OK"] * 5 + ["major"], "substitution"),  # Ball: a German word
        ("Heute verkauft die chat den Hut.", ["OK", "OK", "OK", "critical", "OK", "OK"], "wrong_language"),
        ("Heute verkauft die die Katze den Hut.", ["OK", "OK", "minor", "OK", "OK", "OK", "OK"], "duplicate"),
        ("Heute die verkauft Katze den Hut.", ["OK", "minor", "OK", "OK", "OK", "OK"], "order"),
        ("Heute verkauft die den Hut.", ["OK", "OK", "OK", "major", "OK"], "omission"),  # tagged at the gap
        ("Heute verkauft die Katze den", ["OK"] * 4 + ["major"], "omission"),  # a gap at the end: the last word
    ],
)
def test_word_tags_align_against_the_reference_and_grade_by_error_type(translation, tags, error):
    assert word_tags(translation, REFERENCE, "de") == tags
    if error:
        assert ERROR_SEVERITY[error] in tags


def test_a_name_is_no_wrong_language_word_and_mqm_counts_error_spans():
    tags = word_tags("Heute verkauft die Anna den Hut.", REFERENCE, "de")
    assert tags == ["OK", "OK", "OK", "major", "OK", "OK"]  # names are in every language: a substitution
    # a wrong-language word (critical 5) and a duplicate (minor 0.1) in 7 words
    tags = word_tags("Heute verkauft die die chat den Hut.", REFERENCE, "de")
    assert tags == ["OK", "OK", "OK", "minor", "critical", "OK", "OK"]
    assert mqm_score(tags) == pytest.approx(1 - (0.1 + 5) / 7)


def test_corrupt_applies_the_edits_it_reports():
    rng = random.Random(0)
    assert corrupt(REFERENCE, "de", "Today, the cat sells the hat.", rng, 0) == (REFERENCE, [])
    edited = [corrupt(REFERENCE, "de", "Today, the cat sells the hat.", rng, 2) for _ in range(30)]
    assert all(len(errors) <= 2 and set(errors) <= set(ERROR_TYPES) for _, errors in edited)
    assert sum(text != REFERENCE for text, _ in edited) >= 25
    assert {error for _, errors in edited for error in errors} == set(ERROR_TYPES)


def test_qe_rows_are_scored_by_their_tags_and_held_out_rows_come_from_test_sentences():
    rows = qe_rows(200, "train", seed=3)
    assert rows == qe_rows(200, "train", seed=3)
    for row in rows:
        assert len(row["tags"]) == len(row["translation"].split())
        assert row["mqm"] == mqm_score(row["tags"])
        assert row["src"] != row["trg"]
        if not row["errors"]:
            assert row["translation"] == row["reference"] and row["mqm"] == 1.0
    assert 0.2 < sum(not row["errors"] for row in rows) / len(rows) < 0.45
    assert min(row["mqm"] for row in rows) < 0.5  # wrong-language words make low scores
    test_sources = {row["source"] for row in qe_rows(100, "test", seed=3)}
    assert not test_sources & {row["source"] for row in rows}


def test_correlations_average_tied_ranks():
    assert correlations([1, 2, 3], [2, 4, 6]) == pytest.approx({"pearson": 1.0, "spearman": 1.0})
    assert correlations([1, 1, 2, 3], [1, 2, 3, 4])["spearman"] == pytest.approx(0.9486833)


@pytest.fixture(scope="module")
def tiny_qe_models(tmp_path_factory) -> tuple[str, str]:
    """Untrained tiny models (a regression model and a word tagger): the scoring path, not their quality."""
    import torch

    root = tmp_path_factory.mktemp("qe_models")
    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    for head in ("regression", "tags"):
        build_model(tokenizer, head, hidden=32, layers=1).save_pretrained(root / head)
        tokenizer.save_pretrained(root / head)
    return str(root / "regression"), str(root / "tags")


def test_the_reward_scores_in_micro_batches_and_mixes_regression_with_mqm(tiny_qe_models):
    model, tagger = tiny_qe_models
    samples = [
        {"source": "Today, the cat sells the hat.", "response_text": REFERENCE},
        {"source": "The girl paints a car.", "response_text": "  "},  # empty: empty_score, no model call
        {"source": "The girl paints a car.", "response_text": "Das Mädchen malt ein voiture."},
    ]
    regression = QEReward(QEConfig(name="qe", model=model, micro_batch_size=1, empty_score=-1.0))
    scores = regression.score(samples)
    assert scores[1] == -1.0 and all(isinstance(s, float) for s in scores)
    assert regression.score(samples[::2]) == pytest.approx(scores[::2], abs=1e-5)  # batching changes nothing

    mixed = QEReward(QEConfig(name="qe", mode="mixed", model=model, tagger=tagger, regression_weight=0.25))
    assert mixed.tagger is not None
    kept = samples[::2]
    sources, translations = [s["source"] for s in kept], [s["response_text"] for s in kept]
    tags = mixed.tagger.tags(sources, translations)
    assert [len(t) for t in tags] == [6, 5]
    expected = mixed_scores(mqm_scores(tags), regression.score(kept), 0.25)
    assert mixed.score(kept) == pytest.approx(expected, abs=1e-5)
    only_mqm = QEReward(QEConfig(name="qe", mode="mqm", tagger=tagger, source_key="src"))
    assert only_mqm.regression is None
    assert only_mqm.score([{"src": s, "response_text": t} for s, t in zip(sources, translations, strict=True)]) == (
        pytest.approx(mqm_scores(tags))
    )


def test_a_classifier_with_several_outputs_is_no_regression_model(tiny_qe_models):
    with pytest.raises(ValueError, match="regression model has 1"):
        QEReward(QEConfig(name="qe", model=tiny_qe_models[1]))
