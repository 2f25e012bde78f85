"""The suites under pytest-xdist: the same verdicts and summary rows as one process, a planted defect caught in
its shard, environments provisioned once for all workers, nothing left running."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from conftest import postgres_servers_under
from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import local_config_toml
from mwaa_verify.report.allure_results import ROWS_SOURCE, SHARD_LABEL
from mwaa_verify.report.summary import Summary, read_results

pytestmark = pytest.mark.slow

SUITES = Path(__file__).resolve().parent.parent / "suites"
PARITY = SUITES / "test_metadata_parity.py"
DAG_IMPORT = SUITES / "test_dag_import.py"
# where each worker found --target: run by both workers (xdist's load scheduling hands each a share of 10)
WHERE_IS_TARGET = """
import os
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url


@pytest.mark.parametrize("attempt", range(10))
def test_record_the_target(target_env, attempt, worker_id):
    port = make_url(target_env.sql_alchemy_conn).port
    tmpdir = target_env.process_env()["TMPDIR"]  # where its Airflow processes write temporary files
    Path(os.environ["MWAA_TEST_RECORD"], f"{worker_id}-{attempt}").write_text(f"{worker_id} {port} {tmpdir}")
"""


@pytest.fixture(scope="module")
def defective_copy(airflow2: EphemeralEnvironment) -> Iterator[str]:
    """airflow2's metadata copied into a second database of its cluster, one task instance deleted: a
    migration faithful but for one row. Yields the copy's URL."""
    url = make_url(airflow2.sql_alchemy_conn)
    copy = url.set(database="migrated")
    admin = sa.create_engine(url.set(database="postgres"), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    for attempt in range(20):  # TEMPLATE needs the source database idle for a moment
        try:
            with admin.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE migrated TEMPLATE "{url.database}"'))
            break
        except sa.exc.OperationalError:
            if attempt == 19:
                raise
            time.sleep(1)
    with sa.create_engine(copy, poolclass=sa.pool.NullPool).begin() as connection:
        connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        deleted = connection.execute(
            sa.text(
                "DELETE FROM task_instance WHERE dag_id = 'demo_etl' AND task_id = 'load' "
                "AND run_id = 'backfill__2024-03-01T00:00:00+00:00'"
            )
        )
        assert deleted.rowcount == 1
    yield copy.render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text("DROP DATABASE migrated WITH (FORCE)"))


def rows_of(summary: Summary) -> list[tuple]:
    return sorted((r.suite, r.check, r.subject, r.status, r.reason, r.rows) for r in summary.results)


def shard_source_rows(results: Path, table: str) -> list[int]:
    """The source row counts each shard of `table`'s parity check labelled its own Allure result with."""
    counts = []
    for path in results.glob("*-result.json"):
        labels = {label["name"]: label.get("value") for label in json.loads(path.read_text())["labels"]}
        if labels.get("table") == table and labels.get(SHARD_LABEL):
            counts.append(int(labels[ROWS_SOURCE]))
    return counts


def run_suites(pytester: pytest.Pytester, results: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        str(PARITY), str(DAG_IMPORT), "--source", "af2", "--target", "migrated", f"--alluredir={results}",
        "-p", "no:cacheprovider", *args,
    )  # fmt: skip


def test_two_workers_give_the_verdicts_and_summary_rows_of_one_process_and_catch_the_planted_defect(
    airflow2: EphemeralEnvironment, defective_copy: str, pytester: pytest.Pytester, tmp_path: Path
) -> None:
    migrated = local_config_toml(airflow2).replace("[environments.af2]", "[environments.migrated]")
    migrated = migrated.replace(airflow2.sql_alchemy_conn, defective_copy)
    pytester.makefile(".toml", **{"mwaa-verify": local_config_toml(airflow2) + "\n" + migrated})

    run_suites(pytester, tmp_path / "serial", "-n", "0")
    parallel = run_suites(pytester, tmp_path / "parallel", "-n", "2")

    one, two = read_results(tmp_path / "serial"), read_results(tmp_path / "parallel")
    assert rows_of(two) == rows_of(one), parallel.stdout.str()[-3000:]
    assert two.verdict() == one.verdict() and not two.lost
    failed = [(r.check, r.subject) for r in two.failures]
    assert failed == [("test_table_rows_match", "task_instance")], two.verdict()
    assert two.failures[0].reason.startswith("task_instance: ") and "1 missing on the target" in two.failures[0].reason
    # the table was checked in two shards, one per worker, and the defect lies in exactly one of them
    shards = sorted(line.split("::")[1].split(" ")[0] for line in parallel.outlines if line.startswith("FAILED"))
    assert len(shards) == 1 and shards[0] in {f"test_table_rows_match[task_instance-{i}of2]" for i in (1, 2)}
    # each shard read only its share of the table's rows: the shares are proper parts that add up to the whole
    whole = next(r.rows for r in one.results if r.subject == "task_instance")
    shares = shard_source_rows(tmp_path / "parallel", "task_instance")
    assert len(shares) == 2 and all(0 < share < whole.source for share in shares) and sum(shares) == whole.source
    assert len(two.results) == len(one.results) == len(set(r.key for r in one.results))


def test_workers_share_the_one_environment_the_controller_provisioned_and_nothing_is_left(
    airflow2: EphemeralEnvironment,
    cache_dir: Path,
    pytester: pytest.Pytester,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ephemeral target is started once, by the controller: both workers reach the same server, and when
    the session ends it is stopped."""
    fresh = f'[environments.fresh]\nkind = "ephemeral"\nairflow_version = "{DEMO_SOURCE_VERSION}"\n'
    pytester.makefile(".toml", **{"mwaa-verify": local_config_toml(airflow2) + "\n" + fresh})
    pytester.makepyfile(test_where=WHERE_IS_TARGET)
    record = tmp_path / "record"
    record.mkdir()
    monkeypatch.setenv("MWAA_TEST_RECORD", str(record))
    monkeypatch.setenv("MWAA_VERIFY_CACHE_DIR", str(cache_dir))  # pytester moves HOME: keep the cached virtualenvs
    servers_before = set(postgres_servers_under(os.environ["TMPDIR"]))

    result = pytester.runpytest_subprocess(
        "test_where.py", str(PARITY), "--source", "af2", "--target", "fresh", "-n", "2", "-p", "no:cacheprovider",
        f"--alluredir={tmp_path / 'results'}",
    )  # fmt: skip

    found = {path.read_text() for path in record.iterdir()}
    assert {line.split()[0] for line in found} == {"gw0", "gw1"}, result.stdout.str()[-3000:]
    assert len({line.split()[1] for line in found}) == 1, found
    # its processes get the TMPDIR the controller gave the environment, whichever worker starts them; and the
    # controller removed it with the environment
    tmpdirs = {line.split()[2] for line in found}
    assert len(tmpdirs) == 1 and not tmpdirs & {os.environ["TMPDIR"], tempfile.gettempdir()}, found
    assert not Path(tmpdirs.pop()).exists()
    summary = read_results(tmp_path / "results")
    assert not summary.lost and summary.failures  # an empty target misses the source's runs: a real verdict
    assert set(postgres_servers_under(os.environ["TMPDIR"])) <= servers_before
