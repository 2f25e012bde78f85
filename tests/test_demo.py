"""`mwaa-verify demo` as a newcomer runs it: two real environments, a real 2.10 history, both DAG reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import postgres_servers_under

pytestmark = pytest.mark.slow


def test_demo_builds_a_migration_and_prints_both_dag_reports(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"

    completed = subprocess.run(
        [sys.executable, "-m", "mwaa_verify.cli", "demo", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=1800,
    )

    assert completed.returncode == 0, completed.stderr[-4000:]
    out = completed.stdout
    assert "demo-source: Airflow 2.10.5, Python 3.11" in out and "8 files, 8 DAGs, 0 import errors" in out
    assert "demo-target: Airflow 3.3.1" in out and "8 files, 4 DAGs, 4 import errors" in out
    assert "FAILS: ModuleNotFoundError: No module named 'airflow.operators.bash_operator'" in out
    assert "FAILS: RuntimeError: Direct database access via the ORM is not allowed in Airflow 3.0" in out
    # the source has the runs it was given: demo_failing is the only run meant to fail
    assert "Runs that ended failed on the source (expected for demo_failing): demo_failing\n" in out
    task_instances = next(line for line in out.splitlines() if line.startswith("task_instance "))
    assert task_instances.split()[1:] == ["13", "0"]
    assert (workdir / "source" / "logs" / "dag_id=demo_etl").is_dir()
    assert not postgres_servers_under(str(workdir)) and not postgres_servers_under("/pg-")
    assert "Traceback" not in completed.stderr
