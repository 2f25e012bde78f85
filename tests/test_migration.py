"""Export -> import -> parity on a real Airflow 2.10 source and a real Airflow 3.x target, each on its own
PostgreSQL: the round trip is faithful, repeating it changes nothing, an interrupted one changes nothing,
and every planted defect is caught by the right table's test without a secret in the output."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws

from mwaa_verify.airflow.column_map import MIGRATED_TABLES
from mwaa_verify.airflow.log_paths import TaskLogKey
from mwaa_verify.airflow.secrets import Redactor
from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION, DEMO_TARGET_VERSION
from mwaa_verify.config import EphemeralConfig
from mwaa_verify.demo import seed_source
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import local_config_toml
from mwaa_verify.errors import ExportError, ImportRefused
from mwaa_verify.migrate.export import export_metadata
from mwaa_verify.migrate.import_ import import_metadata
from mwaa_verify.migrate.logs import copy_task_logs
from mwaa_verify.migrate.manifest import Manifest
from mwaa_verify.parity.logs import in_time_order, visible_lines
from mwaa_verify.parity.metadata import NotApplicable, compare_table
from mwaa_verify.verification import run_verification

pytestmark = pytest.mark.slow

SECRETS = {"password": "pw-Zq81-not-for-reports", "api_key": "key-Hh27-not-for-reports"}
SUITE = Path(__file__).resolve().parent.parent / "suites" / "test_metadata_parity.py"


@pytest.fixture(scope="module")
def source(cache_dir: Path, ready_dags: Path) -> Iterator[EphemeralEnvironment]:
    config = EphemeralConfig(name="source", airflow_version=DEMO_SOURCE_VERSION, dags_folder=ready_dags)
    with EphemeralEnvironment(config, cache_dir) as environment:
        seed_source(environment, SECRETS)
        environment.parse_dags()
        for dag_id in ("demo_etl", "demo_mapped", "demo_retry", "demo_failing"):
            environment.run_dag(dag_id, date(2024, 3, 1), date(2024, 3, 2))
        yield environment


@pytest.fixture(scope="module")
def target(cache_dir: Path, ready_dags: Path) -> Iterator[EphemeralEnvironment]:
    config = EphemeralConfig(name="target", airflow_version=DEMO_TARGET_VERSION, dags_folder=ready_dags)
    with EphemeralEnvironment(config, cache_dir) as environment:
        environment.parse_dags()
        yield environment


@pytest.fixture(scope="module")
def export_dir(source: EphemeralEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    destination = tmp_path_factory.mktemp("exports") / "full"
    export_metadata(source, destination, include_secrets=True)
    return destination


def writer(environment: EphemeralEnvironment) -> sa.Engine:
    """A writable connection, for arranging states the tool itself must never create."""
    return sa.create_engine(environment.sql_alchemy_conn, poolclass=sa.pool.NullPool)


def snapshot(environment: EphemeralEnvironment) -> dict[str, list[dict]]:
    return {
        spec.name: list(environment.rows(spec.name)) for spec in MIGRATED_TABLES if spec.name in environment.tables()
    }


def paused(environment: EphemeralEnvironment) -> dict[str, bool]:
    return {row["dag_id"]: row["is_paused"] for row in environment.rows("dag")}


def test_export_writes_every_table_with_counts_and_hashes(source: EphemeralEnvironment, export_dir: Path) -> None:
    manifest = Manifest.read(export_dir)

    assert manifest.airflow_version == DEMO_SOURCE_VERSION
    assert manifest.schema_revision == "5f2621c13b39"  # the 2.10 head
    assert manifest.secrets_included
    for table, entry in manifest.tables.items():
        assert entry.rows == sum(1 for _ in source.rows(table)), table
    assert manifest.tables["dag_run"].rows == 7
    manifest.verify(export_dir)


def test_export_leaves_secrets_out_unless_asked(source: EphemeralEnvironment, tmp_path: Path, export_dir: Path) -> None:
    export_metadata(source, tmp_path / "plain")

    plain = "".join(path.read_text() for path in (tmp_path / "plain").iterdir())
    full = (export_dir / "connection.jsonl").read_text() + (export_dir / "variable.jsonl").read_text()
    assert SECRETS["password"] not in plain and SECRETS["api_key"] not in plain
    assert SECRETS["password"] in full and SECRETS["api_key"] in full
    assert not Manifest.read(tmp_path / "plain").secrets_included


def test_killed_import_leaves_the_target_unchanged(
    target: EphemeralEnvironment, export_dir: Path, tmp_path: Path
) -> None:
    with writer(target).begin() as connection:
        connection.execute(sa.text("UPDATE dag SET is_paused = false WHERE dag_id = 'demo_etl'"))
    before, paused_before = snapshot(target), paused(target)
    big = _with_many_log_rows(export_dir, tmp_path / "big", rows=300_000)
    journal = tmp_path / "journal"
    script = (
        "import sys; from pathlib import Path; from mwaa_verify.environments.local import LocalEnvironment;"
        "from mwaa_verify.config import load_config; from mwaa_verify.migrate.import_ import import_metadata;"
        "config = load_config(sys.argv[1]); environment = LocalEnvironment(config.environment('target'));"
        "import_metadata(sys.argv[2], environment, journal_dir=Path(sys.argv[3]))"
    )
    config = tmp_path / "mwaa-verify.toml"
    config.write_text(local_config_toml(target))
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(config), str(big), str(journal)], stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "importing log ..." in line:  # dag_run, task_instance, xcom ... are written by now, uncommitted
            break
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert snapshot(target) == before
    assert paused(target)["demo_etl"] is True, "the import had paused the DAGs when it was killed"
    import_metadata(export_dir, target, journal_dir=journal)  # the next import restores what the journal kept
    assert paused(target) == paused_before


def test_round_trip_is_faithful_table_by_table(
    source: EphemeralEnvironment, target: EphemeralEnvironment, export_dir: Path
) -> None:
    import_metadata(export_dir, target)
    redactor = Redactor()

    outcomes = {spec.name: compare_table(spec.name, source, target, redactor) for spec in MIGRATED_TABLES}

    not_applicable = sorted(name for name, outcome in outcomes.items() if isinstance(outcome, NotApplicable))
    assert not_applicable == ["sla_miss", "task_fail"]
    for name, outcome in outcomes.items():
        if not isinstance(outcome, NotApplicable):
            assert outcome.is_faithful(extras_allowed=name in {"log", "job"}), name
            assert outcome.matched == outcome.source_rows, name
    assert outcomes["task_instance"].matched == 14  # type: ignore[union-attr]


def test_import_twice_changes_nothing(target: EphemeralEnvironment, export_dir: Path) -> None:
    before = snapshot(target)

    result = import_metadata(export_dir, target)

    assert snapshot(target) == before
    assert result.tables["log"].rows_written == 0 and result.tables["job"].rows_written == 0


def test_import_refuses_a_corrupt_export_before_writing(
    target: EphemeralEnvironment, export_dir: Path, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt"
    shutil.copytree(export_dir, corrupt)
    lines = (corrupt / "dag_run.jsonl").read_text().splitlines(keepends=True)
    (corrupt / "dag_run.jsonl").write_text("".join(lines[:-1]))  # a truncated table file

    with pytest.raises(ExportError, match=r"dag_run.jsonl does not match the manifest .* the export is corrupt"):
        import_metadata(corrupt, target)

    (corrupt / "manifest.json").write_text("{not json")
    with pytest.raises(ExportError, match=r"is not a valid export manifest"):
        import_metadata(corrupt, target)


def test_import_refuses_a_downgrade(source: EphemeralEnvironment, target: EphemeralEnvironment, tmp_path: Path) -> None:
    export_metadata(target, tmp_path / "from3", include_secrets=True)

    with pytest.raises(ImportRefused, match=r"from Airflow 3\.3\.1 and 'source' runs 2\.10\.5"):
        import_metadata(tmp_path / "from3", source)


def test_export_and_import_through_s3(
    source: EphemeralEnvironment, target: EphemeralEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="migration")
        manifest = export_metadata(source, "s3://migration/exports/2024-03", include_secrets=True)

        keys = {item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket="migration")["Contents"]}
        result = import_metadata("s3://migration/exports/2024-03", target)

    assert "exports/2024-03/manifest.json" in keys and "exports/2024-03/task_instance.jsonl" in keys
    assert result.tables["task_instance"].rows_read == manifest.tables["task_instance"].rows


def test_task_logs_copy_completely_and_once(source: EphemeralEnvironment, target: EphemeralEnvironment) -> None:
    failed_only = copy_task_logs(source, target, failed_only=True)
    assert failed_only.copied_names and all("demo_failing" in name for name in failed_only.copied_names)

    everything = copy_task_logs(source, target)
    again = copy_task_logs(source, target)

    assert {log.name: log.sha256 for log in target.task_logs()} == {log.name: log.sha256 for log in source.task_logs()}
    assert everything.copied + failed_only.copied == len(list(source.task_logs()))
    assert (again.copied, again.unchanged) == (0, len(list(source.task_logs())))


def test_copied_log_files_keep_their_times_and_show_in_the_targets_own_reader(
    source: EphemeralEnvironment, target: EphemeralEnvironment, export_dir: Path
) -> None:
    import_metadata(export_dir, target)
    copy_task_logs(source, target)
    logs = sorted(source.task_logs(), key=lambda log: log.name)
    assert source.base_log_folder is not None and target.base_log_folder is not None

    views = target.task_log_views(
        [TaskLogKey(log.dag_id, log.run_id, log.task_id, log.map_index, log.try_number) for log in logs]
    )

    for log, view in zip(logs, views, strict=True):
        assert view["handler"] == "FileTaskHandler" and view["name"] == log.name  # the 3.x layout is 2.x's
        assert (target.base_log_folder / log.name).stat().st_mtime == (
            source.base_log_folder / log.name
        ).stat().st_mtime
        lines = source.read_task_log(log).decode().splitlines()
        assert visible_lines(view["lines"]) == visible_lines(in_time_order(lines)) and lines, log.name


def test_airflow_2s_own_reader_shows_its_logs(source: EphemeralEnvironment) -> None:
    logs = sorted(source.task_logs(), key=lambda log: log.name)

    views = source.task_log_views(
        [TaskLogKey(log.dag_id, log.run_id, log.task_id, log.map_index, log.try_number) for log in logs]
    )

    for log, view in zip(logs, views, strict=True):
        assert view["handler"] == "FileTaskHandler" and view["name"] == log.name
        lines = source.read_task_log(log).decode().splitlines()
        assert visible_lines(view["lines"]) == visible_lines(in_time_order(lines)) and lines, log.name


def test_suite_catches_each_planted_defect_in_the_right_table(
    source: EphemeralEnvironment, target: EphemeralEnvironment, export_dir: Path, pytester: pytest.Pytester
) -> None:
    import_metadata(export_dir, target)
    keys = target.fernet_keys()
    planted_password = "pw-planted-on-target"
    with writer(target).begin() as connection:
        # one row per defect: no foreign-key cascade takes a task instance's xcom and rendered fields with it
        connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        connection.execute(
            sa.text(
                "DELETE FROM task_instance WHERE dag_id = 'demo_etl' AND task_id = 'load' "
                "AND run_id = 'backfill__2024-03-01T00:00:00+00:00'"
            )
        )
        connection.execute(sa.text("UPDATE dag_run SET state = 'failed' WHERE dag_id = 'demo_mapped'"))
        connection.execute(
            sa.text("UPDATE variable SET val = :val WHERE key = 'warehouse_schema'"),
            {"val": keys.encrypt("staging")[0]},
        )
        connection.execute(
            sa.text(
                "DELETE FROM xcom WHERE dag_id = 'demo_etl' AND key = 'rows' AND task_id = 'extract' "
                "AND run_id = 'backfill__2024-03-02T00:00:00+00:00'"
            )
        )
        connection.execute(
            sa.text("UPDATE connection SET password = :pw WHERE conn_id = 'warehouse_db'"),
            {"pw": keys.encrypt(planted_password)[0]},
        )
    pytester.makefile(".toml", **{"mwaa-verify": local_config_toml(source) + "\n" + local_config_toml(target)})

    result = pytester.runpytest_subprocess(
        str(SUITE), "--source", "source", "--target", "target", "--export", str(export_dir), "-p", "no:cacheprovider"
    )

    failed = sorted(line.split("::")[1].split(" ")[0] for line in result.outlines if line.startswith("FAILED"))
    assert failed == [
        "test_table_rows_match[connection]",
        "test_table_rows_match[dag_run]",
        "test_table_rows_match[task_instance]",
        "test_table_rows_match[variable]",
        "test_table_rows_match[xcom]",
    ], result.stdout.str()[-3000:]
    output = result.stdout.str() + result.stderr.str()
    assert "1 missing on the target" in output and "state: 'success' -> 'failed'" in output
    assert "val: '<redacted " in output and "password: '<redacted " in output
    for secret in (*SECRETS.values(), planted_password, "staging", "analytics"):
        assert secret not in output, f"{secret!r} appears in the suite's output"
    import_metadata(export_dir, target)  # repairs every planted defect: import is an upsert


def test_pickled_xcom_is_reported_not_migratable(
    source: EphemeralEnvironment, target: EphemeralEnvironment, tmp_path: Path
) -> None:
    """2.x with enable_xcom_pickling stores pickles; 3.x cannot hold them, so the import names each one."""
    pickled = sa.text(
        "INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp) "
        "SELECT id, 'extract', -1, 'pickled', dag_id, run_id, :value, now() FROM dag_run "
        "WHERE dag_id = 'demo_etl' AND run_id = 'backfill__2024-03-01T00:00:00+00:00'"
    )
    with writer(source).begin() as connection:
        connection.execute(pickled, {"value": pickle.dumps({"rows": 42})})
    try:
        export_metadata(source, tmp_path / "with-pickle", include_secrets=True)
    finally:
        with writer(source).begin() as connection:
            connection.execute(sa.text("DELETE FROM xcom WHERE key = 'pickled'"))

    result = import_metadata(tmp_path / "with-pickle", target)

    xcom = result.tables["xcom"]
    assert xcom.not_migratable == 1
    assert xcom.not_migratable_examples == [
        "dag_id='demo_etl', run_id='backfill__2024-03-01T00:00:00+00:00', task_id='extract', map_index=-1, "
        "key='pickled': value holds a pickled or unreadable value (not migratable)"
    ]
    assert xcom.rows_written == xcom.rows_read - 1


def test_reports_list_missing_and_truncated_logs_and_hold_no_secret(
    source: EphemeralEnvironment, target: EphemeralEnvironment, export_dir: Path, tmp_path: Path, cache_dir: Path
) -> None:
    import_metadata(export_dir, target)
    copy_task_logs(source, target)
    logs = sorted(log.name for log in target.task_logs() if log.dag_id == "demo_etl")
    assert target.base_log_folder is not None
    (target.base_log_folder / logs[0]).unlink()  # a log that never arrived
    truncated = target.base_log_folder / logs[1]
    truncated.write_text("".join(truncated.read_text().splitlines(keepends=True)[:2]))  # a copy cut short
    touched = target.base_log_folder / logs[2]
    os.utime(touched, (touched.stat().st_mtime + 3600,) * 2)  # a copy that did not keep the file's time
    planted_password = "pw-planted-for-the-report"
    with writer(target).begin() as connection:
        connection.execute(sa.text("UPDATE connection SET password = :pw WHERE conn_id = 'warehouse_db'"),
                           {"pw": target.fernet_keys().encrypt(planted_password)[0]})  # fmt: skip
    config = tmp_path / "mwaa-verify.toml"
    config.write_text(local_config_toml(source) + "\n" + local_config_toml(target))
    reports = tmp_path / "reports"

    outcome = run_verification("source", "target", reports, config, cache_dir, ("metadata_parity", "log_copy"))

    assert outcome.exit_code == 1
    summary = outcome.summary_md.read_text()
    assert "**NOT READY FOR CUTOVER" in summary
    row = next(
        line for line in summary.splitlines() if line.startswith("| test_task_logs_copied_completely | demo_etl")
    )
    assert "demo_etl: 6 source log(s): 1 log(s) missing on the target, 1 truncated, 0 log differs, 1 shifted" in row
    assert "| test_table_rows_match | connection | failed | Value drift: connection: " in summary
    assert outcome.summary_html.read_text().count("<tr>") > 10
    assert (outcome.allure_results / "categories.json").is_file()
    assert "target.airflow=3.3.1" in (outcome.allure_results / "environment.properties").read_text()
    assert any(p.name.endswith("-attachment.csv") for p in outcome.allure_results.iterdir())
    for path in (p for p in reports.rglob("*") if p.is_file()):
        content = path.read_bytes()
        for secret in (*SECRETS.values(), planted_password):
            assert secret.encode() not in content, f"{secret!r} found in {path}"
    import_metadata(export_dir, target)
    copy_task_logs(source, target)


def _with_many_log_rows(export_dir: Path, destination: Path, rows: int) -> Path:
    """The export plus `rows` synthetic audit-log rows, with a manifest that vouches for them."""
    shutil.copytree(export_dir, destination)
    log = destination / "log.jsonl"
    template = json.loads(log.read_text().splitlines()[0])
    with log.open("a") as handle:
        for number in range(rows):
            handle.write(json.dumps({**template, "event": f"synthetic-{number}"}) + "\n")
    data = json.loads((destination / "manifest.json").read_text())
    from mwaa_verify.migrate.manifest import file_digest

    digest, count = file_digest(log)
    data["tables"]["log"].update(sha256=digest, rows=count)
    (destination / "manifest.json").write_text(json.dumps(data))
    return destination
