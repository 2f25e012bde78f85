"""`mwaa-verify demo`: a migration to verify, built from nothing but this package.

Two ephemeral environments (or, with `--kind container`, two container environments whose containers the
suites attach to), a 2.10 source and the newest MWAA 3.x target, both loaded with the bundled
example DAGs (some 3.x-ready, some that break on 3.x). The source gets variables, a connection and a pool
(with secrets that are generated here and never printed) and real DAG runs, so its metadata database and
task logs hold what a real deployment's would. Servers are stopped at the end; the files stay in the
workdir for inspection.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from mwaa_verify import ownership, progress
from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION, DEMO_TARGET_VERSION
from mwaa_verify.config import Config, ContainerConfig, EphemeralConfig
from mwaa_verify.environments.base import DagReport
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import HostAirflow, local_config_toml
from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.migrate.export import export_metadata
from mwaa_verify.migrate.import_ import ImportResult, import_metadata
from mwaa_verify.migrate.logs import LogCopyResult, copy_task_logs
from mwaa_verify.report import console
from mwaa_verify.report.summary import Summary
from mwaa_verify.verification import VerificationRun, run_verification

DEMO_DAGS = Path(__file__).resolve().parent / "demo_dags"
# (dag_id, first logical date, last logical date, the state every run and task instance must end in) run on
# the source; all scheduled, so backfill covers them
SOURCE_RUNS = (
    ("demo_etl", date(2024, 3, 1), date(2024, 3, 2), "success"),
    ("demo_mapped", date(2024, 3, 1), date(2024, 3, 2), "success"),
    ("demo_retry", date(2024, 3, 1), date(2024, 3, 1), "success"),
    ("demo_failing", date(2024, 3, 1), date(2024, 3, 1), "failed"),
    ("legacy_bash_operator", date(2024, 3, 1), date(2024, 3, 1), "success"),
)
# verification failures the demo exists to show: what the legacy DAGs break on Airflow 3
EXPECTED_FAILURE_MARKS = ("legacy_", "every_source_dag")
# What a careful migration sets on the 3.x target: cron and timedelta schedules keep Airflow 2's data intervals
# (logical_date = interval start), so the migrated DAGs keep their meaning (the DAG import suite checks it).
TARGET_AIRFLOW_CONFIG = {
    "scheduler.create_cron_data_intervals": "True",
    "scheduler.create_delta_data_intervals": "True",
}
SUMMARY_TABLES = (
    "dag_run",
    "task_instance",
    "task_instance_history",
    "xcom",
    "variable",
    "connection",
    "slot_pool",
    "log",
    "job",
)

# Runs inside the source's interpreter; the secret values arrive in an environment variable (never argv, which
# any user of the host may read in the process list) and never appear in its output.
SEED_SECRETS_VAR = "MWAA_VERIFY_SEED_SECRETS"
SEED_SCRIPT = f"""
import json, os
from airflow.models import Connection, Variable
from airflow.models.pool import Pool
from airflow.utils.session import create_session

values = json.loads(os.environ["{SEED_SECRETS_VAR}"])
Variable.set("warehouse_schema", "analytics", description="schema the ETL loads into")
Variable.set("etl_settings", json.dumps({{"batch_size": 500, "regions": ["eu", "us"]}}))
Variable.set("warehouse_api_key", values["api_key"])
with create_session() as session:
    session.add(Connection(conn_id="warehouse_db", conn_type="postgres", host="warehouse.internal",
                           login="etl", password=values["password"], port=5432, schema="analytics",
                           extra=json.dumps({{"sslmode": "require"}})))
Pool.create_or_update_pool("etl_pool", slots=4, description="ETL concurrency", include_deferred=False)
"""


class DemoRunFailed(MwaaVerifyError):
    """A source run did not do what the demo intends: its history would differ from run to run."""


@dataclass(frozen=True)
class DemoResult:
    workdir: Path
    reports: dict[str, DagReport]
    row_counts: dict[str, dict[str, int]]
    task_logs: dict[str, int]
    failed_runs: tuple[str, ...]
    database_dirs: dict[str, Path]
    export_dir: Path
    imported: ImportResult
    logs_copied: LogCopyResult
    config_path: Path
    verification: VerificationRun
    kind: str = "ephemeral"


@dataclass(frozen=True)
class DemoImages:
    """--kind container: the images of the source's and the target's Airflow, and of PostgreSQL."""

    source: str
    target: str
    postgres: str

    def check(self) -> None:
        """One line naming the missing engine or image and how to provide it, before anything starts."""
        from mwaa_verify.environments.container import check_images

        check_images({"--source-image": self.source, "--target-image": self.target, "--postgres-image": self.postgres})


def run_demo(
    config: Config,
    workdir: Path,
    source_version: str = DEMO_SOURCE_VERSION,
    target_version: str = DEMO_TARGET_VERSION,
    reports: Path = Path("reports"),
    images: DemoImages | None = None,
) -> DemoResult:
    """The demo; with `images`, its source and target are container environments of those images."""
    workdir = workdir.resolve()
    if images is not None:
        images.check()
    # a second demo on the same workdir refuses in one line rather than delete this one's live databases
    with ownership.WorkdirLock(workdir):
        if images is None:
            source, target = _ephemeral_pair(config, workdir, source_version, target_version)
        else:
            source, target = _container_pair(images, source_version, target_version)
        return _run_demo(config, workdir, source, target, reports)


def _container_pair(images: DemoImages, source_version: str, target_version: str) -> tuple[HostAirflow, HostAirflow]:
    from mwaa_verify.environments.container import ContainerEnvironment

    def environment(name: str, image: str, version: str, airflow_config: dict[str, str]) -> ContainerEnvironment:
        # keyed by this process, so the suites attach to these containers and no other demo's
        return ContainerEnvironment(
            ContainerConfig(
                name=name, airflow_image=image, postgres_image=images.postgres, dags_folder=DEMO_DAGS,
                airflow_version=version, airflow_config=airflow_config, key=f"{name}-{os.getpid()}",
            )
        )  # fmt: skip

    return (
        environment("demo-source", images.source, source_version, {}),
        environment("demo-target", images.target, target_version, TARGET_AIRFLOW_CONFIG),
    )


def _ephemeral_pair(
    config: Config, workdir: Path, source_version: str, target_version: str
) -> tuple[HostAirflow, HostAirflow]:
    source = EphemeralEnvironment(
        EphemeralConfig(
            name="demo-source", airflow_version=source_version, dags_folder=DEMO_DAGS, workdir=workdir / "source"
        ),
        config.cache_dir,
    )
    target = EphemeralEnvironment(
        EphemeralConfig(name="demo-target", airflow_version=target_version, dags_folder=DEMO_DAGS,
                        workdir=workdir / "target", airflow_config=TARGET_AIRFLOW_CONFIG),
        config.cache_dir,
    )  # fmt: skip
    return source, target


def _run_demo(config: Config, workdir: Path, source: HostAirflow, target: HostAirflow, reports: Path) -> DemoResult:
    with source, target:
        source_version, target_version = str(source.version), str(target.version)
        with progress.step("demo-source: adding variables, a connection and a pool"):
            values = {"password": secrets.token_urlsafe(16), "api_key": secrets.token_urlsafe(24)}
            seed_source(source, values)
        with progress.step(f"demo-source: parsing the DAGs into the metadata database (Airflow {source.version})"):
            source.parse_dags()  # as its scheduler would have: every DAG is in its dag table
        failed = []
        for dag_id, start, end, intended in SOURCE_RUNS:
            with progress.step(f"demo-source: running {dag_id} for {start} .. {end}"):
                source.run_dag(dag_id, start, end)
                check_history(source, dag_id, intended)
            if intended == "failed":
                failed.append(dag_id)
        # the migration, step by step as the MWAA guide describes it
        with progress.step(f"demo-target: dag-processor parses the DAGs on Airflow {target.version}"):
            target.parse_dags()
        dag_reports = {}
        for environment in (source, target):
            with progress.step(f"{environment.name}: parsing DAGs as Airflow {environment.version}'s dag-processor"):
                dag_reports[environment.name] = environment.dag_report()
        export_dir = workdir / "export"
        export_metadata(source, export_dir, include_secrets=True)
        imported = import_metadata(export_dir, target, journal_dir=workdir / "import-journal")
        logs_copied = copy_task_logs(source, target)
        row_counts = {
            environment.name: {table: environment.metadata.count(table) for table in SUMMARY_TABLES}
            for environment in (source, target)
        }
        task_logs = {environment.name: sum(1 for _ in environment.task_logs()) for environment in (source, target)}
        database_dirs = {
            environment.name: cluster.data_dir
            for environment in (source, target)
            if (cluster := getattr(environment, "cluster", None)) is not None
        }
        config_path = _write_config(workdir, (source, target))
        verification = run_verification(
            "demo-source",
            "demo-target",
            reports,
            config_path,
            config.cache_dir,
            extra_args=("--export", str(export_dir)),
            described_as={  # the suites open ephemeral ones as `local` environments; say what they are
                "source": {"kind": source.kind, "configured_airflow": source_version},
                "target": {"kind": target.kind, "configured_airflow": target_version},
            },
        )
    return DemoResult(
        workdir, dag_reports, row_counts, task_logs, tuple(failed), database_dirs, export_dir, imported, logs_copied,
        config_path, verification, source.kind,
    )  # fmt: skip


def check_history(environment: HostAirflow, dag_id: str, intended: str) -> None:
    """Every run of `dag_id` and every task instance in it (mapped ones included) ended `intended`."""
    runs = [row for row in environment.metadata.rows("dag_run") if row["dag_id"] == dag_id]
    instances = [row for row in environment.metadata.rows("task_instance") if row["dag_id"] == dag_id]
    problems = [] if runs else ["no run was recorded"]
    problems += [f"run {row['run_id']} ended {row['state']}" for row in runs if row["state"] != intended]
    problems += [
        f"task {row['task_id']}" + (f"[{row['map_index']}]" if row["map_index"] >= 0 else "") + f" is {row['state']}"
        for row in instances
        if row["state"] != intended
    ]
    if problems:
        assert environment.workdir is not None
        raise DemoRunFailed(
            f"{environment.name}: {dag_id} did not run as intended (every run and task {intended}): "
            f"{'; '.join(problems[:5])}; Airflow's output is in {environment.workdir / 'runs' / (dag_id + '.log')}"
        )


def unexpected_failures(verification: VerificationRun) -> list[str]:
    """Failed checks other than those the demo exists to show."""
    failed = [
        f"{result.key}: {result.reason}"
        for result in verification.summary.results
        if result.status in {"failed", "broken"}
    ]
    return [line for line in failed if not any(mark in line for mark in EXPECTED_FAILURE_MARKS)]


def _count_notes(summary: Summary) -> list[str]:
    """Why a table's counts differ between the two sides yet its parity check passed (the parity suite's note)."""
    return [f"  {table}: {counts.note}" for table, counts, status in summary.row_counts() if counts.note]


def seed_source(environment: HostAirflow, values: dict[str, str]) -> None:
    """The demo's variables, connection and pool, with the given secrets, written through the source's Airflow."""
    environment.run(
        ["-c", SEED_SCRIPT], 300, "seeding variables and connections", extra_env={SEED_SECRETS_VAR: json.dumps(values)}
    )


def _write_config(workdir: Path, environments: tuple[HostAirflow, ...]) -> Path:
    """The demo's environments as `local` ones, so the suites reach them exactly as a user's own Airflow; container
    ones as `container` ones that attach to the demo's running containers."""
    header = "# written by `mwaa-verify demo`: its two environments, while it runs\n\n"
    intended = json.dumps(sorted(TARGET_AIRFLOW_CONFIG))
    verify = f"[verify]\n# set on the target on purpose\nintended_config_differences = {intended}\n\n"
    path = workdir / "mwaa-verify.toml"
    path.touch(mode=0o600)  # it holds the throwaway databases' passwords
    path.chmod(0o600)
    sections = [_config_toml(environment) for environment in environments]
    path.write_text(header + verify + "\n".join(sections))
    return path


def _config_toml(environment: HostAirflow) -> str:
    if environment.kind == "container":
        from mwaa_verify.environments.container import ContainerEnvironment, attach_config_toml

        assert isinstance(environment, ContainerEnvironment)
        return attach_config_toml(environment)
    return local_config_toml(environment)


def demo_summary(result: DemoResult) -> str:
    parts = [
        "DAG reports (each file parsed the way that version's dag-processor parses it):",
        "",
    ]
    for name, report in result.reports.items():
        parts += [console.dag_report_text(name, report), ""]
    parts += ["Side by side:", console.dag_reports_side_by_side(result.reports), ""]
    names = list(result.row_counts)
    rows = [[table, *(result.row_counts[name][table] for name in names)] for table in SUMMARY_TABLES]
    rows.append(["task log files", *(result.task_logs[name] for name in names)])
    parts += [
        "Metadata rows and task logs, after the import and the log copy:",
        console.table(["table", *names], rows),
        *_count_notes(result.verification.summary),
        "",
    ]
    imported = [
        [t.table, t.rows_read, t.rows_written, t.not_migratable, t.skipped or ""]
        for t in result.imported.tables.values()
    ]
    parts += [
        f"Import of {result.export_dir} into demo-target:",
        console.table(["table", "exported", "written", "not migratable", "skipped because"], imported),
        f"Task logs copied: {result.logs_copied.copied} ({result.logs_copied.bytes_copied} bytes), "
        f"{result.logs_copied.unchanged} already there",
        "",
        f"The verification (mwaa-verify run: {', '.join(result.verification.summary.by_suite())}):",
        *("  " + line for line in console.summary_text(result.verification.summary).splitlines()),
    ]
    unexpected = unexpected_failures(result.verification)
    if unexpected:
        parts.append(f"  NOT EXPECTED: {len(unexpected)} failure(s) beyond what the legacy DAGs break; see above")
    elif result.verification.exit_code:
        parts.append(
            "  (expected: the legacy_* DAGs break on Airflow 3, each for the reason shown, so the target lacks them; "
            "finding that before cutover is what the verification is for)"
        )
    parts.append("")
    if result.failed_runs:
        parts.append(f"Runs that ended failed on the source, as intended: {', '.join(result.failed_runs)}")
    parts.append("Where everything is (servers are stopped; the files are kept):")
    run = result.verification
    parts.append(f"  sign-off summary: {run.summary_html} (and {run.summary_md.name}, {run.summary_json.name})")
    parts.append(f"  Allure report: {run.allure_html or 'not generated (Node.js or npm unavailable)'}")
    parts.append(f"  Allure results: {run.allure_results}; JUnit XML: {run.junit}")
    parts.append(f"  metadata export: {result.export_dir}")
    if result.kind == "container":
        parts.append("  demo-source, demo-target: their containers, network and mounted folders are removed")
    for name, folder in (("demo-source", "source"), ("demo-target", "target")):
        if result.kind == "container":
            break
        parts.append(f"  {name}: DAGs, task logs and Airflow's output per run under {result.workdir / folder}")
        if name in result.database_dirs:
            parts.append(f"  {name}: PostgreSQL data directory {result.database_dirs[name]}")
    return "\n".join(parts)
