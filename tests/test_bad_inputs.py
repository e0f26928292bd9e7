"""Every bad input ends in one `error:` line naming the culprit, a non-zero exit and no traceback, before any
cluster starts (the CLI runs in-process; only the unreachable-address cases reach the cluster code, and they fail
on the configured connect timeout without starting Ray)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rlcore.cli import main, report_error

Setup = Callable[[Path], list[str]]
FAST = ["data.num_train_questions=16", "data.eval_questions_per_language=4"]


@pytest.fixture(scope="module")
def tiny_model() -> Path:
    from rlcore.world.tiny_model import tiny_model_path

    return Path(tiny_model_path())


def config(tmp: Path, text: str = "", *overrides: str) -> list[str]:
    """`train` on a config file of `text` under tmp (runs go to tmp/runs), with overrides."""
    path = tmp / "config.yaml"
    path.write_text(f"run:\n  output_dir: {tmp / 'runs'}\n{text}")
    return ["train", str(path), *FAST, *overrides]


def rows_file(tmp: Path, name: str, content: str | bytes) -> str:
    path = tmp / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def model_copy(tmp: Path, skip: tuple[str, ...] = (), **replace: str) -> str:
    """A copy of the tiny model without the files in `skip` and with some files' text replaced."""
    from rlcore.world.tiny_model import tiny_model_path

    target = tmp / "model"
    shutil.copytree(tiny_model_path(), target, ignore=lambda _, names: [n for n in names if n in skip])
    for name, text in replace.items():
        (target / name.replace("_", ".", 1)).write_text(text)
    return str(target)


def dpo(tmp: Path, pair_file: str, *overrides: str) -> list[str]:
    text = f"algorithm:\n  name: iterative_dpo\n  iterations: 1\n  pair_file: {pair_file}\n"
    return config(tmp, text, "learner.micro_batch_size=4", *overrides)


ROW = '{"prompt": "1+1=", "answer": "2"}\n'
PAIR = '{"prompt": "1+1=", "chosen": "2", "rejected": "3"}\n'
NOT_UTF8_ROW = ROW.encode() + b'{"prompt": "\xff"}\n'
NOT_UTF8_PAIR = PAIR.encode() + b'{"prompt": "\xff"}\n'
NO_PROMPT = '{"q": 1}\n'
EMPTY_PROMPT = '{"prompt": "", "answer": 1}\n'
BAD_ROLE = '{"messages": [{"role": "bot", "content": "x"}], "answer": 1}\n'
LONG_PROMPT = json.dumps({"prompt": "1+" * 200, "answer": 1})


def with_rows(tmp: Path, name: str, content: str | bytes, *overrides: str) -> list[str]:
    return config(tmp, "", f"data.source={rows_file(tmp, name, content)}", *overrides)


# (case id, arguments made under tmp, expected exit code, text the error line must contain)
CASES: list[tuple[str, Setup, int, str]] = [
    ("config-missing", lambda t: ["train", str(t / "nope.yaml")], 2, "config file not found"),
    ("config-is-directory", lambda t: ["train", str(t)], 2, "is a folder"),
    (
        "config-not-utf8",
        lambda t: ["train", rows_file(t, "c.yaml", b"run:\n  name: \xff\xfe\n")],
        2,
        "c.yaml:2: not UTF-8",
    ),
    ("config-bad-yaml", lambda t: ["train", rows_file(t, "c.yaml", "run: [\n")], 2, "c.yaml: not valid YAML"),
    ("config-empty", lambda t: ["train", rows_file(t, "c.yaml", "# nothing\n")], 2, "c.yaml: the file is empty"),
    ("config-top-level-list", lambda t: ["train", rows_file(t, "c.yaml", "- 1\n")], 2, "mapping of sections"),
    ("unknown-key", lambda t: config(t, "", "learner.lrr=1"), 2, "learner.lrr: unknown key (did you mean 'lr'?)"),
    ("unknown-section", lambda t: config(t, "lerner:\n  lr: 1\n"), 2, "lerner: unknown key"),
    ("wrong-type", lambda t: config(t, "", "learner.lr=fast"), 2, "learner.lr"),
    ("out-of-range", lambda t: config(t, "", "learner.lr=-1"), 2, "learner.lr: Input should be greater than 0"),
    ("bad-choice", lambda t: config(t, "", "learner.zero_stage=5"), 2, "learner.zero_stage"),
    ("unknown-algorithm", lambda t: config(t, "", "algorithm.name=ppo"), 2, "algorithm"),
    ("unknown-reward", lambda t: config(t, "", "reward.name=nope"), 2, "reward"),
    ("override-without-equals", lambda t: config(t, "", "learner.lr"), 2, "override 'learner.lr'"),
    ("override-into-value", lambda t: config(t, "", "run.output_dir.x=1"), 2, "'output_dir' is a value"),
    ("duplicate-seeds", lambda t: config(t, "", "run.seeds=[1,1]"), 2, "seeds must be distinct"),
    ("model-missing", lambda t: config(t, "", f"model.path={t}/nope"), 1, "model.path: model directory not found"),
    ("model-unknown-builtin", lambda t: config(t, "", "model.path=builtin:gpt9"), 1, "unknown builtin model"),
    ("model-dir-not-a-model", lambda t: config(t, "", f"model.path={t}"), 1, "not a model folder (no config.json)"),
    (
        "model-without-weights",
        lambda t: config(t, "", f"model.path={model_copy(t, skip=('model.safetensors',))}"),
        1,
        "has no weights",
    ),
    (
        "model-without-tokenizer",
        lambda t: config(t, "", f"model.path={model_copy(t, skip=('tokenizer.json', 'tokenizer_config.json'))}"),
        1,
        "has no tokenizer",
    ),
    (
        "model-config-not-json",
        lambda t: config(t, "", f"model.path={model_copy(t, config_json='{')}"),
        1,
        "not valid JSON",
    ),
    (
        "model-broken-tokenizer",
        lambda t: config(t, "", f"model.path={model_copy(t, tokenizer_json='{')}"),
        1,
        "tokenizer",
    ),
    ("reference-missing", lambda t: config(t, "", f"reference.model_path={t}/ref"), 1, "reference.model_path"),
    (
        "context-beyond-model",
        lambda t: config(t, "", "rollout.max_model_len=4096"),
        1,
        "beyond the model's context of 256",
    ),
    ("max-tokens-beyond-context", lambda t: config(t, "", "rollout.max_tokens=300"), 1, "rollout.max_tokens: 300"),
    ("eval-max-tokens-beyond-context", lambda t: config(t, "", "eval.max_tokens=256"), 1, "eval.max_tokens: 256"),
    (
        "grpo-sizes-do-not-divide",
        lambda t: config(t, "", "algorithm.prompts_per_step=3", "algorithm.group_size=3", "learner.num_workers=2"),
        1,
        "9 samples do not split into learner.num_workers × algorithm.mini_batches = 2 × 1",
    ),
    (
        "grpo-mini-batches",
        lambda t: config(t, "", "algorithm.prompts_per_step=5", "algorithm.group_size=3", "algorithm.mini_batches=2"),
        1,
        "15 samples do not split",
    ),
    ("dpo-odd-micro-batch", lambda t: dpo(t, "x.jsonl", "learner.micro_batch_size=3"), 1, "micro_batch_size"),
    (
        "dpo-pairs-per-rank",
        lambda t: dpo(t, "x.jsonl", "algorithm.pairs_per_step=1", "learner.num_workers=2"),
        1,
        "pairs_per_step",
    ),
    ("output-dir-is-a-file", lambda t: config(t, "", f"run.output_dir={rows_file(t, 'f', 'x')}/runs"), 1, "is a file"),
    (
        "output-dir-unwritable",
        lambda t: config(t, "", "run.output_dir=/proc/rlcore-runs"),
        1,
        "run.output_dir: cannot write",
    ),
    ("data-missing", lambda t: config(t, "", f"data.source={t}/none.jsonl"), 1, "data source not found"),
    (
        "data-not-utf8",
        lambda t: with_rows(t, "d.jsonl", NOT_UTF8_ROW),
        1,
        "d.jsonl:2: not UTF-8",
    ),
    (
        "data-bad-json",
        lambda t: config(t, "", f"data.source={rows_file(t, 'd.jsonl', ROW + '{oops')}"),
        1,
        "d.jsonl:2: not valid JSON",
    ),
    (
        "data-row-not-object",
        lambda t: config(t, "", f"data.source={rows_file(t, 'd.jsonl', '[1]')}"),
        1,
        "d.jsonl:1: expected a JSON object",
    ),
    ("data-missing-column", lambda t: with_rows(t, "d.jsonl", NO_PROMPT), 1, "d.jsonl:1: row lacks"),
    ("data-empty-prompt", lambda t: with_rows(t, "d.jsonl", EMPTY_PROMPT), 1, "d.jsonl:1"),
    (
        "data-bad-messages",
        lambda t: with_rows(t, "d.jsonl", BAD_ROLE),
        1,
        "d.jsonl:1",
    ),
    (
        "data-json-not-list",
        lambda t: config(t, "", f"data.source={rows_file(t, 'd.json', '{}')}"),
        1,
        "d.json: a .json data file",
    ),
    ("data-dir-not-dataset", lambda t: config(t, "", f"data.source={t}"), 1, "not a saved `datasets` dataset"),
    (
        "data-unsupported-format",
        lambda t: config(t, "", f"data.source={rows_file(t, 'd.csv', 'a,b')}"),
        1,
        "unsupported data format",
    ),
    (
        "data-no-rows-in-language",
        lambda t: config(t, "", f"data.source={rows_file(t, 'd.jsonl', ROW)}", "data.train_languages=[fr]"),
        1,
        "no rows in languages",
    ),
    ("builtin-unknown-language", lambda t: config(t, "", "data.train_languages=[xx]"), 1, "no language(s) ['xx']"),
    ("eval-source-missing", lambda t: config(t, "", f"data.eval_source={t}/eval.jsonl"), 1, "eval.jsonl"),
    ("chat-template-missing", lambda t: config(t, "", "data.chat_template=/no/such.jinja"), 1, "data.chat_template"),
    (
        "prompt-too-long",
        lambda t: with_rows(t, "d.jsonl", LONG_PROMPT),
        1,
        "exceeds rollout.max_model_len=256",
    ),
    (
        "pair-file-columns",
        lambda t: dpo(t, rows_file(t, "p.jsonl", PAIR + '{"prompt": "x", "chosen": "y"}\n')),
        1,
        "p.jsonl:2",
    ),
    ("pair-file-not-utf8", lambda t: dpo(t, rows_file(t, "p.jsonl", NOT_UTF8_PAIR)), 1, "p.jsonl:2: not UTF-8"),
    ("pair-file-missing", lambda t: dpo(t, f"{t}/none.jsonl"), 1, "algorithm.pair_file: not found"),
    ("eval-without-checkpoint", lambda t: ["eval", config(t)[1]], 2, "checkpoint=PATH"),
    (
        "eval-checkpoint-missing",
        lambda t: ["eval", config(t)[1], f"checkpoint={t}/ckpt"],
        1,
        "checkpoint: model directory not found",
    ),
    (
        "cluster-address-refused",
        lambda t: config(t, "", "cluster.address=127.0.0.1:1", "cluster.connect_timeout_s=2", "eval.at_start=false"),
        1,
        "cluster.address: cannot reach the Ray cluster at 127.0.0.1:1",
    ),
]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, [line for line in captured.err.splitlines() if line.startswith("error:")], captured.err


@pytest.mark.parametrize(("setup", "code", "culprit"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_clear_line(setup: Setup, code: int, culprit: str, tmp_path, capsys, tiny_model):
    started = time.monotonic()
    exit_code, errors, stderr = run_cli(setup(tmp_path), capsys)
    assert exit_code == code, stderr
    assert len(errors) == 1 and culprit in errors[0], stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "a run dir was left behind"
    assert time.monotonic() - started < 20


def test_the_suite_covers_the_issue_categories():
    assert len(CASES) >= 51


def test_verbose_adds_the_traceback(tmp_path, capsys):
    argv = config(tmp_path, "", f"data.source={tmp_path}/none.jsonl", "--verbose")
    code, errors, stderr = run_cli(argv, capsys)
    assert code == 1 and len(errors) == 1 and "Traceback" in stderr and "data source not found" in errors[0]


def test_an_unexpected_exception_is_one_line_with_its_type(capsys):
    try:
        raise KeyError("boom\nsecond line")
    except KeyError as error:
        assert report_error(error, verbose=False) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: KeyError: 'boom\\nsecond line' (rerun with --verbose for the traceback)"


def test_an_unreachable_address_fails_within_the_connect_timeout():
    """A head that never answers: a listening socket whose one-slot backlog is full drops further connects."""
    import socket

    from rlcore.cluster import ClusterError, check_reachable

    with socket.socket() as server, socket.socket() as filler:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        address = f"127.0.0.1:{server.getsockname()[1]}"
        filler.connect(server.getsockname())
        started = time.monotonic()
        with pytest.raises(
            ClusterError, match=rf"cluster.address: cannot reach the Ray cluster at {address} within 1s"
        ):
            check_reachable(address, 1.0, "cluster.address")
        assert time.monotonic() - started < 5
    for left_to_ray in ("auto", "local", "http://127.0.0.1:8265", "headnode"):  # no host:port to probe
        check_reachable(left_to_ray, 1.0, "cluster.address")


def test_the_python_api_checks_before_starting_anything(tmp_path):
    from rlcore.config import ConfigError, load_config
    from rlcore.registry import ALGORITHMS

    config = load_config(
        None,
        [
            f"run.output_dir={tmp_path}",
            "algorithm.prompts_per_step=3",
            "algorithm.group_size=3",
            "learner.num_workers=2",
        ],
    )
    algorithm = ALGORITHMS.get("grpo")(config)
    with pytest.raises(ConfigError, match=r"do not split into learner.num_workers"):
        algorithm.start(None)
    assert not config.run_dir.exists()


@pytest.mark.integration
def test_an_unplaceable_request_fails_at_once_naming_the_role(ray_cluster):
    from rlcore.cluster import ClusterError, Worker, WorkerGroup

    started = time.monotonic()
    with pytest.raises(ClusterError, match=r"rollout: this local cluster can never place 1 worker\(s\) with .*GPU"):
        WorkerGroup("rollout", Worker, 1, num_cpus=1, num_gpus=1, start_timeout_s=300)
    with pytest.raises(ClusterError, match=r"learner: .* can never place 3 worker\(s\) .*STRICT_PACK"):
        WorkerGroup("learner", Worker, 3, num_cpus=8, strategy="STRICT_PACK", start_timeout_s=300)
    assert time.monotonic() - started < 20


@pytest.mark.integration
def test_a_process_joined_to_a_cluster_refuses_another_address(ray_cluster):
    """With Ray already joined (a notebook, an earlier run), cluster.address must still be checked, not ignored."""
    import socket

    from rlcore.cluster import ClusterError, init_ray
    from rlcore.config import ClusterSection

    with pytest.raises(ClusterError, match=r"cannot reach the Ray cluster at 127.0.0.1:1 "):
        init_ray(ClusterSection(address="127.0.0.1:1", connect_timeout_s=2))
    with socket.socket() as other:  # something listens there, but it is not the cluster this process joined
        other.bind(("127.0.0.1", 0))
        other.listen()
        address = f"127.0.0.1:{other.getsockname()[1]}"
        with pytest.raises(ClusterError, match=rf"already joined the Ray cluster at .*, not {address}"):
            init_ray(ClusterSection(address=address, connect_timeout_s=2))
    init_ray(ClusterSection())  # no address: the joined cluster is used
