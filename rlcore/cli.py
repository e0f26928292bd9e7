"""`rlcore` command line: train a config on a local or existing Ray cluster (also the `ray job submit` entrypoint),
evaluate a checkpoint in several languages, run the parallel scaling-law sweep."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

from rlcore import preflight
from rlcore.config import ConfigError, RunConfig, load_config
from rlcore.logging_setup import LOG_DIR, LOG_FILE, RunOutput
from rlcore.registry import ALGORITHMS


def main(argv: list[str] | None = None) -> int:
    """Every failure ends as one `error:` line and a non-zero exit; `--verbose` adds the traceback."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _main(argv)
    except Exception as error:  # the boundary: whatever escapes is still one line, not a traceback
        return report_error(error, verbose="--verbose" in argv)


KNOWN_ERRORS = (
    "FileNotFoundError",
    "ConfigError",
    "ChatError",
    "TokenizerError",
    "DataError",
    "WorkerError",
    "WorkerTimeout",
    "WorkerDied",
    "ClusterError",
)


def report_error(error: BaseException, verbose: bool, hidden_lines: int = 0) -> int:
    """One line naming the culprit (the known errors' messages do); others get their type and a hint."""
    if verbose:
        traceback.print_exception(error, file=sys.stderr)
    message = str(error) if isinstance(error, ConfigError) else " ".join(str(error).split())
    if type(error).__name__ in KNOWN_ERRORS or isinstance(error, ConfigError):
        line = f"error: {message}"
    else:
        line = f"error: {type(error).__name__}: {message[:500] or 'no message'}"
        if not verbose:
            line += " (rerun with --verbose for the traceback)"
    print(line, file=sys.stderr)
    if hidden_lines and not verbose:
        print(f"({hidden_lines} lines of worker output were not shown: rerun with --verbose)", file=sys.stderr)
    return 1


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rlcore", description="Ray-distributed RL post-training for LLMs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="run the algorithm a config names",
        usage="rlcore train [--verbose] CONFIG [overrides ...]",
        description="Train with CONFIG; overrides (dotted key=value) are optional.",
    )
    train.add_argument("config", metavar="CONFIG", nargs="?", help="YAML config file")
    train.add_argument(
        "overrides", nargs="*", help="optional dotted overrides, e.g. learner.lr=1e-6 algorithm.steps=10"
    )
    train.add_argument(
        "--verbose",
        action="store_true",
        help="show the workers' output and library warnings (<run_dir>/logs/run.log always has them)",
    )
    job = commands.add_parser(
        "submit",
        help="submit `rlcore train CONFIG` as a Ray job with the working dir uploaded, and follow its log",
        usage="rlcore submit [--address URL] [--working-dir DIR] [--no-wait] CONFIG [overrides ...]",
    )
    job.add_argument("config", metavar="CONFIG")
    job.add_argument("overrides", nargs="*", help="optional dotted overrides, as for rlcore train")
    job.add_argument("--address", help="the job API (default: $RAY_API_SERVER_ADDRESS or http://127.0.0.1:8265)")
    job.add_argument("--working-dir", default=".", help="the folder uploaded for the job (default: this one)")
    job.add_argument("--no-wait", action="store_true", help="return once submitted instead of following the log")
    show = commands.add_parser("config", help="print the resolved config (with defaults) and exit")
    show.add_argument("config", nargs="?")
    show.add_argument("overrides", nargs="*")
    show.add_argument("--reference", action="store_true", help="print the reference of every config key (Markdown)")
    evaluate = commands.add_parser("eval", help="multilingual evaluation of a checkpoint (rollout workers only)")
    evaluate.add_argument("config")
    evaluate.add_argument("--verbose", action="store_true", help="show the workers' output and any traceback")
    evaluate.add_argument(
        "overrides",
        nargs="*",
        help="checkpoint=PATH (required; a model dir or builtin:tiny-arith), output=FILE.json, "
        "and dotted overrides, e.g. data.eval_languages=[en,fr]",
    )
    search = commands.add_parser(
        "search",
        help="inference-time scaling of a checkpoint: greedy, majority@N, best-of-N by the reward, step search",
    )
    search.add_argument("config")
    search.add_argument("--verbose", action="store_true", help="show the workers' output and any traceback")
    search.add_argument(
        "overrides",
        nargs="*",
        help="checkpoint=PATH (required), output=FILE.json, and dotted overrides, e.g. algorithm.candidates=8",
    )
    sweep = commands.add_parser("sweep", help="the parallel scaling-law sweep of a parallel_rpt config and its report")
    sweep.add_argument("config")
    sweep.add_argument("--verbose", action="store_true", help="show the workers' output and any traceback")
    sweep.add_argument("overrides", nargs="*")
    sweep.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild the report from the finished runs only (give it before CONFIG)",
    )
    model = commands.add_parser(
        "build-model", help="rebuild the shipped tiny model from its recipe into the cache and compare"
    )
    model.add_argument("--force", action="store_true")
    server = commands.add_parser("serve-reward", help="serve the config's reward over HTTP (docs/rewards.md)")
    server.add_argument("config")
    server.add_argument("overrides", nargs="*")
    server.add_argument("--host", default="127.0.0.1", help="address to bind (another needs a token given to it)")
    server.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    server.add_argument("--token-file", help="file holding the bearer token (default: $RLCORE_REWARD_TOKEN)")
    server.add_argument("--max-batch", type=int, default=256, help="most samples per request")
    server.add_argument("--max-body-bytes", type=int, default=16 * 2**20, help="largest request body")
    cluster = commands.add_parser(
        "cluster",
        help="start a Ray head for `ray job submit`: loopback only, token required (docs/cluster.md)",
        usage="rlcore cluster start [--num-cpus N] [--port P] [--dashboard-port P] [-- ray start options]",
    )
    cluster.add_argument("action", choices=["start"])
    cluster.add_argument("--num-cpus", type=int, default=8, help="logical CPUs of the head (scheduling slots)")
    cluster.add_argument("--port", type=int, default=6379, help="the GCS port (the address jobs join)")
    cluster.add_argument("--dashboard-port", type=int, default=8265, help="the job API's port")
    ray_options: list[str] = []  # after `--`: passed on to `ray start` as given
    if argv[:1] == ["cluster"] and "--" in argv:
        argv, ray_options = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "config" and args.reference:
        from rlcore.config_reference import config_reference

        print(config_reference(), end="")
        return 0
    if args.command == "train" and args.config is None:
        train.error("needs a CONFIG file (the overrides are optional)")
    if args.command == "config" and args.config is None:
        show.error("needs CONFIG (or --reference)")
    if args.command == "cluster":
        from rlcore.local_head import HeadError, start_head

        try:
            return start_head(args.num_cpus, args.port, args.dashboard_port, ray_options)
        except HeadError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    if args.command == "submit":
        from rlcore.submit import submit

        try:
            return submit(args.config, args.overrides, args.address, args.working_dir, follow=not args.no_wait)
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if args.command == "build-model":
        from rlcore.world.tiny_model import main as build_model

        build_model(["--force"] if args.force else [])
        return 0
    options = {}
    if args.command in ("eval", "search"):  # checkpoint=/output= are options of the command, the rest overrides
        options = dict(item.split("=", 1) for item in args.overrides if item.split("=", 1)[0] in EVAL_OPTIONS)
        args.overrides = [item for item in args.overrides if item.split("=", 1)[0] not in EVAL_OPTIONS]
        if not options.get("checkpoint"):
            print(f"error: rlcore {args.command} needs checkpoint=PATH", file=sys.stderr)
            return 2
    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "config":
        import yaml

        print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        return 0
    if args.command == "serve-reward":
        from rlcore.reward_server import Limits, serve

        try:
            limits = Limits(args.max_batch, args.max_body_bytes)
            return serve(config, args.host, args.port, args.token_file, limits)
        except (ConfigError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if getattr(args, "verbose", False):
        config.logging.verbose = True
    with RunOutput(verbose=config.logging.verbose) as output:  # before Ray is imported (it reads RAY_DEDUP_LOGS)
        from rlcore.cluster import WorkerError
        from rlcore.data import DataError

        try:
            return _run(args.command, config, options | {"report_only": getattr(args, "report_only", False)})
        except (DataError, FileNotFoundError, WorkerError, ConfigError) as error:
            return report_error(error, output.verbose, output.hidden)


def _version() -> str:
    try:
        return importlib.metadata.version("rlcore")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


EVAL_OPTIONS = ("checkpoint", "output")


def _run(command: str, config: RunConfig, options: dict[str, Any]) -> int:
    """The algorithm class comes from the registry (entry points): the CLI never imports the floors above rlcore."""
    algorithm = ALGORITHMS.get(config.algorithm.name)
    if command == "eval":
        preflight.check_lengths(config, preflight.check_model(options["checkpoint"], "checkpoint"))
        if config.run.seeds:
            print("note: rlcore eval is greedy, so seeds do not change it; run.seeds is ignored", file=sys.stderr)
        algorithm.evaluate_checkpoint(config, options["checkpoint"], options.get("output"))
        return 0
    if command == "search":
        if not hasattr(algorithm, "search_checkpoint"):
            raise ConfigError(
                f"algorithm {config.algorithm.name!r} has no step search; use algorithm.name=stepwise_dpo"
            )
        preflight.check_lengths(config, preflight.check_model(options["checkpoint"], "checkpoint"))
        algorithm.search_checkpoint(config, options["checkpoint"], options.get("output"))
        return 0
    preflight.check_config(config)  # before any cluster starts (Algorithm.start checks again, for the Python API)
    if command == "sweep":
        if not hasattr(algorithm, "sweep"):
            raise ConfigError(f"algorithm {config.algorithm.name!r} has no sweep; use algorithm.name=parallel_rpt")
        report = algorithm.sweep(config, train=not options["report_only"])
        print(f"sweep report: {report['report_path']}")
        return 1 if report["failures"] else 0
    print(f"run directory: {where(config)}", flush=True)  # first, so that a job's log names it even if it fails
    if config.run.seeds:  # one run per seed, then the aggregate across seeds (rlcore/seeds.py)
        from rlcore.seeds import run_seeds

        run_seeds(config)
        print(f"run directory: {where(config)}")
        return 0
    summary = algorithm(config).run()
    print(f"run directory: {where(config)}")
    print(f"full log: {Path(summary['run_dir']).resolve() / LOG_DIR / LOG_FILE}")
    return 0


def where(config: RunConfig) -> str:
    """The run directory's absolute path, and its lasting copy when run.output_dir is a URI."""
    local = config.run_dir.resolve()
    return f"{local} (mirrored to {config.run_location})" if config.run_location != str(config.run_dir) else str(local)


if __name__ == "__main__":
    sys.exit(main())
