"""`rlcore` command line: train a config on a local or existing Ray cluster (also the `ray job submit` entrypoint)."""
from __future__ import annotations

import argparse
import logging
import sys

from rlcore.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rlcore", description="Ray-distributed RL post-training for LLMs.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="run the algorithm a config names")
    train.add_argument("config", help="YAML config file")
    train.add_argument("overrides", nargs="*", help="dotted overrides, e.g. learner.lr=1e-6 algorithm.steps=10")
    show = commands.add_parser("config", help="print the resolved config (with defaults) and exit")
    show.add_argument("config")
    show.add_argument("overrides", nargs="*")
    model = commands.add_parser("build-model", help="build (or rebuild) the builtin tiny model and print its card")
    model.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "build-model":
        from rlcore.world.tiny_model import main as build_model
        build_model(["--force"] if args.force else [])
        return 0
    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "config":
        import yaml
        print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        return 0
    from algorithms import build_algorithm
    from rlcore.cluster import WorkerError
    from rlcore.data import DataError
    try:
        summary = build_algorithm(config).run()
    except (DataError, FileNotFoundError, WorkerError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"run directory: {summary['run_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
