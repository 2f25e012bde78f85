"""The `mwaa-verify` command. Errors a user can act on print one line each; nothing prints a traceback for them.

Global options (--mwaa-config, -q) are accepted before and after the command name."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from mwaa_verify import ownership, progress
from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION, DEMO_TARGET_VERSION, AirflowVersion
from mwaa_verify.config import (
    Config,
    ContainerConfig,
    EnvironmentConfig,
    EphemeralConfig,
    LocalConfig,
    SnapshotConfig,
    load_config,
    provisionable_version,
    since_days,
)
from mwaa_verify.directories import check_writable_directory, os_error_line
from mwaa_verify.errors import ConfigError, MwaaVerifyError, aws_problem
from mwaa_verify.migrate.location import SNAPSHOT_MANIFEST, Location
from mwaa_verify.report import console
from mwaa_verify.verification import SUITE_NAMES

if TYPE_CHECKING:
    from mwaa_verify.demo import DemoImages

DESCRIPTION = (
    "Verify that an Apache Airflow / Amazon MWAA migration is a faithful copy: DAG imports, metadata, task logs, "
    "configuration and IAM, compared between a source and a target environment, with a sign-off summary."
)


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> argparse.ArgumentParser:
    """--mwaa-config and -q, accepted before the command and after it (after it, they win)."""
    default = {"default": argparse.SUPPRESS} if suppress else {}
    parser.add_argument(
        "--mwaa-config", metavar="PATH", help="configuration file (default: mwaa-verify.toml, found upwards)", **default
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines", **default)
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (with where to read more), like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def _parser() -> argparse.ArgumentParser:
    parser = _global_options(_Parser(prog="mwaa-verify", description=DESCRIPTION), suppress=False)
    common = [_global_options(argparse.ArgumentParser(add_help=False), suppress=True)]
    attach = argparse.ArgumentParser(add_help=False)
    attach.add_argument(
        "--attach", action="store_true",
        help="container environments: use their running containers (kept with --keep) instead of starting new ones",
    )  # fmt: skip
    keep = argparse.ArgumentParser(add_help=False)
    keep.add_argument(
        "--keep", action="store_true",
        help="container environments: leave the containers running afterwards, for a later --attach "
        "(remove them with `mwaa-verify containers --remove`)",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser(
        "demo",
        parents=common,
        help="build a 2.10 -> 3.x demo migration from bundled DAGs and report on it",
        description="Build a 2.10 -> 3.x demo migration from bundled DAGs and verify it. Exit status 0: the demo "
        "worked, and the only failed checks are those its legacy DAGs break on purpose (the summary still says NOT "
        "READY FOR CUTOVER, which is what it demonstrates); 1: any other check failed; 2: a step did not work or "
        "a bad input.",
    )
    demo.add_argument(
        "--workdir", type=Path, default=Path("reports/demo"),
        help="where the demo keeps DAGs, task logs, database files and its export (default: reports/demo)",
    )  # fmt: skip
    demo.add_argument(
        "--source-version", default=DEMO_SOURCE_VERSION,
        help=f"Airflow version of the demo's source environment (default: {DEMO_SOURCE_VERSION})",
    )  # fmt: skip
    demo.add_argument(
        "--target-version", default=DEMO_TARGET_VERSION,
        help=f"Airflow version of the demo's target environment (default: {DEMO_TARGET_VERSION})",
    )  # fmt: skip
    demo.add_argument(
        "--reports", type=Path, default=Path("reports"),
        help="where the verification's summaries and Allure report go (default: reports)",
    )  # fmt: skip
    demo.add_argument(
        "--kind", choices=("ephemeral", "container"), default="ephemeral",
        help="ephemeral: Airflow in virtualenvs with a throwaway PostgreSQL (default); container: Airflow and "
        "PostgreSQL as containers on a Docker engine (DOCKER_HOST)",
    )  # fmt: skip
    demo.add_argument(
        "--source-image", metavar="IMAGE",
        help="--kind container: the source's Airflow image (default: apache/airflow:<--source-version>)",
    )  # fmt: skip
    demo.add_argument(
        "--target-image", metavar="IMAGE",
        help="--kind container: the target's Airflow image (default: apache/airflow:<--target-version>)",
    )  # fmt: skip
    demo.add_argument(
        "--postgres-image", metavar="IMAGE", help="--kind container: the PostgreSQL image (default: postgres:15)"
    )

    containers = commands.add_parser(
        "containers", parents=common, help="list the container environments kept running (--keep), or remove them"
    )
    containers.add_argument("key", nargs="?", help="only these (an environment's name, or its key)")
    containers.add_argument("--remove", action="store_true", help="remove them, with their networks and folders")

    commands.add_parser("envs", parents=common, help="list the environments the configuration defines")

    dags = commands.add_parser(
        "dags", parents=[*common, attach], help="parse an environment's DAGs the way its dag-processor does"
    )
    dags.add_argument("environment", help="an environment name from the configuration")
    export = commands.add_parser(
        "export", parents=[*common, attach], help="export an environment's metadata to a directory or s3:// prefix"
    )
    export.add_argument("environment", help="the environment to export from (only ever read)")
    export.add_argument("destination", help="a new directory, or s3://bucket/prefix")
    export.add_argument(
        "--include-secrets",
        action="store_true",
        help="write variable values and connection passwords/extras decrypted (needed to import them)",
    )
    export.add_argument("--since", type=since_days, metavar="DAYS", help="only the last DAYS days of history")

    freeze = commands.add_parser(
        "snapshot",
        parents=[*common, attach],
        help="freeze what the suites read from an environment (to verify an in-place upgrade against)",
    )
    freeze.add_argument("environment", help="the environment to snapshot (only ever read)")
    freeze.add_argument("location", help="a new directory, or s3://bucket/prefix")
    freeze.add_argument("--include-logs", action="store_true", help="keep the task logs themselves, not only digests")
    freeze.add_argument(
        "--include-secrets",
        action="store_true",
        help="keep variable values and connection secrets decrypted (default: keyed digests, comparable only)",
    )

    load = commands.add_parser(
        "import",
        parents=[*common, attach, keep],
        help="import an export into an environment of the same or a newer version",
    )
    load.add_argument("export", help="the export's directory or s3://bucket/prefix")
    load.add_argument("environment", help="the environment to import into")
    load.add_argument("--dry-run", action="store_true", help="transform and write everything, then roll back")
    load.add_argument(
        "--format", choices=("mwaa-verify", "mwaa-dr"), default="mwaa-verify", help="what wrote the export"
    )
    load.add_argument("--airflow-version", help="for --format mwaa-dr: the Airflow version the backup was made of")

    run = commands.add_parser(
        "run", parents=[*common, attach], help="run the bundled verification suites and write the reports"
    )
    run.add_argument("--source", required=True, help="environment migrated from")
    run.add_argument("--target", required=True, help="environment migrated to")
    run.add_argument("--suite", action="append", choices=SUITE_NAMES, help="only this suite (repeatable)")
    run.add_argument("--since", type=since_days, metavar="DAYS", help="only the last DAYS days of history")
    run.add_argument("--export", metavar="LOCATION", help="a metadata export to check against the source")
    run.add_argument("--logs-failed-only", action="store_true", help="check only logs of failed task instances")
    run.add_argument(
        "--logs-archive", metavar="LOCATION", help="where copy-logs --archive put logs CloudWatch could not take"
    )
    run.add_argument("--iam-simulate", action="store_true", help="cross-check IAM decisions with IAM's simulator")
    run.add_argument("--reports", type=Path, default=Path("reports"), help="where the reports go (default: reports)")

    report = commands.add_parser(
        "report", parents=common, help="write the sign-off summary (and Allure HTML) from allure-results"
    )
    report.add_argument(
        "--results", type=Path, metavar="DIR",
        help="an allure-results directory (default: the latest run's under --reports); holding several pytest "
        "sessions' results, the last session's are summarised",
    )  # fmt: skip
    report.add_argument(
        "--reports", type=Path, default=Path("reports"), metavar="DIR",
        help="where the summaries, the Allure report and the history are (default: reports)",
    )  # fmt: skip

    clone = commands.add_parser(
        "clone", parents=common, help="plan (or --apply) a new MWAA environment like an existing one"
    )
    clone.add_argument("source", help="the MWAA environment to copy (a kind 'mwaa' name in the configuration)")
    clone.add_argument("--name", required=True, help="the new environment's name")
    clone.add_argument("--airflow-version", required=True, help="the new environment's Airflow version, e.g. 3.3.1")
    clone.add_argument("--execution-role-arn", help="the new environment's execution role (default: the source's)")
    clone.add_argument("--apply", action="store_true", help="create it (without: print the plan, create nothing)")
    clone.add_argument(
        "--skip-role-check", action="store_true", help="do not check that the execution role allows what MWAA needs"
    )

    logs = commands.add_parser(
        "copy-logs", parents=[*common, attach, keep], help="copy task logs from one environment to another"
    )
    logs.add_argument("source")
    logs.add_argument("target")
    logs.add_argument("--failed-only", action="store_true", help="only logs of task instances that failed")
    logs.add_argument("--since", type=since_days, metavar="DAYS", help="only the last DAYS days")
    logs.add_argument(
        "--archive",
        metavar="s3://BUCKET/PREFIX",
        help="write logs CloudWatch cannot take at their original time (older than 14 days or the group's "
        "retention) there as files (default: skip them, listed per task instance)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # a usage mistake (its one line already printed), or --help
        return int(exc.code or 0)
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
    except OSError as exc:  # a path no check above foresaw: still one line naming it, never a traceback
        print(f"mwaa-verify: error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    finally:
        progress.set_quiet(False)  # main() may be called again in the same process (tests, embedding)


def _demo(args: argparse.Namespace) -> int:
    from mwaa_verify.demo import demo_summary, run_demo, unexpected_failures

    source = provisionable_version(args.source_version, "--source-version")
    target = provisionable_version(args.target_version, "--target-version")
    if AirflowVersion.parse(target) < AirflowVersion.parse(source):
        raise ConfigError(
            f"--target-version {target} is older than --source-version {source}; a migration goes to the same "
            f"or a newer Airflow: swap them"
        )
    check_writable_directory(args.workdir, "--workdir")
    check_writable_directory(args.reports, "--reports")
    config = load_config(args.mwaa_config)
    _check_cache_dir(config.cache_dir)
    images = _demo_images(args, source, target)
    result = run_demo(config, args.workdir, source, target, args.reports, images)
    print(demo_summary(result))
    return 1 if unexpected_failures(result.verification) else 0


def _demo_images(args: argparse.Namespace, source: str, target: str) -> DemoImages | None:
    from mwaa_verify.demo import DemoImages

    chosen = [option for option in ("source_image", "target_image", "postgres_image") if getattr(args, option)]
    if args.kind != "container":
        if chosen:
            flag = "--" + chosen[0].replace("_", "-")
            raise ConfigError(f"{flag} applies to --kind container; add --kind container or drop {flag}")
        return None
    return DemoImages(
        args.source_image or f"apache/airflow:{source}",
        args.target_image or f"apache/airflow:{target}",
        args.postgres_image or "postgres:15",
    )


def _envs(args: argparse.Namespace) -> int:
    config = load_config(args.mwaa_config)
    if config.path is None:
        raise ConfigError(
            "no mwaa-verify.toml found here or above (nor [tool.mwaa_verify] in pyproject.toml); create one "
            "(see README.md: Environments) or pass --mwaa-config PATH"
        )
    rows = [
        (name, environment.kind, _database_of(environment)) for name, environment in sorted(config.environments.items())
    ]
    print(f"{config.path}:\n{console.table(('name', 'kind', 'metadata database'), rows, last_width=1000)}")
    print(f"throwaway PostgreSQL of ephemeral environments (and the demo): {_postgres_for(None)}")
    return 0


def _database_of(environment: EnvironmentConfig) -> str:
    match environment:
        case EphemeralConfig():
            return _postgres_for(environment.pg_bin)
        case LocalConfig():
            return "its own, at sql_alchemy_conn"
        case ContainerConfig():
            return f"container {environment.postgres_image}"
        case SnapshotConfig():
            return f"frozen in the snapshot at {environment.location} (read-only)"
    return "managed by MWAA (read through an agent DAG)"


def _postgres_for(pg_bin: str | None) -> str:
    """Which server binaries an ephemeral environment would start, or why none (without starting anything)."""
    from mwaa_verify.environments.postgres_binaries import find_server_binaries

    try:
        binaries = find_server_binaries(pg_bin)
    except MwaaVerifyError as exc:
        return f"none usable: {exc}"
    return f"{binaries.description} in {binaries.bin_dir}"


def _dags(args: argparse.Namespace) -> int:
    from mwaa_verify.environments import open_environment

    config = load_config(args.mwaa_config)
    with open_environment(_configured(config, args.environment, args), config) as environment:
        report = environment.dag_report()
    print(console.dag_report_text(args.environment, report))
    return 1 if report.import_errors or report.tool_errors else 0


def _configured(
    config: Config, name: str, args: argparse.Namespace, keep: bool = True, strict: bool = True
) -> EnvironmentConfig:
    """The environment `name` with the command's --keep / --attach applied."""
    from mwaa_verify.environments import with_container_mode

    keeping = keep and getattr(args, "keep", False)
    return with_container_mode(config.environment(name), keeping, getattr(args, "attach", False), strict)


def _containers(args: argparse.Namespace) -> int:
    from mwaa_verify.environments.container import (
        LABEL_KEY,
        LABEL_OWNER_PID,
        LABEL_ROLE,
        docker_client,
        kept_containers,
        remove_kept,
    )

    client = docker_client("mwaa-verify containers")
    try:
        if args.remove:
            removed = remove_kept(client, args.key)
            print(f"removed: {', '.join(removed)}" if removed else "nothing kept to remove")
            return 0
        rows = [
            (c.labels.get(LABEL_KEY, ""), c.labels.get(LABEL_ROLE, ""), c.name, c.status, c.labels.get(LABEL_OWNER_PID))
            for c in kept_containers(client, args.key)
        ]
    finally:
        client.close()
    if not rows:
        print("no container environment is kept on this host (start one with --keep or keep = true)")
        return 0
    print(console.table(("key", "role", "container", "status", "started by pid"), sorted(rows), last_width=1000))
    return 0


def _window(days: int | None) -> datetime | None:
    return datetime.now(UTC) - timedelta(days=days) if days else None


def _export(args: argparse.Namespace) -> int:
    from mwaa_verify.environments import open_environment
    from mwaa_verify.migrate.export import export_metadata

    config = load_config(args.mwaa_config)
    since = _window(args.since)
    Location(args.destination).check_reachable(for_writing=True)
    with open_environment(_configured(config, args.environment, args), config) as environment:
        if environment.kind == "mwaa":  # exported from inside MWAA, by an agent DAG
            manifest = environment.export_metadata(args.destination, args.include_secrets, since)
        else:
            manifest = export_metadata(environment, args.destination, args.include_secrets, since)
    rows = [(table, entry.rows, entry.sha256[:16]) for table, entry in manifest.tables.items()]
    print(console.table(("table", "rows", "sha256"), rows))
    for table, why in manifest.not_exported.items():
        print(f"not exported: {table}: {why}")
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    from mwaa_verify.environments import open_environment
    from mwaa_verify.migrate.snapshot import take_snapshot

    config = load_config(args.mwaa_config)
    Location(args.location).check_reachable(for_writing=True, manifest=SNAPSHOT_MANIFEST)
    with open_environment(_configured(config, args.environment, args), config) as environment:
        manifest = take_snapshot(environment, args.location, args.include_logs, args.include_secrets)
    print(f"snapshot of {args.environment!r} (Airflow {manifest.airflow_version}) in {args.location}: "
          f"{len(manifest.files)} files, each with its sha256 in snapshot.json")  # fmt: skip
    for what, why in sorted(manifest.missing.items()):
        print(f"not in the snapshot: {what}: {why}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from mwaa_verify.environments import open_environment
    from mwaa_verify.migrate.import_ import import_metadata

    config = load_config(args.mwaa_config)
    if args.format == "mwaa-dr" and not args.airflow_version:
        raise ConfigError("--format mwaa-dr needs --airflow-version: an mwaa-dr backup does not record it")
    if args.format == "mwaa-dr":
        from mwaa_verify.migrate.mwaa_dr import line_layout

        line_layout(args.airflow_version)  # a version mwaa-dr backs up, before the target is opened
    # an mwaa-dr backup has no manifest of ours: its files are checked against its version's layout when read
    Location(args.export).check_reachable(
        for_writing=False, manifest=None if args.format == "mwaa-dr" else "manifest.json"
    )
    if not args.dry_run:  # a dry run pauses nothing, so it writes no journal
        check_writable_directory(config.cache_dir, _CACHE_DIR)  # the import journal lives there
    chosen = _configured(config, args.environment, args)
    if chosen.kind == "mwaa":
        return _import_into_mwaa(args, chosen, config)
    with open_environment(chosen, config) as environment:
        result = import_metadata(
            args.export, environment, args.dry_run, config.cache_dir / "import-journals", args.format,
            args.airflow_version,
        )  # fmt: skip
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


def _import_into_mwaa(args: argparse.Namespace, chosen: EnvironmentConfig, config: Config) -> int:
    """An import into MWAA runs inside it: the agent DAG runs the same import code on its database."""
    from mwaa_verify.environments import open_environment

    if args.format != "mwaa-verify":
        raise ConfigError(
            f"an import into MWAA environment {args.environment!r} reads exports of `mwaa-verify export` only; "
            f"import the {args.format} backup into a local or ephemeral environment, export that, import the export"
        )
    with open_environment(chosen, config) as environment:
        result = environment.import_metadata(args.export, args.dry_run)
    tables = result["tables"]
    rows = [(name, t["read"], t["written"], t["not_migratable"], t["skipped"] or "") for name, t in tables.items()]
    print(console.table(("table", "exported", "written", "not migratable", "skipped because"), rows))
    for name, outcome in tables.items():
        for example in outcome["examples"]:
            print(f"not migratable: {name}: {example}")
    if result["dags_missing_on_target"]:
        print(f"runs of DAGs the target has not parsed (imported without a DAG version): "
              f"{', '.join(result['dags_missing_on_target'])}")  # fmt: skip
    print("dry run: rolled back, the target is unchanged" if result["dry_run"] else "imported and committed")
    return 1 if any(t["not_migratable"] for t in tables.values()) else 0


def _copy_logs(args: argparse.Namespace) -> int:
    from mwaa_verify.environments import open_environment
    from mwaa_verify.iam.caller import task_log_read_problem
    from mwaa_verify.migrate.logs import copy_task_logs

    config = load_config(args.mwaa_config)
    since = _window(args.since)
    if args.archive:
        _check_archive(args.archive, for_writing=True)
    with (
        open_environment(_configured(config, args.source, args, keep=False, strict=False), config) as source,
        open_environment(_configured(config, args.target, args, strict=False), config) as target,
    ):
        # the copy reads the old environment's logs with the caller's credentials: refuse before copying any
        if problem := task_log_read_problem(source):
            raise MwaaVerifyError(problem)
        result = copy_task_logs(source, target, args.failed_only, since, archive=args.archive)
    for item in result.not_copied:
        print(f"not copied: {item.line()}")
    # logs too old for CloudWatch are the user's documented choice; events CloudWatch rejected unexpectedly are not
    return 1 if any(item.reason.startswith("CloudWatch rejected") for item in result.not_copied) else 0


def _check_archive(text: str, for_writing: bool) -> None:
    """A log archive (s3://bucket/prefix or a folder) is checked before any environment starts."""
    location = Location(text)
    if location.is_s3:
        location.check_reachable(for_writing=for_writing, manifest=None)
    elif for_writing:
        check_writable_directory(Path(text), "--archive")
    elif not Path(text).is_dir():
        raise ConfigError(
            f"--logs-archive {text} is not a directory; give the folder (or s3:// prefix) copy-logs --archive wrote"
        )


def _clone(args: argparse.Namespace) -> int:
    import json

    from mwaa_verify.environments import open_environment
    from mwaa_verify.iam.account import account_blocks_public_access
    from mwaa_verify.migrate.clone import CloneError, check_clone_arguments, check_role, create_environment, plan_clone

    check_clone_arguments(args.name, args.airflow_version, args.execution_role_arn)
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
        checked = None if args.skip_role_check else check_role(
            source.aws_client("iam"), plan, description["Arn"], account_blocks_public_access(source)
        )  # fmt: skip
        missing = checked.missing if checked else []
        role = plan.request["ExecutionRoleArn"]
        for item in checked.warnings if checked else []:
            print(f"warning: execution role {role}: {item}; {item.need.advisory}")
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
    check_writable_directory(args.reports, "--reports")
    _check_cache_dir(config.cache_dir)
    if args.export:
        Location(args.export).check_reachable(for_writing=False)
    if args.logs_archive:
        _check_archive(args.logs_archive, for_writing=False)
    extra = [*(["--since", str(args.since)] if args.since else []), *(["--export", args.export] if args.export else [])]
    extra += ["--logs-failed-only"] if args.logs_failed_only else []
    extra += ["--logs-archive", args.logs_archive] if args.logs_archive else []
    extra += ["--iam-simulate"] if args.iam_simulate else []
    extra += ["--attach"] if args.attach else []
    outcome = run_verification(
        args.source, args.target, args.reports, config.path, config.cache_dir,
        tuple(args.suite) if args.suite else SUITE_NAMES, tuple(extra),
    )  # fmt: skip
    print(_report_paths(outcome.summary_html, outcome.allure_html, outcome.junit))
    print(console.summary_text(outcome.summary))
    return outcome.exit_code


def _report(args: argparse.Namespace) -> int:
    from mwaa_verify.report import history
    from mwaa_verify.report.allure_html import generate_html
    from mwaa_verify.report.summary import read_results, write_summary

    config = load_config(args.mwaa_config)
    results: Path = args.results or _latest_results(args.reports)
    state = (
        "does not exist" if not results.exists()
        else "is not a directory" if not results.is_dir()
        else "holds no test results" if not any(results.glob("*-result.json"))
        else None
    )  # fmt: skip
    if state:
        raise ConfigError(
            f"{results} {state}: there is nothing to report on; run the verification first "
            f"(`mwaa-verify run --source NAME --target NAME`, or `pytest suites --alluredir {results}`)"
        )
    check_writable_directory(args.reports, "--reports")
    _check_cache_dir(config.cache_dir)
    try:
        summary = read_results(results)
    except (ValueError, KeyError, TypeError) as exc:  # JSON that is not an Allure result
        raise ConfigError(
            f"{results} holds a result file that is not Allure's JSON ({type(exc).__name__}: {exc}); "
            f"remove it, or run the verification again"
        ) from None
    summary.drift = history.drift(history.previous_record(args.reports, summary), summary)
    allure_html = generate_html(
        results, args.reports / "allure-report", config.cache_dir, "mwaa-verify", history.history_dir(args.reports)
    )
    links = {"Allure report (one file, opens from disk)": allure_html, "Allure results and attachments": results}
    _markdown, page, _data = write_summary(summary, args.reports, links)
    print(_report_paths(page, allure_html, None))
    print(console.summary_text(summary))
    return 0 if summary.signed_off else 1


def _latest_results(reports: Path) -> Path:
    runs = sorted(path for path in (reports / "runs").glob("*/allure-results") if path.is_dir())
    if not runs:
        raise ConfigError(f"{reports} holds no run; run `mwaa-verify run` first, or pass --results DIR")
    return runs[-1]


def _report_paths(page: Path, allure_html: Path | None, junit: Path | None) -> str:
    lines = [f"sign-off summary: {page} (and summary.md, summary.json)"]
    lines.append(f"Allure report: {allure_html}" if allure_html else "Allure report: not generated (see above)")
    if junit:
        lines.append(f"JUnit XML: {junit}")
    return "\n".join(lines)


_CACHE_DIR = "cache directory (cache_dir in mwaa-verify.toml or $MWAA_VERIFY_CACHE_DIR)"


def _check_cache_dir(cache_dir: Path) -> None:
    """The cache (virtualenvs, the Allure HTML tool) can be made. One that exists may be read-only, filled
    beforehand (a CI cache mount): whatever still has to be installed there checks again when it does."""
    if not cache_dir.is_dir():
        check_writable_directory(cache_dir, _CACHE_DIR)


COMMANDS = {
    "run": _run,
    "report": _report,
    "demo": _demo,
    "envs": _envs,
    "containers": _containers,
    "dags": _dags,
    "export": _export,
    "snapshot": _snapshot,
    "import": _import,
    "copy-logs": _copy_logs,
    "clone": _clone,
}

if __name__ == "__main__":
    sys.exit(main())
