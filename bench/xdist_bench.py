"""Benchmark: the suites in one process (`-n 0`) against xdist workers (`-n 2`) on the same two environments.

    python bench/xdist_bench.py [--runs 50000] [--workers 2] [--suite metadata_parity --suite dag_import]

Self-contained: provisions an Airflow 2.10 (cached virtualenv, throwaway PostgreSQL) with the demo DAGs and two
runs of demo_etl, clones those runs `--runs` times (2 x runs dag_run rows, 6 x runs task_instance rows), copies
the database into a second one on the same server with a few planted defects (a task instance missing, a run's
state changed), and reaches both as `local` environments. Then it runs the bundled suites once with `-n 0` and
once with `-n N`, each with its own --alluredir, and prints the wall seconds of both, the ratio, the machine's
load average, and whether both summaries hold the same rows (verdicts, reasons, row counts). Everything it
started is stopped when it ends.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION
from mwaa_verify.config import EphemeralConfig, default_cache_dir
from mwaa_verify.demo import DEMO_DAGS
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import local_config_toml
from mwaa_verify.report.summary import Summary, read_results
from mwaa_verify.verification import SUITE_NAMES, suites_dir

# clones of every run (and its task instances) under a new run id and a logical date `n` microseconds later
CLONE = {
    "dag_run": "run_id || '__clone_' || n, execution_date + n * interval '1 microsecond'",
    "task_instance": "run_id || '__clone_' || n",
}
CLONED_COLUMNS = {"dag_run": ("run_id", "execution_date"), "task_instance": ("run_id",)}
PLANTED = [
    "DELETE FROM task_instance WHERE ctid = (SELECT ctid FROM task_instance ORDER BY run_id DESC LIMIT 1)",
    "UPDATE dag_run SET state = 'failed' WHERE id = (SELECT max(id) FROM dag_run)",
]


def fill(url: str, runs: int) -> dict[str, int]:
    """Every existing dag_run and task_instance cloned `runs` times; the row counts after."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        for table, cloned in CLONE.items():
            columns = [
                column["name"]
                for column in sa.inspect(connection).get_columns(table)
                if not (table == "dag_run" and column["name"] == "id")  # serial: the database numbers clones
            ]
            kept = ", ".join(column for column in columns if column not in CLONED_COLUMNS[table])
            connection.execute(
                sa.text(
                    f"INSERT INTO {table} ({', '.join(CLONED_COLUMNS[table])}, {kept}) "
                    f"SELECT {cloned}, {kept} FROM {table} CROSS JOIN generate_series(1, :runs) AS n"
                ),
                {"runs": runs},
            )
        counts = {table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() for table in CLONE}
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    return counts


def defective_copy(url: str) -> str:
    """The database copied into `migrated` on the same server, with the planted defects; the copy's URL."""
    source = make_url(url)
    admin = sa.create_engine(source.set(database="postgres"), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE migrated TEMPLATE "{source.database}"'))
    copy = source.set(database="migrated")
    with sa.create_engine(copy, poolclass=sa.pool.NullPool).begin() as connection:
        connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        for statement in PLANTED:
            connection.execute(sa.text(statement))
    return copy.render_as_string(hide_password=False)


def session(config: Path, suites: list[str], workers: int, results: Path) -> float:
    command = [
        sys.executable, "-m", "pytest", *(str(suites_dir() / f"test_{name}.py") for name in suites),
        "--source", "af2", "--target", "migrated", "--mwaa-config", str(config),
        f"--alluredir={results}", "-p", "no:cacheprovider", "-q", "-n", str(workers),
    ]  # fmt: skip
    started = time.monotonic()
    subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=7200)
    return time.monotonic() - started


def rows(summary: Summary) -> list[tuple]:
    return sorted((r.key, r.status, r.reason, r.rows) for r in summary.results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50_000, help="clones of each of the demo's runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--suite", action="append", choices=SUITE_NAMES)
    args = parser.parse_args()
    suites = args.suite or ["metadata_parity", "dag_import"]
    config = EphemeralConfig(name="af2", airflow_version=DEMO_SOURCE_VERSION, dags_folder=DEMO_DAGS)
    with (
        tempfile.TemporaryDirectory(prefix="mwaa-verify-bench-") as scratch,
        EphemeralEnvironment(config, default_cache_dir()) as source,
    ):
        if not source.run_dag("demo_etl", date(2024, 3, 1), date(2024, 3, 2)):
            raise SystemExit("demo_etl did not run on the bench's Airflow: see its runs/demo_etl.log")
        started = time.monotonic()
        counts = fill(source.sql_alchemy_conn, args.runs)
        target = defective_copy(source.sql_alchemy_conn)
        print(f"filled {counts} and copied it with planted defects in {time.monotonic() - started:.0f} s")
        migrated = local_config_toml(source).replace("[environments.af2]", "[environments.migrated]")
        migrated = migrated.replace(source.sql_alchemy_conn, target)
        toml = Path(scratch) / "mwaa-verify.toml"
        toml.write_text(local_config_toml(source) + "\n" + migrated, encoding="utf-8")
        serial = session(toml, suites, 0, Path(scratch) / "serial")
        parallel = session(toml, suites, args.workers, Path(scratch) / "parallel")
        one, many = read_results(Path(scratch) / "serial"), read_results(Path(scratch) / "parallel")
    print(f"suites: {', '.join(suites)}; load average {' '.join(f'{load:.1f}' for load in os.getloadavg())}")
    print(f"-n 0: {serial:7.1f} s  ({len(one.results)} checks: {one.verdict()})")
    print(f"-n {args.workers}: {parallel:7.1f} s  ({len(many.results)} checks: {many.verdict()})")
    same = "yes" if rows(one) == rows(many) else "NO"
    print(f"ratio -n {args.workers} / -n 0: {parallel / serial:.2f}x; same summary rows: {same}")
    for failure in one.failures:
        print(f"  first line ({failure.subject}): {failure.reason}")


if __name__ == "__main__":
    main()
