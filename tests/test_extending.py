"""The examples of docs/extending.md, run as written: each test writes the doc's code blocks into a temporary
folder and checks them in a fresh interpreter, so their registrations never leak into this test process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "extending.md"
BLOCK = re.compile(r"<!-- (file|append to): (\S+) -->\n```\w*\n(.*?)\n```", re.DOTALL)


def doc_blocks() -> dict[str, str]:
    """Marked code blocks of the doc: path -> text."""
    return {path: text + "\n" for _, path, text in BLOCK.findall(DOC.read_text())}


def write_blocks(folder: Path, *paths: str) -> None:
    blocks = doc_blocks()
    for path in paths:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(blocks[path])


def run_python(folder: Path, script: str, *args: str, pythonpath: tuple[Path, ...] = ()) -> str:
    """Run a script (or `-m module`) in `folder` with the repository importable; its stdout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (*pythonpath, folder, ROOT))}
    command = [sys.executable, *(("-c", script) if script else ()), *args]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command[1:]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_doc_has_every_example():
    assert set(doc_blocks()) == {
        "best_of_n.py",
        "best_of_n.yaml",
        "brevity.py",
        "rlcore/losses.py",
        "threshold_pairs.py",
        "mypkg/pyproject.toml",
        "mypkg/mypkg/__init__.py",
        "mypkg/mypkg/reward.py",
    }


def test_algorithm_example_validates_by_name_and_builds(tmp_path):
    write_blocks(tmp_path, "best_of_n.py", "best_of_n.yaml")
    check = """
import best_of_n
from algorithms import ALGORITHMS, build_algorithm
from rlcore.config import ConfigError, load_config

config = load_config("best_of_n.yaml")
assert type(config.algorithm) is best_of_n.BestOfNConfig, type(config.algorithm)
assert (config.algorithm.steps, config.algorithm.n, config.algorithm.prompts_per_step) == (20, 4, 8)
algorithm = build_algorithm(config)
assert type(algorithm) is best_of_n.BestOfN and ALGORITHMS.get("best_of_n") is best_of_n.BestOfN
assert algorithm.total_steps() == 20
try:
    load_config("best_of_n.yaml", ["algorithm.nn=3"])
except ConfigError as error:
    print(error)
"""
    assert "algorithm.nn: unknown key (did you mean 'n'?)" in run_python(tmp_path, check)


def test_reward_example_scores_samples_in_a_reward_worker(tmp_path):
    write_blocks(tmp_path, "brevity.py")
    check = """
import json

import brevity
from actors.reward import RewardWorker
from rewards import REWARDS
from rlcore.batch import Batch
from rlcore.config import load_config

config = load_config({"reward": {"name": "brevity", "max_chars": 10}})
reward = REWARDS.get("brevity")(config.reward)
print(reward.score([{"response_text": ""}, {"response_text": "12345"}, {"response_text": "x" * 30}]))
worker = RewardWorker(0, 1, config.reward.model_dump())
scored = worker.score(Batch.from_rows([{"response_text": "12"}, {"response_text": "1234567"}]))
print(json.dumps(scored["rewards"].tolist()))
"""
    direct, in_worker = run_python(tmp_path, check).splitlines()[-2:]
    assert direct == "[1.0, 0.5, 0.0]"
    assert json.loads(in_worker) == pytest.approx([0.8, 0.3])


def test_loss_example_is_registered_and_computes_reinforce(tmp_path):
    write_blocks(tmp_path, "rlcore/losses.py")
    (tmp_path / "rlcore" / "losses.py").rename(tmp_path / "loss_block.py")  # appended to the real module below
    check = """
import json
from pathlib import Path

import torch

import rlcore.losses
from rlcore.losses import LOSSES, aggregate, normalizer

exec(Path("loss_block.py").read_text(), vars(rlcore.losses))
loss_fn = LOSSES.get("reinforce")
assert loss_fn is rlcore.losses.reinforce_loss
logprobs = torch.tensor([[-1.0, -2.0], [-0.5, -3.0]], requires_grad=True)
mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
per_token, metrics = loss_fn(logprobs, mask, {"advantages": torch.tensor([1.0, -2.0])})
loss = aggregate(per_token, mask, "token-mean") / normalizer(mask, "token-mean")
loss.backward()
print(json.dumps([per_token.tolist(), loss.item(), logprobs.grad.tolist(), metrics]))
"""
    out = run_python(tmp_path, check).splitlines()[-1]
    # −A·logπ: row 1 (A = 1) gives 1, 2; row 2 (A = −2) gives −1 and a masked 0; token mean (1 + 2 − 1) / 3
    per_token, loss, grad, metrics = json.loads(out)
    assert per_token == [[1.0, 2.0], [-1.0, 0.0]] and metrics == {}
    assert loss == pytest.approx(2 / 3)
    assert grad[0] == pytest.approx([-1 / 3, -1 / 3]) and grad[1] == pytest.approx([2 / 3, 0.0])  # −A·mask / 3


def test_pair_builder_example_builds_pairs_from_hand_made_samples(tmp_path):
    write_blocks(tmp_path, "threshold_pairs.py")
    check = """
import numpy as np

import threshold_pairs
from algorithms.pairs import PAIR_BUILDERS, PairContext
from rlcore.batch import Batch
from rlcore.config import load_config

ANSWERS = {"1+1=": ["2", "3", "11"], "2+2=": ["5", "6", "7"]}
SCORES = {"2": 1.0, "3": 0.0, "11": 0.0, "5": 0.0, "6": 0.0, "7": 0.0}


class HandMadeRuntime:
    # stands in for the workers: answers and scores come from the tables above
    def generate(self, prompts, n, sampling):
        rows = [
            {**row, "group": g, "prompt_ids": [7, g], "response_text": text, "response_ids": [ord(c) for c in text]}
            for g, row in enumerate(prompts.rows())
            for text in ANSWERS[row["prompt"]][:n]
        ]
        return Batch.from_rows(rows)

    def score(self, samples):
        return samples.with_tensors(rewards=np.array([SCORES[t] for t in samples["response_text"]], np.float32))


config = load_config(
    {"algorithm": {"name": "iterative_dpo", "pair_builder": {"name": "threshold", "samples_per_prompt": 3}}}
)
builder_config = config.algorithm.pair_builder
assert type(builder_config) is threshold_pairs.ThresholdConfig
builder = PAIR_BUILDERS.get("threshold")(builder_config, ["en"])
prompts = [{"id": "a", "language": "en", "prompt": "1+1="}, {"id": "b", "language": "en", "prompt": "2+2="}]
result = builder.build(prompts, PairContext(HandMadeRuntime(), sampling={}, tokenizer=None))
for pair in result.pairs:
    print(pair["id"], pair["chosen"], pair["rejected"], pair["prompt_ids"], pair["chosen_ids"], pair["rejected_ids"])
print(len(result.generations), result.dropped)
"""
    lines = run_python(tmp_path, check).splitlines()
    assert lines[-2:] == ["a 2 3 [7, 0] [50] [51]", "6 {'all_good_or_all_bad': 1}"]


def test_an_installed_package_adds_a_reward_through_its_entry_point(tmp_path):
    write_blocks(tmp_path, "mypkg/pyproject.toml", "mypkg/mypkg/__init__.py", "mypkg/mypkg/reward.py")
    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*install, "--target", str(site), str(tmp_path / "mypkg")], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (tmp_path / "mypkg").rename(tmp_path / "mypkg-source")  # only the installed copy may be found
    check = """
from rlcore.config import load_config
from rlcore.registry import REWARDS

config = load_config({"reward": {"name": "myreward", "suffix": "!"}})
assert type(config.reward).__name__ == "EndsWithConfig", type(config.reward)
reward = REWARDS.get("myreward")(config.reward)
print(reward.score([{"response_text": "yes! "}, {"response_text": "no."}]))
"""
    assert run_python(tmp_path, check, pythonpath=(site,)).splitlines()[-1] == "[1.0, 0.0]"
    reference = run_python(tmp_path, "", "-m", "rlcore.cli", "config", "--reference", pythonpath=(site,))
    assert "### `reward` — `name: myreward`" in reference
    assert '| `suffix` | str | `"."` | The text a good response ends with' in reference
