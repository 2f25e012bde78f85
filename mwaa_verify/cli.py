"""The `mwaa-verify` command. Errors a user can act on print one line each; nothing prints a traceback for them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from mwaa_verify import ownership, progress
from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION, DEMO_TARGET_VERSION
from mwaa_verify.config import load_config
from mwaa_verify.errors import ConfigError, MwaaVerifyError, aws_problem
from mwaa_verify.migrate.location import Location
from mwaa_verify.report import console
from mwaa_verify.verification import SUITE_NAMES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mwaa-verify", description=__doc__)
    parser.add_argument("--mwaa-config", metavar="PATH", help="configuration file (default: mwaa-verify.toml)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="build a 2.10 -> 3.x demo migration from bundled DAGs and report on it")
    demo.add_argument("--workdir", type=Path, default=Path("reports/demo"), help="where the demo keeps its files")
    demo.add_argument("--source-version", default=DEMO_SOURCE_VERSION)
    demo.add_argument("--target-version", default=DEMO_TARGET_VERSION)
    demo.add_argument("--reports", type=Path, default=Path("reports"), help="where the verification reports go")

    commands.add_parser("envs", help="list the environments the configuration defines")

    dags = commands.add_parser("dags", help="parse an environment's DAGs the way its dag-processor does")
    dags.add_argument("environment", help="an environment name from the configuration")
    export = commands.add_parser("export", help="export an environment's metadata to a directory or s3:// prefix")
    export.add_argument("environment", help="the environment to export from (only ever read)")
    export.add_argument("destination", help="a new directory, or s3://bucket/prefix")
    export.add_argument(
        "--include-secrets",
        action="store_true",
        help="write variable values and connection passwords/extras decrypted (needed to import them)",
    )
    export.add_argument("--since", type=int, metavar="DAYS", help="only the last DAYS days of history")

    load = commands.add_parser("import", help="import an export into an environment of the same or a newer version")
    load.add_argument("export", help="the export's directory or s3://bucket/prefix")
    load.add_argument("environment", help="the environment to import into")
    load.add_argument("--dry-run", action="store_true", help="transform and write everything, then roll back")

    run = commands.add_parser("run", help="run the bundled verification suites and write the reports")
    run.add_argument("--source", required=True, help="environment migrated from")
    run.add_argument("--target", required=True, help="environment migrated to")
    run.add_argument("--suite", action="append", choices=SUITE_NAMES, help="only this suite (repeatable)")
    run.add_argument("--since", type=int, metavar="DAYS", help="only the last DAYS days of history")
    run.add_argument("--export", metavar="LOCATION", help="a metadata export to check against the source")
    run.add_argument("--logs-failed-only", action="store_true", help="check only logs of failed task instances")
    run.add_argument("--iam-simulate", action="store_true", help="cross-check IAM decisions with IAM's simulator")
    run.add_argument("--reports", type=Path, default=Path("reports"), help="where the reports go (default: reports)")

    report = commands.add_parser("report", help="write the sign-off summary (and Allure HTML) from allure-results")
    report.add_argument("--results", type=Path, default=Path("reports/allure-results"))
    report.add_argument("--reports", type=Path, default=Path("reports"))

    clone = commands.add_parser("clone", help="plan (or --apply) a new MWAA environment like an existing one")
    clone.add_argument("source", help="the MWAA environment to copy (a kind 'mwaa' name in the configuration)")
    clone.add_argument("--name", required=True, help="the new environment's name")
    clone.add_argument("--airflow-version", required=True, help="the new environment's Airflow version, e.g. 3.3.1")
    clone.add_argument("--execution-role-arn", help="the new environment's execution role (default: the source's)")
    clone.add_argument("--apply", action="store_true", help="create it (without: print the plan, create nothing)")
    clone.add_argument(
        "--skip-role-check", action="store_true", help="do not check that the execution role allows what MWAA needs"
    )

    logs = commands.add_parser("copy-logs", help="copy task logs from one environment to another")
    logs.add_argument("source")
    logs.add_argument("target")
    logs.add_argument("--failed-only", action="store_true", help="only logs of task instances that failed")
    logs.add_argument("--since", type=int, metavar="DAYS", help="only the last DAYS days")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    progress.set_quiet(args.quiet)
    # SIGTERM (CI cancelling, `kill`) and SIGHUP unwind like Ctrl-C, so every environment's cleanup runs
    ownership.install_signal_handlers()
    try:
        return COMMANDS[args.command](args)
    except MwaaVerifyError as exc:
        print(f"mwaa-verify: error: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        print(f"mwaa-verify: error: AWS refused or could not be reached: {aws_problem(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        left = ownership.stop_everything()
        if left:
            print(f"mwaa-verify: interrupted; still there, remove by hand: {'; '.join(left)}", file=sys.stderr)
        else:
            print("mwaa-verify: interrupted; everything started was stopped", file=sys.stderr)
        return 130


def _demo(args: argparse.Namespace) -> int:
    from mwaa_verify.demo import demo_summary, run_demo, unexpected_failures

    config = load_config(args.mwaa_config)
    result = run_demo(config, args.workdir, args.source_version, args.target_version, args.reports)
    print(demo_summary(result))
    return 1 if unexpected_failures(result.verification) else 0


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


def _window(days: int | None) -> datetime | None:
    if days is not None and days <= 0:
        raise ConfigError(f"--since takes a positive number of days, got {days}")
    return datetime.now(UTC) - timedelta(days=days) if days else None


def _export(args: argparse.Namespace) -> int:
    from mwaa_verify.environments import open_environment
    from mwaa_verify.migrate.export import export_metadata

    config = load_config(args.mwaa_config)
    since = _window(args.since)
    Location(args.destination).check_reachable(for_writing=True)
    with open_environment(config.environment(args.environment), config) as environment:
        manifest = export_metadata(environment, args.destination, args.include_secrets, since)
    rows = [(table, entry.rows, entry.sha256[:16]) for table, entry in manifest.tables.items()]
    print(console.table(("table", "rows", "sha256"), rows))
    for table, why in manifest.not_exported.items():
        print(f"not exported: {table}: {why}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from mwaa_verify.environments import open_environment
    from mwaa_verify.migrate.import_ import import_metadata

    config = load_config(args.mwaa_config)
    Location(args.export).check_reachable(for_writing=False)
    with open_environment(config.environment(args.environment), config) as environment:
        result = import_metadata(args.export, environment, args.dry_run, config.cache_dir / "import-journals")
    rows = [(t.table, t.rows_read, t.rows_written, t.not_migratable, t.skipped or "") for t in result.tables.values()]
    print(console.table(("table", "exported", "written", "not migratable", "skipped because"), rows))
    for outcome in result.tables.values():
        for example in outcome.not_migratable_examples:
            print(f"not migratable: {outcome.table}: {example}")
    if result.dags_missing_on_target:
        print(f"runs of DAGs the target has not parsed (imported without a DAG version): "
              f"{', '.join(result.dags_missing_on_target)}")  # fmt: skip
    print("dry run: rolled back, the target is unchanged" if result.dry_run else "imported and committed")
    return 1 if any(t.not_migratable for t in result.tables.values()) else 0


def _copy_logs(args: argparse.Namespace) -> int:
    from mwaa_verify.environments import open_environment
    from mwaa_verify.migrate.logs import copy_task_logs

    config = load_config(args.mwaa_config)
    since = _window(args.since)
    with (
        open_environment(config.environment(args.source), config) as source,
        open_environment(config.environment(args.target), config) as target,
    ):
        copy_task_logs(source, target, args.failed_only, since)
    return 0


def _clone(args: argparse.Namespace) -> int:
    import json

    from mwaa_verify.environments import open_environment
    from mwaa_verify.migrate.clone import CloneError, create_environment, plan_clone, role_shortfalls

    config = load_config(args.mwaa_config)
    chosen = config.environment(args.source)
    if chosen.kind != "mwaa":
        raise ConfigError(
            f"environment {args.source!r} is of kind {chosen.kind!r}; clone copies an MWAA environment (kind 'mwaa')"
        )
    with open_environment(chosen, config) as source:
        description = source.mwaa_description() or {}
        plan = plan_clone(description, args.name, args.airflow_version, args.execution_role_arn)
        print(f"CreateEnvironment request for {args.name!r}, cloned from {plan.source!r}:")
        print(json.dumps(plan.shown(), indent=2, sort_keys=True))
        print("\n".join(["changes from the source:", *(f"  {change}" for change in plan.changes)]))
        missing = [] if args.skip_role_check else role_shortfalls(source.aws_client("iam"), plan, description["Arn"])
        role = plan.request["ExecutionRoleArn"]
        if missing:
            print(f"execution role {role} lacks {len(missing)} permission(s) the new environment needs:")
            print("\n".join(f"  {item}" for item in missing))
        if not args.apply:
            print("dry run: nothing was created; pass --apply to create it")
            return 1 if missing else 0
        if missing:
            raise CloneError(
                f"not created: execution role {role} lacks {len(missing)} permission(s) listed above; grant them "
                f"(or pass --skip-role-check to create it anyway)"
            )
        arn = create_environment(source.aws_client("mwaa"), plan)
    print(f"creating {arn}: MWAA takes 20-30 minutes; `aws mwaa get-environment --name {args.name}` shows its status")
    return 0


def _run(args: argparse.Namespace) -> int:
    from mwaa_verify.verification import run_verification

    config = load_config(args.mwaa_config)
    for name in (args.source, args.target):
        config.environment(name)  # an unknown name fails here, listing the known ones
    _window(args.since)
    extra = [*(["--since", str(args.since)] if args.since else []), *(["--export", args.export] if args.export else [])]
    extra += ["--logs-failed-only"] if args.logs_failed_only else []
    extra += ["--iam-simulate"] if args.iam_simulate else []
    outcome = run_verification(
        args.source, args.target, args.reports, config.path, config.cache_dir,
        tuple(args.suite) if args.suite else SUITE_NAMES, tuple(extra),
    )  # fmt: skip
    print(_report_paths(outcome.summary_md, outcome.summary_html, outcome.allure_html, outcome.junit))
    print(outcome.summary_md.read_text(encoding="utf-8").split("\n\n")[1])  # the verdict line
    return outcome.exit_code


def _report(args: argparse.Namespace) -> int:
    from mwaa_verify.report.allure_html import generate_html
    from mwaa_verify.report.summary import read_results, write_summary

    config = load_config(args.mwaa_config)
    summary = read_results(args.results)
    markdown, page = write_summary(summary, args.reports)
    allure_html = generate_html(args.results, args.reports / "allure-report", config.cache_dir, "mwaa-verify")
    print(_report_paths(markdown, page, allure_html, None))
    return 0 if summary.signed_off else 1


def _report_paths(markdown: Path, page: Path, allure_html: Path | None, junit: Path | None) -> str:
    lines = [f"sign-off summary: {page} (and {markdown.name})"]
    lines.append(f"Allure report: {allure_html}" if allure_html else "Allure report: not generated (see above)")
    if junit:
        lines.append(f"JUnit XML: {junit}")
    return "\n".join(lines)


COMMANDS = {
    "run": _run,
    "report": _report,
    "demo": _demo,
    "envs": _envs,
    "dags": _dags,
    "export": _export,
    "import": _import,
    "copy-logs": _copy_logs,
    "clone": _clone,
}

if __name__ == "__main__":
    sys.exit(main())
