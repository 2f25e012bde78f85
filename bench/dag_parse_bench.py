"""Benchmark: a folder of generated DAG files parsed through mwaa-verify's DAG import path (an environment's
`dag_report()`: the probe in the environment's interpreter, long-lived forked parse workers, one per core, fed one
file at a time) against a bare `DagBag(folder)` in the same virtualenv, on the same Airflow version.

    python bench/dag_parse_bench.py [--files 1000] [--versions 3.3.1 2.10.5]

The bare DagBag parses the folder in one process, one file after another, and does nothing else; the product
path also serialises every DAG (as the dag-processor does), extracts its shape, applies the ORM block, protects
each file with a timeout and checks after each file that it left nothing behind for the next one. Both run with a
throwaway AIRFLOW_HOME, examples off. Printed: wall and CPU seconds of each (CPU: user + system of the processes
each started, so a busy machine inflates it less than wall time), and the ratios product / bare (goal: 1.3x).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.config import default_cache_dir
from mwaa_verify.environments.local import HostAirflow
from mwaa_verify.environments.postgres import PostgresCluster
from mwaa_verify.environments.virtualenv import ensure_virtualenv

BARE_DAGBAG = """
import inspect, sys, time
from airflow.models import DagBag
accepted = inspect.signature(DagBag.__init__).parameters
kwargs = {key: False for key in ("include_examples", "load_op_links") if key in accepted}
started = time.monotonic()
bag = DagBag(dag_folder=sys.argv[1], **kwargs)
print(time.monotonic() - started, len(bag.dags), len(bag.import_errors))
"""
# a typical small ETL DAG: five tasks of two operators, a cron schedule, default args, tags
DAG_FILE = """
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator


def transform(**context):
    return {index}


with DAG(
    "generated_{index:04d}",
    schedule="{minute} * * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={{"retries": 2, "retry_delay": timedelta(minutes=5)}},
    tags=["generated", "team-{team}"],
):
    extract = BashOperator(task_id="extract", bash_command="echo extract {index}")
    clean = PythonOperator(task_id="clean", python_callable=transform)
    enrich = PythonOperator(task_id="enrich", python_callable=transform)
    load = BashOperator(task_id="load", bash_command="echo load {{{{ ds }}}}")
    notify = BashOperator(task_id="notify", bash_command="echo done")
    extract >> [clean, enrich] >> load >> notify
"""


def generate(folder: Path, files: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        text = DAG_FILE.format(index=index, minute=index % 60, team=index % 7)
        (folder / f"generated_{index:04d}.py").write_text(text, encoding="utf-8")


def product_path(python: Path, home: Path, folder: Path, database: str) -> tuple[float, int, int]:
    """Seconds, DAGs and import errors of an environment's dag_report(), as the suites get it."""
    environment = HostAirflow(
        name="bench", kind="local", python=python, sql_alchemy_conn=database,
        dags_folder=folder, base_log_folder=None, airflow_home=home, policy_file=None,
    )  # fmt: skip
    started = time.monotonic()
    report = environment.dag_report()
    seconds = time.monotonic() - started
    return seconds, len(report.dags), len(report.import_errors)


def bare_dagbag(python: Path, home: Path, folder: Path, database: str) -> tuple[float, float, int, int]:
    """Wall seconds (interpreter start included, as for the product path), DagBag seconds, DAGs, errors."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGS_FOLDER=str(folder))
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database
    started = time.monotonic()
    completed = subprocess.run(
        [str(python), "-c", BARE_DAGBAG, str(folder)], env=env, check=True, capture_output=True, text=True,
        timeout=3600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.monotonic() - started
    seconds, dags, errors = completed.stdout.split()[-3:]
    return wall, float(seconds), int(dags), int(errors)


def children_cpu() -> float:
    """User + system seconds of the processes this one started and waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--versions", nargs="+", default=["3.3.1", "2.10.5"])
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"{args.files} generated DAG files, {cores} cores, load average {os.getloadavg()[0]:.1f}")
    print(
        f"{'Airflow':>8}  {'product s':>9}  {'bare DagBag s (in-process)':>26}  {'product / bare':>14}"
        f"  {'CPU product s':>13}  {'CPU bare s':>10}  {'CPU ratio':>9}  DAGs"
    )
    # parsing reads no table, but Airflow 3 wants a server-backed database URL: an empty throwaway cluster
    with tempfile.TemporaryDirectory(prefix="mwaa-verify-bench-") as scratch, PostgresCluster() as cluster:
        folder = Path(scratch) / "dags"
        generate(folder, args.files)
        for version in args.versions:
            python = ensure_virtualenv(default_cache_dir(), AirflowVersion.parse(version))
            home = Path(scratch) / f"home-{version}"
            home.mkdir()
            started = children_cpu()
            bare_wall, bare_inner, bare_dags, bare_errors = bare_dagbag(python, home, folder, cluster.url)
            between = children_cpu()
            product, dags, errors = product_path(python, home, folder, cluster.url)
            bare_cpu, product_cpu = between - started, children_cpu() - between
            same = (dags, errors) == (bare_dags, bare_errors)
            assert same, f"product {dags} DAGs / {errors} errors, bare {bare_dags} / {bare_errors}"
            print(
                f"{version:>8}  {product:9.1f}  {bare_wall:9.1f} ({bare_inner:6.1f}){'':9}"
                f"  {product / bare_wall:13.2f}x  {product_cpu:13.1f}  {bare_cpu:10.1f}  {product_cpu / bare_cpu:8.2f}x"
                f"  {dags} ({errors} errors)",
                flush=True,
            )


if __name__ == "__main__":
    main()
