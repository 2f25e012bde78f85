"""Ephemeral environments: a real Airflow 2.10 and 3.x, each on its own throwaway PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from mwaa_verify.airflow.tables import NATURAL_KEYS
from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION, DEMO_TARGET_VERSION, AirflowVersion
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.metadata_db import MetadataDatabase
from mwaa_verify.environments.virtualenv import READY_MARKER, ensure_virtualenv

pytestmark = pytest.mark.slow

DEMO_FILES = [
    "demo_etl.py",
    "demo_failing.py",
    "demo_mapped.py",
    "demo_retry.py",
    "legacy_bash_operator.py",
    "legacy_days_ago.py",
    "legacy_orm_top_level.py",
    "legacy_schedule_interval.py",
]
# What Airflow 3 itself says about each file that imports on 2.10
AIRFLOW3_IMPORT_ERRORS = {
    "legacy_bash_operator.py": "ModuleNotFoundError: No module named 'airflow.operators.bash_operator'",
    "legacy_days_ago.py": "ImportError: cannot import name 'days_ago' from 'airflow.utils.dates'",
    "legacy_orm_top_level.py": "RuntimeError: Direct database access via the ORM is not allowed in Airflow 3.0",
    "legacy_schedule_interval.py": "TypeError: DAG.__init__() got an unexpected keyword argument 'schedule_interval'",
}


def test_airflow2_parses_every_demo_file(airflow2: EphemeralEnvironment) -> None:
    report = airflow2.dag_report()

    assert report.airflow_version == DEMO_SOURCE_VERSION
    assert sorted(Path(item.path).name for item in report.files) == DEMO_FILES
    assert report.import_errors == {}
    assert sorted(report.dags) == sorted(name.removesuffix(".py") for name in DEMO_FILES)


def test_airflow3_reports_each_legacy_file_with_airflows_own_error(airflow3: EphemeralEnvironment) -> None:
    report = airflow3.dag_report()

    assert report.airflow_version == DEMO_TARGET_VERSION
    errors = {Path(path).name: text for path, text in report.import_errors.items()}
    assert sorted(errors) == sorted(AIRFLOW3_IMPORT_ERRORS)
    for name, expected in AIRFLOW3_IMPORT_ERRORS.items():
        assert expected in errors[name], f"{name}: {errors[name]}"
    assert sorted(report.dags) == ["demo_etl", "demo_failing", "demo_mapped", "demo_retry"]


@pytest.mark.parametrize("environment", ["airflow2", "airflow3"])
def test_dag_shape_is_reported_the_same_on_both_versions(environment: str, request: pytest.FixtureRequest) -> None:
    report = request.getfixturevalue(environment).dag_report()

    etl = report.dags["demo_etl"]
    assert etl.task_ids == ("extract", "load", "transform")
    assert etl.edges == (("extract", "transform"), ("transform", "load"))
    assert etl.tags == ("demo", "etl")
    assert etl.catchup is False
    assert etl.retries == {"extract": 2, "load": 2, "transform": 2}
    assert etl.operators["load"].endswith("BashOperator")
    assert report.dags["demo_mapped"].schedule["kind"] == "cron"
    assert report.dags["demo_mapped"].schedule["expression"] == "0 6 * * *"
    assert report.file(report.dags["demo_etl"].fileloc).parse_seconds > 0


def test_rows_stream_in_natural_key_order_in_chunks(airflow2: EphemeralEnvironment) -> None:
    reader = MetadataDatabase(airflow2.sql_alchemy_conn, chunk_size=2)

    rows = list(reader.rows("task_instance"))

    keys = [tuple(row[column] for column in NATURAL_KEYS["task_instance"]) for row in rows]
    assert keys == sorted(keys)
    assert [(key[1], key[2]) for key in keys] == [
        ("extract", "backfill__2024-03-01T00:00:00+00:00"),
        ("extract", "backfill__2024-03-02T00:00:00+00:00"),
        ("load", "backfill__2024-03-01T00:00:00+00:00"),
        ("load", "backfill__2024-03-02T00:00:00+00:00"),
        ("transform", "backfill__2024-03-01T00:00:00+00:00"),
        ("transform", "backfill__2024-03-02T00:00:00+00:00"),
    ]
    assert {row["state"] for row in rows} == {"success"}


def test_rows_since_keeps_only_runs_in_the_window(airflow2: EphemeralEnvironment) -> None:
    since = datetime(2024, 3, 2, tzinfo=UTC)

    runs = [row["run_id"] for row in airflow2.rows("dag_run", since=since)]
    instances = {row["run_id"] for row in airflow2.rows("task_instance", since=since)}

    assert runs == ["backfill__2024-03-02T00:00:00+00:00"]
    assert instances == {"backfill__2024-03-02T00:00:00+00:00"}


def test_airflow3_rows_have_the_3x_schema(airflow3: EphemeralEnvironment) -> None:
    runs = list(airflow3.rows("dag_run"))

    assert [(run["dag_id"], run["state"]) for run in runs] == [("demo_etl", "success")]
    assert "logical_date" in runs[0] and "execution_date" not in runs[0]
    assert len(list(airflow3.rows("task_instance"))) == 3


def test_metadata_reads_are_read_only(airflow2: EphemeralEnvironment) -> None:
    with airflow2.metadata.connect() as connection, pytest.raises(sa.exc.InternalError, match="read-only"):
        connection.execute(sa.text("INSERT INTO variable (key, val) VALUES ('written', 'by a reader')"))


def test_task_logs_lists_every_attempt(airflow2: EphemeralEnvironment) -> None:
    logs = list(airflow2.task_logs())

    assert sorted((log.task_id, log.run_id, log.try_number) for log in logs) == [
        (task, f"backfill__2024-03-0{day}T00:00:00+00:00", 1)
        for task in ("extract", "load", "transform")
        for day in (1, 2)
    ]
    assert all(log.size > 0 and len(log.sha256) == 64 for log in logs)


def test_info_names_the_version_and_redacts_secrets(airflow3: EphemeralEnvironment) -> None:
    info = airflow3.info()

    assert (info.kind, info.airflow_version) == ("ephemeral", DEMO_TARGET_VERSION)
    assert info.config_options["core.executor"] == "LocalExecutor"
    (fernet_key,) = airflow3.fernet_keys().keys
    assert fernet_key not in repr(info) and fernet_key not in repr(airflow3.fernet_keys())


def test_second_start_reuses_the_cached_virtualenv(airflow2: EphemeralEnvironment, cache_dir: Path) -> None:
    marker = airflow2.python.parent.parent / READY_MARKER
    built_at = marker.stat().st_mtime_ns

    python = ensure_virtualenv(cache_dir, AirflowVersion.parse(DEMO_SOURCE_VERSION))

    assert python == airflow2.python
    assert marker.stat().st_mtime_ns == built_at
