"""An in-place upgrade verified against a snapshot taken before it: a real Airflow 2.11 environment with history
is snapshotted (to a directory and to S3), upgraded in place to 3.x (`airflow db migrate` of the newer Airflow on
the same database, as MWAA does), and the suites between the snapshot and the upgraded environment pass; rows the
upgrade lost are caught by their table's test; a snapshot changed afterwards is refused."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from aws_double import AwsDouble

from conftest import junit_outcomes
from mwaa_verify.airflow.versions import DEMO_TARGET_VERSION
from mwaa_verify.cli import main
from mwaa_verify.config import EphemeralConfig, SnapshotConfig
from mwaa_verify.demo import TARGET_AIRFLOW_CONFIG, seed_source
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import local_config_toml
from mwaa_verify.environments.snapshot import ReadOnlySnapshot, SnapshotEnvironment
from mwaa_verify.errors import ExportError
from mwaa_verify.migrate.snapshot import take_snapshot
from mwaa_verify.verification import run_verification

pytestmark = pytest.mark.slow

BEFORE_VERSION = "2.11.2"
SECRETS = {"password": "pw-Sn4p-not-for-reports", "api_key": "key-Sn4p-not-for-reports"}
SUITES = ("metadata_parity", "log_copy", "dag_import", "environment_config")


@pytest.fixture(scope="module")
def environment(cache_dir: Path, ready_dags: Path) -> Iterator[EphemeralEnvironment]:
    """One Airflow 2.11 deployment with variables, a connection, a pool, runs (a retry, a failure, mapping)."""
    # set before the upgrade, as a careful user does: cron schedules keep Airflow 2's data intervals on 3.x
    config = EphemeralConfig(
        name="prod", airflow_version=BEFORE_VERSION, dags_folder=ready_dags, airflow_config=TARGET_AIRFLOW_CONFIG
    )
    with EphemeralEnvironment(config, cache_dir) as prod:
        seed_source(prod, SECRETS)
        prod.parse_dags()
        for dag_id in ("demo_etl", "demo_mapped", "demo_retry", "demo_failing"):
            prod.run_dag(dag_id, date(2024, 3, 1), date(2024, 3, 2))
        yield prod


@pytest.fixture(scope="module")
def snapshot_dir(environment: EphemeralEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp("snapshots") / "before-upgrade"
    config = _config(environment, {}, destination.parent)
    assert main(["--mwaa-config", str(config), "-q", "snapshot", "prod", str(destination)]) == 0
    return destination


@pytest.fixture(scope="module")
def s3(aws: AwsDouble) -> Iterator[str]:
    """S3 on 127.0.0.1 (moto) for this process and the verification runs it starts."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", aws.url)
        yield aws.url


@pytest.fixture(scope="module")
def s3_snapshot(environment: EphemeralEnvironment, snapshot_dir: Path, s3: str) -> str:
    boto3.client("s3").create_bucket(Bucket="baselines", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    take_snapshot(environment, "s3://baselines/prod/before-upgrade", include_logs=True)
    return "s3://baselines/prod/before-upgrade"


@pytest.fixture(scope="module")
def upgraded(environment: EphemeralEnvironment, snapshot_dir: Path, s3_snapshot: str) -> EphemeralEnvironment:
    """The same environment after MWAA's in-place upgrade: Airflow 3's db migrate, then its dag-processor."""
    environment.upgrade_in_place(DEMO_TARGET_VERSION)
    environment.parse_dags()
    return environment


def _config(environment: EphemeralEnvironment, snapshots: dict[str, str], folder: Path) -> Path:
    lines = [local_config_toml(environment)]
    for name, location in snapshots.items():
        lines.append(f'[environments.{name}]\nkind = "snapshot"\nlocation = {json.dumps(location)}\n')
    path = folder / "mwaa-verify.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _verify(upgraded: EphemeralEnvironment, location: str, tmp_path: Path, suites: tuple[str, ...] = SUITES):
    config = _config(upgraded, {"before-upgrade": location}, tmp_path)
    return run_verification("before-upgrade", "prod", tmp_path / "reports", config, config.parent, suites)


def test_snapshot_lists_every_file_with_its_sha256(snapshot_dir: Path) -> None:
    manifest = json.loads((snapshot_dir / "snapshot.json").read_text())

    files = {path.relative_to(snapshot_dir).as_posix() for path in snapshot_dir.rglob("*") if path.is_file()}
    assert set(manifest["files"]) == files - {"snapshot.json"}
    assert {"info.json", "dag_report.json", "task_logs.jsonl", "execution_role.json", "metadata/manifest.json",
            "metadata/task_instance.jsonl", "metadata/dag.jsonl", "dags/demo_etl.py"} <= files  # fmt: skip
    assert manifest["airflow_version"] == BEFORE_VERSION and manifest["secrets"] == "digests"
    written = "".join(path.read_text(errors="replace") for path in snapshot_dir.rglob("*") if path.is_file())
    assert SECRETS["password"] not in written and SECRETS["api_key"] not in written


def test_snapshot_rows_are_the_live_rows_with_their_types(environment: EphemeralEnvironment, snapshot_dir: Path):
    """What the parity engine reads from a snapshot is what it reads from the live database: same order,
    same values, same Python types (aware datetimes, dicts for JSON, bytes, UUIDs)."""
    with SnapshotEnvironment(SnapshotConfig("before", str(snapshot_dir))) as frozen:
        for table in ("dag_run", "task_instance", "xcom", "slot_pool", "log", "job", "rendered_task_instance_fields"):
            live, kept = list(environment.rows(table)), list(frozen.rows(table))
            assert [{k: (v, type(v)) for k, v in row.items()} for row in kept] == [
                {k: (v, type(v)) for k, v in row.items()} for row in live
            ], table
        assert frozen.schema_revision() == environment.schema_revision()
        since = datetime(2024, 3, 2, tzinfo=UTC)  # the --since window: the same rows from both
        for table in ("dag_run", "task_instance", "xcom", "task_instance_history"):
            assert list(frozen.rows(table, since)) == list(environment.rows(table, since)), table
            assert list(frozen.rows(table, since)) != list(frozen.rows(table)), table


def test_in_place_upgrade_passes_every_suite_against_the_snapshot(upgraded: EphemeralEnvironment, snapshot_dir: Path,
                                                                  tmp_path: Path) -> None:  # fmt: skip
    run = _verify(upgraded, str(snapshot_dir), tmp_path)

    outcomes = junit_outcomes(run.junit)
    failures = {name: text for name, text in outcomes.items() if text not in (None, "SKIPPED")}
    assert run.exit_code == 0 and not failures, run.output[-6000:]
    assert outcomes["test_table_rows_match[task_instance]"] is None
    assert outcomes["test_table_rows_match[variable]"] is None
    assert any(name.startswith("test_task_logs_copied_completely") and text is None for name, text in outcomes.items())


def test_a_snapshot_in_s3_verifies_the_same(
    upgraded: EphemeralEnvironment, s3_snapshot: str, s3: str, tmp_path: Path
) -> None:
    run = _verify(upgraded, s3_snapshot, tmp_path, ("metadata_parity", "log_copy"))

    assert run.exit_code == 0, run.output[-6000:]


def test_a_tampered_snapshot_is_refused_naming_the_file(snapshot_dir: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(snapshot_dir, tampered)
    runs = tampered / "metadata" / "dag_run.jsonl"
    original = runs.read_text()
    runs.write_text(original.replace('"state": "failed"', '"state": "success"'))
    assert runs.read_text() != original

    with pytest.raises(ExportError) as refused, SnapshotEnvironment(SnapshotConfig("before", str(tampered))):
        pass

    assert "metadata/dag_run.jsonl does not match its sha256 in snapshot.json" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_snapshot_refuses_every_write(snapshot_dir: Path) -> None:
    with SnapshotEnvironment(SnapshotConfig("before", str(snapshot_dir))) as frozen:
        with pytest.raises(ReadOnlySnapshot, match="is a snapshot: it is read-only"):
            frozen.write_task_log("dag_id=x/run_id=y/task_id=z/attempt=1.log", b"x")
        log = next(frozen.task_logs())
        with pytest.raises(Exception, match="without --include-logs"):
            frozen.read_task_log(log)


def test_rows_the_upgrade_lost_are_caught_by_their_table(upgraded: EphemeralEnvironment, snapshot_dir: Path,
                                                         tmp_path: Path) -> None:  # fmt: skip
    token, _ = upgraded.fernet_keys().encrypt("staging")
    engine = sa.create_engine(upgraded.sql_alchemy_conn, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text(
            "DELETE FROM task_instance WHERE dag_id = 'demo_etl' AND task_id = 'load' AND run_id LIKE '%2024-03-01%'"
        ))  # fmt: skip
        connection.execute(sa.text("UPDATE variable SET val = :val WHERE key = 'warehouse_schema'"), {"val": token})
    engine.dispose()

    run = _verify(upgraded, str(snapshot_dir), tmp_path, ("metadata_parity",))

    outcomes = junit_outcomes(run.junit)
    failed = {name for name, text in outcomes.items() if text not in (None, "SKIPPED")}
    # Airflow 3 deletes a task instance's xcom and rendered fields with it (foreign keys ON DELETE CASCADE)
    lost_with_it = {"test_table_rows_match[xcom]", "test_table_rows_match[rendered_task_instance_fields]"}
    assert failed == {"test_table_rows_match[task_instance]", "test_table_rows_match[variable]"} | lost_with_it, (
        run.output[-4000:]
    )
    assert "demo_etl" in outcomes["test_table_rows_match[task_instance]"]
    assert "1 missing on the target" in outcomes["test_table_rows_match[task_instance]"]
    assert "1 changed" in outcomes["test_table_rows_match[variable]"]
    assert "staging" not in run.output and "analytics" not in run.output
