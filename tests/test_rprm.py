"""The rprm reward's logic with a scripted engine (its vLLM path is tests/test_rprm_on_cpu.py): every step of every
sample scored after its prefix, K critiques in one generate call and one verdict call, critiques without the
verdict line dropped, aggregation per sample, a candidate step after given previous steps, prompts too long."""

from __future__ import annotations

import re

import pytest

from rewards.rprm import RPRM, RPRMConfig
from rlcore.prm import VERDICT_QUESTION, VerdictTokens


class Bytes:
    bos_token_id = None

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(text.encode())


class ScriptedPRM:
    """Critiques reach the verdict unless the step says 'junk'; P(Yes) is 0.9 for a 'good' step, else 0.2."""

    def __init__(self):
        self.tokenizer = Bytes()
        self.verdict = VerdictTokens((), 1, 2)
        self.calls = 0
        self.log: list[tuple[str, int]] = []

    def critiques(self, prompts, sampling):
        self.calls += 1
        self.log.append(("critiques", len(prompts)))
        out = []
        for prompt in prompts:
            step = re.search(r"Now Step: (.*)\n", bytes(prompt).decode()).group(1)
            text = "Hmm." if "junk" in step else f"Looks at it.\nVerification: {VERDICT_QUESTION}"
            out.append([list(text.encode())] * sampling.k)
        return out

    def p_yes(self, contexts):
        self.calls += 1
        self.log.append(("p_yes", len(contexts)))
        return [0.9 if "Now Step: good" in bytes(c).decode() else 0.2 for c in contexts]

    def decode(self, ids):
        return bytes(ids).decode()


def prm(**config) -> tuple[RPRM, ScriptedPRM]:
    engine = ScriptedPRM()
    settings = {"name": "rprm", "model_path": "unused", "template": "compact", "chat_template": "none"}
    reward = RPRM(RPRMConfig.model_validate({**settings, "critiques": 3, "delimiter": "\n", **config}), engine)
    return reward, engine


SAMPLES = [
    {"prompt": "Q", "response_text": "good one\nbad two\ngood three"},
    {"prompt": "Q", "response_text": "good one\njunk two"},
    {"prompt": "Q", "response_text": "  "},
    {"prompt": "Q", "response_text": "bad step", "prm_previous_steps": ["good one"]},
]


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [("min", [0.2, 0.5, 0.0, 0.2]), ("last", [0.9, 0.5, 0.0, 0.2]), ("mean", [2.0 / 3, 0.7, 0.0, 0.2])],
)
def test_steps_scored_after_their_prefix_and_aggregated(aggregation, expected):
    reward, engine = prm(aggregation=aggregation)
    assert reward.score(SAMPLES) == pytest.approx(expected)
    # 6 steps (3 + 2 + 0 + the one candidate): one critique call for all, one verdict call for the 5 * 3 that
    # reached the verdict (the junk step's 3 critiques are dropped, and the step is unscored: 0.5).
    assert engine.log == [("critiques", 6), ("p_yes", 15)]
    counts = reward.counts
    assert (counts.steps, counts.critiques, counts.without_verdict, counts.engine_calls) == (6, 18, 3, 2)


def test_a_candidate_step_is_judged_after_the_given_previous_steps():
    reward, _ = prm()
    (item,) = reward.items_of(SAMPLES[3])
    assert (item.previous, item.step) == (("good one",), "bad step")
    assert "Previous Steps:\ngood one\nNow Step: bad step" in reward.prompt_text(item)


def test_one_critique_at_a_time_gives_the_same_scores_with_two_calls_per_critique():
    batched, _ = prm()
    single, engine = prm(batched=False)
    assert single.score(SAMPLES) == pytest.approx(batched.score(SAMPLES))
    assert engine.calls == 6 * 3 + 5 * 3  # a critique call per critique, a verdict call per verdict reached


def test_prompts_too_long_for_the_engine_are_not_sent_and_count_as_unscored():
    reward, engine = prm(max_model_len=160, max_critique_tokens=40, unscored_step_score=0.3)
    long_question = {"prompt": "Q" * 80, "response_text": "good one"}
    assert reward.score([long_question, {"prompt": "Q", "response_text": "good one"}]) == pytest.approx([0.3, 0.9])
    assert reward.counts.too_long == 1
    assert engine.log[0] == ("critiques", 1)


def test_worker_env_runs_the_engine_in_process_on_cpu_only():
    reward, _ = prm()
    assert reward.config.worker_env()["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert prm(num_gpus=1)[0].config.worker_env() == {}
