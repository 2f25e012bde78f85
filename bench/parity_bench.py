"""Benchmark: the parity engine against a bare stream of both tables and against fetch-all + deepdiff.

    python bench/parity_bench.py [--rows 1000000] [--naive-timeout 900]

Builds two task_instance tables of N rows each in a throwaway PostgreSQL (the source with a handful of
planted differences), then runs each method in its own process and prints wall time, peak RSS and the
ratios to the bare stream. The engine should cost a small constant factor over reading the rows, in
constant memory; fetch-all + deepdiff grows with the table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mwaa_verify.environments.postgres import PostgresCluster

TABLE = """
CREATE TABLE task_instance (
    dag_id VARCHAR(250) NOT NULL, task_id VARCHAR(250) NOT NULL, run_id VARCHAR(250) NOT NULL,
    map_index INTEGER NOT NULL DEFAULT -1, start_date TIMESTAMPTZ, end_date TIMESTAMPTZ, duration FLOAT,
    state VARCHAR(20), try_number INTEGER, max_tries INTEGER, hostname VARCHAR(1000), pool VARCHAR(256) NOT NULL,
    pool_slots INTEGER NOT NULL, queue VARCHAR(256), priority_weight INTEGER, operator VARCHAR(1000),
    job_id INTEGER, pid INTEGER, executor_config BYTEA,
    PRIMARY KEY (dag_id, task_id, run_id, map_index)
)"""
FILL = """
INSERT INTO task_instance
SELECT 'dag_' || (n % 200), 'task_' || (n % 17), 'scheduled__' || to_char(timestamptz '2024-01-01' + (n / 3400)
       * interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SS'), n % 3 - 1, timestamptz '2024-01-01' + n * interval '1 second',
       timestamptz '2024-01-01' + n * interval '1 second' + interval '42 seconds', 42.0, 'success', 1, 2,
       'worker-' || (n % 7), 'default_pool', 1, 'default', n % 10, 'PythonOperator', n, 1000 + n % 30000, '\\x80'
FROM generate_series(1, :rows) AS n
ON CONFLICT DO NOTHING"""
PLANTED = [
    "UPDATE task_instance SET state = 'failed' WHERE ctid IN (SELECT ctid FROM task_instance LIMIT 25)",
    "DELETE FROM task_instance WHERE ctid IN (SELECT ctid FROM task_instance ORDER BY dag_id DESC LIMIT 25)",
]


def build(cluster: PostgresCluster, rows: int) -> dict[str, str]:
    admin = sa.create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    urls = {}
    for side in ("source", "target"):
        with admin.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {side}"))
        url = cluster.url.rsplit("/", 1)[0] + f"/{side}"
        with sa.create_engine(url).begin() as connection:
            connection.execute(sa.text(TABLE))
            connection.execute(sa.text(FILL), {"rows": rows})
            if side == "target":
                for statement in PLANTED:
                    connection.execute(sa.text(statement))
            connection.execute(sa.text("ANALYZE task_instance"))
        urls[side] = url
    admin.dispose()
    return urls


def measure(method: str, urls: dict[str, str], timeout: float) -> dict:
    """Run one method in a fresh interpreter, so each peak RSS is its own."""
    command = [sys.executable, __file__, "--run", method, "--urls", json.dumps(urls)]
    started = time.monotonic()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"method": method, "seconds": None, "note": f"did not finish in {timeout:.0f} s"}
    except subprocess.CalledProcessError as exc:
        return {"method": method, "seconds": None, "note": f"failed: {exc.stderr.strip().splitlines()[-1]}"}
    result = json.loads(completed.stdout)
    result["seconds"] = time.monotonic() - started
    return result


def run_method(method: str, urls: dict[str, str]) -> dict:
    from mwaa_verify.airflow import column_map
    from mwaa_verify.environments.metadata_db import MetadataDatabase
    from mwaa_verify.parity.engine import compare

    source, target = MetadataDatabase(urls["source"]), MetadataDatabase(urls["target"])
    key = column_map.SPECS["task_instance"].natural_key
    found: dict = {}
    if method == "bare-stream":
        found["rows"] = sum(1 for _ in source.rows("task_instance")) + sum(1 for _ in target.rows("task_instance"))
    elif method == "parity-engine":

        def normalise(row: dict) -> dict:
            canonical = column_map.canonical_row("task_instance", row)
            return {c: v for c, v in canonical.items() if not column_map.is_local("task_instance", c)}

        outcome = compare(source.rows("task_instance"), target.rows("task_instance"), key, normalise, normalise)
        found.update(missing=outcome.missing, changed=outcome.changed, extra=outcome.extra)
    elif method == "fetch-all+deepdiff":
        from deepdiff import DeepDiff

        def everything(database: MetadataDatabase) -> dict:
            with database.connect() as connection:
                rows = connection.execute(sa.text("SELECT * FROM task_instance")).mappings().all()
            local = {"job_id", "pid", "executor_config"}
            return {tuple(row[c] for c in key): {c: v for c, v in row.items() if c not in local} for row in rows}

        diff = DeepDiff(everything(source), everything(target))
        found.update(missing=len(diff.get("dictionary_item_removed", [])),
                     changed=len({path.split("]")[0] for path in diff.get("values_changed", {})}))  # fmt: skip
    found["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    found["method"] = method
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="task_instance rows per side")
    parser.add_argument("--naive-timeout", type=float, default=900, help="seconds before fetch-all+deepdiff is cut")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_method(args.run, json.loads(args.urls))))
        return 0
    with PostgresCluster() as cluster:
        started = time.monotonic()
        urls = build(cluster, args.rows)
        print(f"built 2 x {args.rows:,} task_instance rows in PostgreSQL in {time.monotonic() - started:.1f} s")
        results = [
            measure("bare-stream", urls, 3600),
            measure("parity-engine", urls, 3600),
            measure("fetch-all+deepdiff", urls, args.naive_timeout),
        ]
    base = results[0]
    print(f"{'method':<20} {'seconds':>9} {'peak RSS MB':>12} {'time x':>7} {'RSS x':>6}  found")
    for result in results:
        if result["seconds"] is None:
            print(f"{result['method']:<20} {'-':>9} {'-':>12} {'-':>7} {'-':>6}  {result['note']}")
            continue
        found = {k: v for k, v in result.items() if k in {"rows", "missing", "changed", "extra"}}
        print(
            f"{result['method']:<20} {result['seconds']:>9.1f} {result['peak_rss_mb']:>12.0f} "
            f"{result['seconds'] / base['seconds']:>7.2f} {result['peak_rss_mb'] / base['peak_rss_mb']:>6.2f}  {found}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
