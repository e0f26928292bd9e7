"""TRANS-ZERO's pure pieces: config validation, target languages, pair rows, tree rows, per-direction scores and the
language detectors."""

from __future__ import annotations

import pytest

from algorithms.run_summary import score_changes
from algorithms.trans_zero import SCORES, mean_quality_estimates
from algorithms.trans_zero_config import TransZeroConfig
from algorithms.trans_zero_data import assign_targets, direction_scores, node_rows, pair_rows
from rewards.gmcts_tree import Tree
from rlcore.chat import PromptFormatter
from rlcore.config import ConfigError, load_config
from rlcore.language_id import make_detector
from rlcore.translation import translation_prompt


def config(**algorithm) -> TransZeroConfig:
    cfg = load_config({"algorithm": {"name": "trans_zero", **algorithm}}).algorithm
    assert isinstance(cfg, TransZeroConfig)
    return cfg


def test_defaults_are_the_papers_loss_and_directions_leave_out_src_equals_trg():
    cfg = config(source_languages=["en", "de"], target_languages=["en", "de", "fr"])
    assert (cfg.loss_type, cfg.beta) == ("sppo_hard", 0.1)
    assert cfg.directions() == [("en", "de"), ("en", "fr"), ("de", "en"), ("de", "fr")]
    assert cfg.eval_directions() == cfg.directions()
    assert config(validation_directions=["fr-en"]).eval_directions() == [("fr", "en")]


@pytest.mark.parametrize(
    ("algorithm", "message"),
    [
        ({"source_languages": ["en"], "target_languages": ["en"]}, "no target language"),
        ({"search": {"bridge_languages": ["en", "de", "fr"]}, "target_languages": ["de", "fr"]}, "fewer than"),
        ({"validation_directions": ["en"]}, "not 'src-trg'"),
        ({"language_detector": "fasttext"}, "language_detector"),
        ({"search": {"expansoins": 3}}, "expansoins"),
    ],
)
def test_bad_settings_are_config_errors_that_name_them(algorithm, message):
    with pytest.raises(ConfigError, match=message):
        config(**algorithm)


def test_targets_are_seeded_and_never_the_source_language():
    rows = [{"language": lang} for lang in ["en", "de", "fr"] * 20]
    targets = assign_targets(rows, ["en", "de", "fr"], seed=1, iteration=2)
    assert targets == assign_targets(rows, ["en", "de", "fr"], seed=1, iteration=2)
    assert all(t != r["language"] for t, r in zip(targets, rows, strict=True))
    assert set(targets) == {"en", "de", "fr"}
    assert targets != assign_targets(rows, ["en", "de", "fr"], seed=1, iteration=3)


def test_pair_rows_encode_the_translation_prompt_and_end_responses_with_eos():
    prompts = PromptFormatter.for_model("builtin:tiny-arith", "none")
    pair = {"source": "The dog runs.", "src": "en", "trg": "de", "chosen": "Der Hund", "rejected": "Die Katze"}
    (row,) = pair_rows([pair], prompts)
    assert row["prompt"] == translation_prompt("The dog runs.", "en", "de") and row["chosen"] == "Der Hund"
    assert row["prompt_ids"] == prompts.encode(row["prompt"]).ids
    assert (
        row["chosen_ids"] == prompts.response_ids("Der Hund")
        and row["chosen_ids"][-1] == prompts.tokenizer.eos_token_id
    )
    assert row["rejected_ids"] == prompts.response_ids("Die Katze")


def test_node_rows_keep_every_node_with_its_parent_and_statistics():
    tree = Tree("x", "en", "de")
    child = tree.add(tree.root, "a", "x'", 0.5)
    tree.add(child, "b", None, 1.0)
    rows = node_rows([tree])
    assert [(r["node"], r["parent"], r["text"], r["visits"]) for r in rows] == [
        (0, None, "x", 2),
        (1, 0, "a", 2),
        (2, 1, "b", 1),
    ]
    assert rows[1]["value"] == 1.5 and rows[1]["mean_value"] == 0.75 and rows[2]["recon"] is None


def test_direction_scores_are_corpus_scores_per_direction_and_their_mean():
    german = "der große Hund läuft heute nach Hause"  # long enough for 4-gram BLEU
    sets = {("en", "de"): [{"reference": german}], ("de", "en"): [{"reference": "the dog runs"}]}
    metrics = direction_scores(sets, {("en", "de"): [german], ("de", "en"): ["a cat sleeps"]})
    assert metrics["eval/chrf/en-de"] == pytest.approx(1.0) and metrics["eval/bleu/en-de"] == pytest.approx(1.0)
    assert metrics["eval/chrf/de-en"] < 0.5
    assert metrics["eval/chrf/mean"] == pytest.approx((1.0 + metrics["eval/chrf/de-en"]) / 2)


def test_detectors_name_the_language_or_none():
    from rlcore.world.sentences import SENTENCE_LANGUAGES, monolingual_rows

    world = make_detector("world", SENTENCE_LANGUAGES)
    row = monolingual_rows("de", 1)[0]
    assert world(row["text"]) == "de" and world("") is None
    lingua = make_detector("lingua", ["de", "en", "ru"])
    assert lingua("Der Hund läuft schnell nach Hause.") == "de" and lingua("Привет, как дела?") == "ru"
    with pytest.raises(ValueError, match="does not know"):
        make_detector("lingua", ["xx", "en"])


def test_the_runtime_refuses_an_unknown_role_and_names_the_optional_one(tmp_path):
    from actors.runtime import Runtime

    with pytest.raises(ValueError, match="reference_rollout"):
        Runtime(load_config({}), total_optimizer_steps=1, roles=("rollout", "reference_rolout"))


def test_qe_validation_needs_the_qe_reward_and_adds_the_reward_workers(tmp_path):
    from algorithms import build_algorithm

    algorithm = {"name": "trans_zero", "qe_validation": True}
    run = {"output_dir": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"reward\.name is 'math'"):
        build_algorithm(load_config({"run": run, "algorithm": algorithm, "reward": {"name": "math"}}))
    qe = {"name": "qe", "model": "builtin:tiny-qe"}
    built = build_algorithm(load_config({"run": run, "algorithm": algorithm, "reward": qe}))
    assert built.worker_roles() == ("rollout", "reference_rollout", "learner", "reference", "reward")
    scores = {("de", "en"): [0.5, 0.7], ("fr", "en"): [0.2]}
    assert mean_quality_estimates(scores) == pytest.approx(
        {"eval/qe/de-en": 0.6, "eval/qe/fr-en": 0.2, "eval/qe/mean": 0.4}
    )
    assert mean_quality_estimates({}) == {}


def test_score_changes_pair_each_direction_before_and_after_for_run_seeds():
    first = {"eval/chrf/de-en": 0.20, "eval/bleu/de-en": 0.04, "eval/accuracy/en": 0.5}
    last = {"eval/chrf/de-en": 0.25, "eval/bleu/de-en": 0.03, "eval/chrf/fr-en": 0.3, "eval/accuracy/en": 0.6}
    changes = score_changes(first, last, SCORES)
    assert set(changes) == {"chrf/de-en", "bleu/de-en"}  # fr-en was not measured before; accuracy is not a score
    assert changes["chrf/de-en"] == pytest.approx({"before": 0.20, "after": 0.25, "estimate": 0.05})
    assert changes["bleu/de-en"]["estimate"] == pytest.approx(-0.01)
