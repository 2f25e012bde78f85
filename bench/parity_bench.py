"""Benchmark: metadata parity against the cost of getting the bytes out of PostgreSQL.

    python bench/parity_bench.py [--rows 1000000] [--repeat 1] [--naive-timeout 900] [--row-path-timeout 3600]
                                 [--skip METHOD]

Builds three task_instance tables of N rows in a throwaway PostgreSQL: `source`, `target` (a copy with planted
differences of every kind: changed field, NULL vs value, shifted timestamp, missing and extra rows) and `twin`
(an exact copy). Each method runs in its own process, so its peak RSS is its own, and is timed after its imports;
with --repeat N the methods run in N interleaved rounds and each reports its fastest (the machine may be busy).
It prints seconds, peak RSS and the ratio to the fastest reference of the same run. The references read both
sides at once (two threads), as the digest engine does. Goals (issue 17): parity of source/target within 2x of
COPY-ing both sides; source/twin within 1.5x of one aggregate hash per side; peak RSS flat (under 300 MB) at 1M
and 10M rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg2
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
# 25 changed states, 5 NULL-vs-value, 5 shifted timestamps, 25 rows missing on the target, 10 only on the target
PLANTED = [
    "UPDATE task_instance SET state = 'failed' WHERE ctid IN (SELECT ctid FROM task_instance LIMIT 25)",
    "UPDATE task_instance SET hostname = NULL WHERE ctid IN (SELECT ctid FROM task_instance OFFSET 1000 LIMIT 5)",
    "UPDATE task_instance SET end_date = end_date + interval '1 hour' "
    "WHERE ctid IN (SELECT ctid FROM task_instance OFFSET 2000 LIMIT 5)",
    "DELETE FROM task_instance WHERE ctid IN (SELECT ctid FROM task_instance ORDER BY dag_id DESC LIMIT 25)",
    "INSERT INTO task_instance SELECT dag_id, task_id, run_id || '_extra', map_index, start_date, end_date, duration,"
    " state, try_number, max_tries, hostname, pool, pool_slots, queue, priority_weight, operator, job_id, pid,"
    " executor_config FROM task_instance LIMIT 10",
]
KEY = 'dag_id COLLATE "C", task_id COLLATE "C", run_id COLLATE "C", map_index'

METHODS = {
    # name: (what it is, the pair of databases it reads)
    "aggregate": ("one aggregate hash per side in SQL (count + sum of row hashes)", ("source", "twin")),
    "copy": ("COPY (SELECT * ... ORDER BY key) TO STDOUT, both sides, discarded", ("source", "target")),
    "keys+hash": ("keys + md5(row text) per row, psycopg2 named cursor", ("source", "target")),
    "tuples": ("psycopg2 named cursor, plain tuples", ("source", "target")),
    "rows()": ("the project's rows() stream (SQLAlchemy mappings -> dicts), side by side", ("source", "target")),
    "digest-equal": ("parity engine (digests), two equal tables", ("source", "twin")),
    "digest": ("parity engine (digests), planted differences", ("source", "target")),
    "row-path": ("parity engine (row path: rows() + compare, as before)", ("source", "target")),
    "fetch-all+deepdiff": ("fetch-all + deepdiff", ("source", "target")),
}  # fmt: skip
REFERENCES = ("aggregate", "copy")


def build(cluster: PostgresCluster, rows: int) -> dict[str, str]:
    admin = sa.create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    base = cluster.url.rsplit("/", 1)[0]
    with admin.connect() as connection:
        connection.execute(sa.text("CREATE DATABASE source"))
    source = sa.create_engine(f"{base}/source")
    with source.begin() as connection:
        connection.execute(sa.text(TABLE))
        connection.execute(sa.text(FILL), {"rows": rows})
    source.dispose()
    with admin.connect() as connection:  # copies of the files: the twin is byte for byte the source
        connection.execute(sa.text("CREATE DATABASE target TEMPLATE source"))
        connection.execute(sa.text("CREATE DATABASE twin TEMPLATE source"))
    target = sa.create_engine(f"{base}/target")
    with target.begin() as connection:
        for statement in PLANTED:
            connection.execute(sa.text(statement))
    target.dispose()
    for name in ("source", "target", "twin"):
        with sa.create_engine(f"{base}/{name}", isolation_level="AUTOCOMMIT").connect() as connection:
            connection.execute(sa.text("VACUUM ANALYZE task_instance"))
    admin.dispose()
    return {name: f"{base}/{name}" for name in ("source", "target", "twin")}


def measure(method: str, urls: dict[str, str], timeout: float) -> dict:
    """Run one method in a fresh interpreter, so each peak RSS is its own."""
    command = [sys.executable, __file__, "--run", method]  # the URLs (with a password) go by stdin, not argv
    try:
        completed = subprocess.run(
            command, input=json.dumps(urls), capture_output=True, text=True, timeout=timeout, check=True
        )
    except subprocess.TimeoutExpired:
        return {"method": method, "seconds": None, "note": f"did not finish in {timeout:.0f} s"}
    except subprocess.CalledProcessError as exc:
        return {"method": method, "seconds": None, "note": f"failed: {exc.stderr.strip().splitlines()[-1]}"}
    return json.loads(completed.stdout)


def _both(read: Callable[[str], Any], urls: list[str]) -> list[Any]:
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(read, urls))


def _dsn(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


COLUMNS = ("dag_id", "task_id", "run_id", "map_index", "start_date", "end_date", "duration", "state", "try_number",
           "max_tries", "hostname", "pool", "pool_slots", "queue", "priority_weight", "operator", "job_id", "pid",
           "executor_config")  # fmt: skip
# The cheapest row hash we know in SQL (each column's text hashed with its own seed, combined by xor): the engine
# hashes rows this way too, so the ratio is the engine's own overhead, not a slower hash of ours.
ROW_HASH = " # ".join(f"coalesce(hashtextextended({c}::text, {i}), {i})" for i, c in enumerate(COLUMNS))


def _aggregate(url: str) -> tuple:
    with psycopg2.connect(_dsn(url)) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), sum({ROW_HASH}) FROM task_instance")
        return cursor.fetchone()


class _Discard:
    def write(self, data: Any) -> int:
        return len(data)


def _copy(url: str) -> int:
    with psycopg2.connect(_dsn(url)) as connection, connection.cursor() as cursor:
        cursor.copy_expert(f"COPY (SELECT * FROM task_instance ORDER BY {KEY}) TO STDOUT", _Discard())
        return cursor.rowcount


def _named(query: str) -> Callable[[str], int]:
    def read(url: str) -> int:
        with psycopg2.connect(_dsn(url)) as connection, connection.cursor("bench") as cursor:
            cursor.itersize = 5000
            cursor.execute(query)
            return sum(1 for _ in cursor)

    return read


def run_method(method: str, urls: dict[str, str]) -> dict:
    from deepdiff import DeepDiff

    from mwaa_verify.airflow import column_map
    from mwaa_verify.airflow.secrets import Redactor
    from mwaa_verify.environments.metadata_db import MetadataDatabase
    from mwaa_verify.parity.digests import compare_by_digest
    from mwaa_verify.parity.engine import Comparison, compare
    from mwaa_verify.parity.metadata import canonical_form, database_plan

    started = time.monotonic()  # after the imports: the work only
    pair = [urls[name] for name in METHODS[method][1]]
    key = column_map.SPECS["task_instance"].natural_key
    normalise = canonical_form("task_instance", None, Redactor())
    found: dict = {}
    outcome: Comparison | None = None
    if method == "aggregate":
        found["equal"] = len(set(_both(_aggregate, pair))) == 1
    elif method == "copy":
        found["rows"] = sum(_both(_copy, pair))
    elif method == "keys+hash":
        found["rows"] = sum(_both(_named(f"SELECT dag_id, task_id, run_id, map_index, md5(t::text) "
                                         f"FROM task_instance t ORDER BY {KEY}"), pair))  # fmt: skip
    elif method == "tuples":
        found["rows"] = sum(_both(_named(f"SELECT * FROM task_instance ORDER BY {KEY}"), pair))
    elif method == "rows()":
        found["rows"] = sum(sum(1 for _ in MetadataDatabase(url).rows("task_instance")) for url in pair)
    elif method in {"digest", "digest-equal"}:
        source, target = MetadataDatabase(pair[0]), MetadataDatabase(pair[1])
        plan = database_plan("task_instance", source, target, normalise, normalise)
        assert plan is not None, "task_instance of two PostgreSQL databases is compared by digest"
        outcome = compare_by_digest("task_instance", *plan)
    elif method == "row-path":
        source, target = MetadataDatabase(pair[0]), MetadataDatabase(pair[1])
        outcome = compare(source.rows("task_instance"), target.rows("task_instance"), key, normalise, normalise)
    elif method == "fetch-all+deepdiff":

        def everything(url: str) -> dict:
            with MetadataDatabase(url).connect() as connection:
                rows = connection.execute(sa.text("SELECT * FROM task_instance")).mappings().all()
            local = {"job_id", "pid", "executor_config"}
            return {tuple(row[c] for c in key): {c: v for c, v in row.items() if c not in local} for row in rows}

        diff = DeepDiff(everything(pair[0]), everything(pair[1]))
        found.update(missing=len(diff.get("dictionary_item_removed", [])),
                     changed=len({path.split("]")[0] for path in diff.get("values_changed", {})}),
                     extra=len(diff.get("dictionary_item_added", [])))  # fmt: skip
    if outcome is not None:
        found.update(matched=outcome.matched, missing=outcome.missing, changed=outcome.changed, extra=outcome.extra)
        found["first_changed"] = [list(map(str, row.key)) for row in outcome.changed_rows[:2]]
    found["seconds"] = time.monotonic() - started
    found["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    found["method"] = method
    return found


def best(tried: tuple[dict, ...]) -> dict:
    """A method's fastest round: on a machine other work keeps busy, the least disturbed measure of its cost."""
    finished = [result for result in tried if result["seconds"] is not None]
    return min(finished, key=lambda result: result["seconds"]) if finished else tried[0]


def report(results: list[dict]) -> None:
    timed = {result["method"]: result for result in results if result["seconds"] is not None}
    references = [timed[name] for name in REFERENCES if name in timed]
    fastest = min(references, key=lambda result: result["seconds"]) if references else None
    print(f"{'method':<20} {'seconds':>8} {'peak RSS MB':>12} {'x fastest':>10}  what / found")
    for result in results:
        what = METHODS[result["method"]][0]
        if result["seconds"] is None:
            print(f"{result['method']:<20} {'-':>8} {'-':>12} {'-':>10}  {what}: {result['note']}")
            continue
        ratio = f"{result['seconds'] / fastest['seconds']:.2f}" if fastest else "-"
        found = {k: v for k, v in result.items() if k not in {"method", "seconds", "peak_rss_mb"}}
        print(f"{result['method']:<20} {result['seconds']:>8.1f} {result['peak_rss_mb']:>12.0f} {ratio:>10}  {what}")
        print(f"{'':<54}{found}")
    goals = [("digest", "copy", 2.0), ("digest-equal", "aggregate", 1.5)]
    for method, reference, goal in goals:
        if method in timed and reference in timed:
            ratio = timed[method]["seconds"] / timed[reference]["seconds"]
            verdict = "met" if ratio <= goal else "NOT met"
            print(f"{method} / {reference}: {ratio:.2f} x (goal {goal} x: {verdict})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="task_instance rows per side")
    parser.add_argument("--naive-timeout", type=float, default=900, help="seconds before fetch-all+deepdiff is cut")
    parser.add_argument("--row-path-timeout", type=float, default=3600, help="seconds before rows()/row-path are cut")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every method; each reports its fastest")
    parser.add_argument("--skip", action="append", default=[], choices=list(METHODS), help="methods not to run")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_method(args.run, json.loads(sys.stdin.read()))))
        return 0
    timeouts = {"fetch-all+deepdiff": args.naive_timeout, "rows()": args.row_path_timeout}
    timeouts["row-path"] = args.row_path_timeout
    with PostgresCluster() as cluster:
        started = time.monotonic()
        urls = build(cluster, args.rows)
        print(f"built 3 x {args.rows:,} task_instance rows in PostgreSQL in {time.monotonic() - started:.1f} s")
        methods = [method for method in METHODS if method not in args.skip]
        rounds = [[measure(method, urls, timeouts.get(method, 3600)) for method in methods] for _ in range(args.repeat)]
        results = [best(tried) for tried in zip(*rounds, strict=True)]
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
