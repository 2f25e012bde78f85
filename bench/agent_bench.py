"""Benchmark: the MWAA agent DAG against a double MWAA environment (tests/mwaa_world.py: a real Airflow 2.10 with
scheduler, LocalExecutor and web server whose DAGs folder mirrors moto S3).

    python bench/agent_bench.py [--rows 100000] [--version 2.10.5]

Fills the environment's database directly with N task instances (N/100 DAG runs of 100 tasks), then measures:
- a round trip: upload -> parsed -> run -> collected -> removed, for an export whose window holds no row;
- `export` of the whole history through the agent (written to S3 inside the environment, manifest read back);
- the reference: the same export_metadata run here against the same database (no agent, no MWAA), the fastest
  way to the same files; the agent's figure is printed as a ratio to it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from aws_double import REGION, aws_for_tests  # noqa: E402
from mwaa_world import double_mwaa  # noqa: E402

from mwaa_verify.config import MwaaConfig, default_cache_dir  # noqa: E402
from mwaa_verify.environments.mwaa import MwaaEnvironment  # noqa: E402
from mwaa_verify.migrate.export import export_metadata  # noqa: E402

BUCKET = "agent-bench"
FILL = """
INSERT INTO dag_run (dag_id, run_id, execution_date, state, run_type, external_trigger, conf, start_date,
                     end_date, data_interval_start, data_interval_end, clear_number, updated_at)
SELECT 'bench_dag', 'scheduled__' || r, timestamptz '2024-01-01' + r * interval '1 hour', 'success', 'scheduled',
       false, NULL, timestamptz '2024-01-01' + r * interval '1 hour', timestamptz '2024-01-01' + r * interval '1 hour'
       + interval '5 minutes', timestamptz '2024-01-01' + r * interval '1 hour', timestamptz '2024-01-01'
       + (r + 1) * interval '1 hour', 0, now()
FROM generate_series(1, :runs) AS r;
INSERT INTO task_instance (task_id, dag_id, run_id, map_index, start_date, end_date, duration, state, try_number,
                           max_tries, hostname, unixname, pool, pool_slots, queue, priority_weight, operator,
                           custom_operator_name, executor_config, updated_at)
SELECT 'task_' || t, 'bench_dag', 'scheduled__' || r, -1, timestamptz '2024-01-01' + r * interval '1 hour',
       timestamptz '2024-01-01' + r * interval '1 hour' + interval '42 seconds', 42.0, 'success', 1, 2, 'worker',
       'airflow', 'default_pool', 1, 'default', 1, 'PythonOperator', '', '\\x80047d942e', now()
FROM generate_series(1, :runs) AS r, generate_series(1, 100) AS t;
"""
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{BUCKET}/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"},
    ],
}


def fill(url: str, rows: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement in FILL.strip().split(";\n"):
            connection.execute(sa.text(statement), {"runs": max(1, rows // 100)})
    engine.dispose()


def timed(what: str, action) -> float:
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    print(f"{what}: {seconds:.1f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--version", default="2.10.5", help="a 2.x version (the fill writes the 2.x schema)")
    args = parser.parse_args()
    with aws_for_tests(isolated=True) as aws:
        s3 = boto3.client("s3", endpoint_url=aws.url, region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        with double_mwaa(aws, "bench-mwaa", args.version, default_cache_dir()) as double:
            iam = boto3.client("iam", endpoint_url=aws.url, region_name=REGION)
            iam.put_role_policy(
                RoleName="bench-mwaa-execution-role", PolicyName="bench", PolicyDocument=json.dumps(POLICY)
            )
            fill(double.database_url, args.rows)
            config = MwaaConfig(
                "bench", "bench-mwaa", region=REGION, endpoint_url=aws.url, staging=f"s3://{BUCKET}/staging",
                agent_timeout=3600,
            )  # fmt: skip
            os.environ["AWS_ENDPOINT_URL"] = aws.url  # the caller's reads of the export location
            with MwaaEnvironment(config) as environment:
                empty = datetime.now(UTC)
                round_trip = timed(
                    "agent round trip (upload -> parsed -> run -> collected -> removed, empty window)",
                    lambda: environment.export_metadata(f"s3://{BUCKET}/round-trip", since=empty),
                )
                agent = timed(
                    f"export of {args.rows} task instances through the agent",
                    lambda: environment.export_metadata(f"s3://{BUCKET}/full"),
                )
            reference = timed(
                "reference: export_metadata of the same database from here (no agent)",
                lambda: export_metadata(double.airflow, f"s3://{BUCKET}/reference"),
            )
            print(
                f"ratios to the reference ({reference:.1f} s): round trip {round_trip / reference:.2f}x, "
                f"agent export {agent / reference:.2f}x"
            )


if __name__ == "__main__":
    main()
