"""The policy as its own step judge: one batched generate call per search round, replies parsed, unparseable
replies and prompts too long for the engine counted and scored neutrally (a scripted engine; pure logic)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from rewards.policy_judge import PolicyJudge
from rewards.step_judge_prompts import pointwise_prompt
from rlcore.batch import Batch
from rlcore.steps import JudgeContext, StepQuery, build_step_judge


class Bytes:
    """A prompt formatter whose token ids are the prompt's bytes (so that the engine below can read them)."""

    def encode(self, text: str) -> SimpleNamespace:
        return SimpleNamespace(ids=list(text.encode()))


class Judging:
    """An engine that answers judge prompts from the candidates' text: 'good' scores 9, 'bad' 2, 'junk' no verdict;
    pairwise, it prefers a 'good' step and otherwise answers without a verdict."""

    def __init__(self):
        self.calls: list[tuple[int, int, dict]] = []

    def generate(self, prompts: Batch, n: int, sampling=None) -> Batch:
        self.calls.append((len(prompts), n, dict(sampling or {})))
        return Batch.from_rows([{"response_text": self.reply(bytes(ids).decode())} for ids in prompts["prompt_ids"]])

    @staticmethod
    def reply(prompt: str) -> str:
        pair = re.search(r"Step A: (.*)\n\nStep B: (.*)\n", prompt)
        if pair:
            first, second = pair.groups()
            if "good" in first or "good" in second:
                return "Reasoning. Better step: " + ("A" if "good" in first else "B")
            return "I cannot tell."
        candidate = re.search(r"Candidate next step: (.*)\n", prompt).group(1)
        return {"good": "Fine.\nScore: 9", "bad": "Score: 2"}.get(candidate.split()[0], "no idea")


def judge(mode: str, engine: Judging, max_model_len: int | None = None, **config) -> PolicyJudge:
    context = JudgeContext(engine, Bytes(), max_model_len)
    built = build_step_judge({"name": "policy_judge", "mode": mode, "max_tokens": 32, **config}, context)
    assert isinstance(built, PolicyJudge)
    return built


QUERIES = [
    StepQuery("What is 7 plus 5?", (), ("good step", "bad step", "junk step")),
    StepQuery("What is 2 times 3, plus 1?", ("2 times 3 is 6.",), ("bad one", "good one")),
]


def test_pointwise_scores_every_candidate_in_one_generate_call():
    engine = Judging()
    scored = judge("pointwise", engine, temperature=0.7)
    assert scored.score_steps(QUERIES) == [[8 / 9, 1 / 9, 0.5], [1 / 9, 8 / 9]]  # "Score: N" -> (N - 1) / 9
    assert engine.calls == [(5, 1, {"temperature": 0.7, "top_p": 1.0, "max_tokens": 32})]
    stats = scored.stats()
    assert (stats["judge/prompts"], stats["judge/unparsed"], stats["judge/generate_calls"]) == (5.0, 1.0, 1.0)


def test_pairwise_ranks_by_wins_over_both_orders_in_one_generate_call():
    engine = Judging()
    scored = judge("pairwise", engine)
    first, second = scored.score_steps(QUERIES)
    # 3 candidates: 6 ordered comparisons; 'good' wins its 4, bad-vs-junk (2 prompts) has no verdict and counts not
    assert first == [1.0, 0.0, 0.0] and second == [0.0, 1.0]
    assert engine.calls == [(6 + 2, 1, {"temperature": 0.0, "top_p": 1.0, "max_tokens": 32})]
    assert scored.stats()["judge/unparsed"] == 2.0
    assert judge("pairwise", Judging(), both_orders=False).score_steps(QUERIES[1:]) == [[0.0, 1.0]]


def test_prompts_too_long_for_the_engine_are_not_sent_and_score_neutrally():
    lengths = [[len(pointwise_prompt(q.question, q.prefix, c).encode()) for c in q.candidates] for q in QUERIES]
    assert max(lengths[0]) < min(lengths[1])  # the second question is longer and has a previous step
    engine = Judging()
    scored = judge("pointwise", engine, max_model_len=max(lengths[0]) + 32)  # room for the first question's prompts
    assert scored.score_steps(QUERIES) == [[8 / 9, 1 / 9, 0.5], [0.5, 0.5]]
    assert engine.calls[0][0] == 3 and scored.stats()["judge/too_long"] == 2.0
    nothing = Judging()
    assert judge("pairwise", nothing, max_model_len=40).score_steps(QUERIES) == [[0.5] * 3, [0.5] * 2]
    assert nothing.calls == []  # nothing fits: no call at all


def test_the_judge_needs_the_engine_and_a_known_mode():
    with pytest.raises(ValueError, match="policy_judge needs the policy's engine"):
        build_step_judge({"name": "policy_judge"})
    with pytest.raises(ValueError, match="mode"):
        build_step_judge({"name": "policy_judge", "mode": "listwise"}, JudgeContext(Judging(), Bytes()))
