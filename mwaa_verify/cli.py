"""The `mwaa-verify` command. Errors a user can act on print one line each; nothing prints a traceback for them."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from mwaa_verify import progress
from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION, DEMO_TARGET_VERSION
from mwaa_verify.config import load_config
from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.report import console


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mwaa-verify", description=__doc__)
    parser.add_argument("--mwaa-config", metavar="PATH", help="configuration file (default: mwaa-verify.toml)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="build a 2.10 -> 3.x demo migration from bundled DAGs and report on it")
    demo.add_argument("--workdir", type=Path, default=Path("reports/demo"), help="where the demo keeps its files")
    demo.add_argument("--source-version", default=DEMO_SOURCE_VERSION)
    demo.add_argument("--target-version", default=DEMO_TARGET_VERSION)

    commands.add_parser("envs", help="list the environments the configuration defines")

    dags = commands.add_parser("dags", help="parse an environment's DAGs the way its dag-processor does")
    dags.add_argument("environment", help="an environment name from the configuration")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    progress.set_quiet(args.quiet)
    # SIGTERM (CI cancelling, `kill`) unwinds like Ctrl-C, so every environment's cleanup runs
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return COMMANDS[args.command](args)
    except MwaaVerifyError as exc:
        print(f"mwaa-verify: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mwaa-verify: interrupted; everything started was stopped", file=sys.stderr)
        return 130


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _demo(args: argparse.Namespace) -> int:
    from mwaa_verify.demo import demo_summary, run_demo

    config = load_config(args.mwaa_config)
    result = run_demo(config, args.workdir, args.source_version, args.target_version)
    print(demo_summary(result))
    return 0


def _envs(args: argparse.Namespace) -> int:
    config = load_config(args.mwaa_config)
    if config.path is None:
        print("no mwaa-verify.toml found (nor [tool.mwaa_verify] in pyproject.toml); see README.md")
        return 0
    rows = [(name, environment.kind) for name, environment in sorted(config.environments.items())]
    print(f"{config.path}:\n{console.table(('name', 'kind'), rows)}")
    return 0


def _dags(args: argparse.Namespace) -> int:
    from mwaa_verify.environments import open_environment

    config = load_config(args.mwaa_config)
    with open_environment(config.environment(args.environment), config) as environment:
        report = environment.dag_report()
    print(console.dag_report_text(args.environment, report))
    return 1 if report.import_errors else 0


COMMANDS = {"demo": _demo, "envs": _envs, "dags": _dags}

if __name__ == "__main__":
    sys.exit(main())
