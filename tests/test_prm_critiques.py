"""Teacher critiques for R-PRM training data (algorithms/prm_critiques.py) with a scripted teacher: gold labels of
ProcessBench rows, one generate call for all steps, K critiques per step, verdicts, the files and counts, the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

import algorithms.prm_critiques as prm_critiques
from algorithms.prm_critiques import CritiqueSettings, main, sample_critiques
from rlcore.batch import Batch
from rlcore.chat import EncodedPrompt
from rlcore.config import load_config
from rlcore.pair_files import read_jsonl
from rlcore.prm import NO, VERDICT_QUESTION, YES, critique_prompt, parse_verdict
from rlcore.prm_data import labelled_steps, write_prm_files
from rlcore.processbench import read_processbench

ROWS = [  # first error at 0, at 2, none
    {
        "id": "a",
        "problem": "One plus one, plus one, plus one?",
        "steps": ["1 + 1 = 3", "3 + 1 = 4", "4 + 1 = 5"],
        "label": 0,
    },
    {"id": "b", "problem": "Add up.", "steps": ["1 + 1 = 2", "2 + 2 = 4", "4 + 4 = 9", "9 + 1 = 10"], "label": 2},
    {"id": "c", "problem": "Two plus three, doubled?", "steps": ["2 + 3 = 5", "5 + 5 = 10"], "label": -1},
]
NOW_STEP = re.compile(r"Now Step: (\d+) \+ (\d+) = (\d+)")
SAMPLING = {"temperature": 0.95, "top_p": 0.95, "max_tokens": 64}


class BytesEncoder:
    """A prompt's UTF-8 bytes as its ids, so that the scripted teacher can read the prompt back."""

    def encode(self, prompt: str) -> EncodedPrompt:
        return EncodedPrompt(list(prompt.encode()), prompt)


class ScriptedTeacher:
    """Checks the Now Step's sum and says so; its last critique of each step slips (the other verdict), and steps
    whose text contains `no_verdict` get critiques that stop before the verdict line."""

    def __init__(self, decode: Callable[[list[int]], str] = lambda ids: bytes(ids).decode(), no_verdict: str = "~"):
        self.decode, self.no_verdict = decode, no_verdict
        self.calls: list[tuple[Batch, int, dict[str, Any]]] = []

    def generate(self, prompts: Batch, n: int, sampling: dict[str, Any] | None = None) -> Batch:
        self.calls.append((prompts, n, dict(sampling or {})))
        texts = []
        for ids in prompts["prompt_ids"]:
            match = NOW_STEP.search(self.decode(ids))
            assert match is not None
            left, right, result = map(int, match.groups())
            for j in range(n):
                verdict = (left + right == result) != (j == n - 1)
                text = f"The sum is {left + right}."
                if self.no_verdict not in match.group(0):
                    text += f"\nVerification: {VERDICT_QUESTION} {'Yes' if verdict else 'No'}"
                texts.append(text)
        return Batch.from_rows([{"response_text": text} for text in texts])

    def shutdown(self) -> None:
        pass


@pytest.fixture
def rows(tmp_path):
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return read_processbench(path)


def test_gold_labels_of_processbench_rows():
    assert labelled_steps(0, 3) == [(0, False)]
    assert labelled_steps(2, 4) == [(0, True), (1, True), (2, False)]
    assert labelled_steps(-1, 2) == [(0, True), (1, True)]
    with pytest.raises(ValueError, match="label must be"):
        labelled_steps(3, 3)


@pytest.mark.parametrize("template", ["rprm", "compact"])
def test_one_generate_call_samples_k_critiques_of_every_labelled_step(rows, template):
    teacher = ScriptedTeacher()
    steps = sample_critiques(teacher, BytesEncoder(), rows, 3, SAMPLING, template)
    assert len(teacher.calls) == 1
    batch, n, sampling = teacher.calls[0]
    assert len(batch) == 6 and n == 3 and sampling == SAMPLING  # no stop string: the verdict word is needed
    assert [(step.id, step.label) for step in steps] == [
        ("a/0", False),
        ("b/0", True),
        ("b/1", True),
        ("b/2", False),
        ("c/0", True),
        ("c/1", True),
    ]
    assert steps[3].prompt == critique_prompt(ROWS[1]["problem"], ROWS[1]["steps"][:2], "4 + 4 = 9", template)
    assert all(step.language == "en" and len(step.critiques) == 3 for step in steps)
    assert [[parse_verdict(text) for text in step.critiques] for step in steps[:2]] == [
        [False, False, True],
        [True, True, False],
    ]


def test_files_are_balanced_paired_and_counted(rows, tmp_path):
    steps = sample_critiques(ScriptedTeacher(no_verdict="5 + 5"), BytesEncoder(), rows, 3, SAMPLING)
    counts = write_prm_files(steps, tmp_path / "out")
    sft, pairs = read_jsonl(tmp_path / "out/prm_sft.jsonl"), read_jsonl(tmp_path / "out/prm_dpo.jsonl")
    # 6 steps x 3 critiques; c/1's 3 have no verdict; of the other 15, the last of each step is wrong
    assert counts["steps"] == 6 and counts["critiques"] == 18
    assert counts["with_verdict"] == 15 and counts["right_verdicts"] == 10
    assert counts["sft"]["rows"] == len(sft) == 8 and counts["sft"]["unbalanced_dropped"] == 2
    assert sum(row["completion"].endswith(YES) for row in sft) == sum(row["completion"].endswith(NO) for row in sft)
    assert counts["dpo"]["pairs"] == len(pairs) == 5 and counts["dpo"]["too_few_right"] == 1
    for pair in pairs:
        assert parse_verdict(pair["chosen"]) == pair["step_label"] != parse_verdict(pair["rejected"])


def test_long_prompts_are_left_out_and_stop_strings_refused(rows):
    limit = len(critique_prompt("Add up.", ["1 + 1 = 2"], "2 + 2 = 4", "compact").encode())  # b/1's prompt
    steps = sample_critiques(ScriptedTeacher(), BytesEncoder(), rows, 2, SAMPLING, "compact", max_prompt_tokens=limit)
    assert [step.id for step in steps] == ["b/0", "b/1"]  # the others have longer questions or more previous steps
    assert sample_critiques(ScriptedTeacher(), BytesEncoder(), rows, 2, SAMPLING, max_prompt_tokens=1) == []
    with pytest.raises(ValueError, match="stop"):
        sample_critiques(ScriptedTeacher(), BytesEncoder(), rows, 2, SAMPLING | {"stop": [VERDICT_QUESTION]})


def test_settings_come_from_an_rprm_reward_section():
    reward = {"name": "rprm", "model_path": "builtin:tiny-arith", "template": "compact", "critiques": 4, "top_p": 0.9}
    settings = CritiqueSettings.from_config(load_config({"reward": reward}))
    assert settings == CritiqueSettings("compact", 4, 0.95, 0.9, 1024)
    assert CritiqueSettings.from_config(load_config({})) == CritiqueSettings()


def test_cli_runs_the_teacher_and_writes_the_files(rows, tmp_path, capsys, monkeypatch, tiny_model_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    teacher = ScriptedTeacher(lambda ids: tokenizer.decode(ids))
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(prm_critiques, "Runtime", lambda config, **kwargs: started.append(kwargs) or teacher)
    (tmp_path / "labelled.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    config = tmp_path / "teacher.yaml"
    config.write_text("model: {path: builtin:tiny-arith}\nreward: {name: rprm, model_path: builtin:tiny-arith}\n")
    files = ["--steps", str(tmp_path / "labelled.jsonl"), "--out", str(tmp_path / "out")]
    assert (
        main([str(config), "reward.template=compact", "rollout.max_model_len=512", *files, "--max-tokens", "64"]) == 0
    )
    counts = json.loads(capsys.readouterr().out)
    assert started[0]["roles"] == ("rollout",) and started[0]["total_optimizer_steps"] == 0
    assert teacher.calls[0][1] == 10 and teacher.calls[0][2]["max_tokens"] == 64  # K from the reward, flag wins
    assert counts["rows"] == 3 and counts["labelled_steps"] == counts["steps"] == 6 and counts["too_long"] == 0
    assert counts["dpo"]["pairs"] == len(read_jsonl(tmp_path / "out/prm_dpo.jsonl")) == 6
    assert main([str(config), *files]) == 1
    assert "leaves no room" in capsys.readouterr().err  # the default 256 positions hold no 1024-token critique
