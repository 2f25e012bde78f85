"""`mwaa-verify demo` as a newcomer runs it: two real environments, a real 2.10 history, both DAG reports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import postgres_servers_under

pytestmark = pytest.mark.slow


def test_demo_builds_a_migration_and_prints_both_dag_reports(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"

    reports = tmp_path / "reports"
    completed = subprocess.run(
        [sys.executable, "-m", "mwaa_verify.cli", "demo", "--workdir", str(workdir), "--reports", str(reports)],
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
    # migrated: the target holds the source's history and task logs
    task_instances = next(line for line in out.splitlines() if line.startswith("task_instance "))
    assert task_instances.split()[1:] == ["13", "13"]
    assert next(line for line in out.splitlines() if line.startswith("task log files")).split()[-2:] == ["14", "14"]
    # verified: everything passes except what the legacy DAGs break, each with its reason
    failed = out.replace("\n      ", " ").splitlines()  # failure lines wrap at word boundaries
    failed = [line for line in failed if line.strip().startswith("FAILED")]
    assert len(failed) == 13 and all("legacy_" in line or "every_source_dag" in line for line in failed)
    assert any("legacy_days_ago.py does not import on Airflow 3.3.1: ImportError" in line for line in failed)
    assert "(72 passed, 13 failed" in out
    # reported: the sign-off summary always, the Allure HTML report where Node.js is
    assert "**NOT READY FOR CUTOVER: 13 check(s) failed" in (reports / "summary.md").read_text()
    assert (reports / "summary.html").is_file() and (reports / "junit.xml").is_file()
    if shutil.which("node") and shutil.which("npm"):
        shown = next(line for line in out.splitlines() if line.strip().startswith("Allure report: "))
        assert Path(shown.strip().removeprefix("Allure report: ")).is_file(), shown
    else:
        assert "Allure report: not generated" in out
    # the demo's secrets, generated on the spot, appear in the export it was asked to decrypt and nowhere else
    exported = [json.loads(line) for line in (workdir / "export" / "variable.jsonl").read_text().splitlines()]
    api_key = next(row["val"] for row in exported if row["key"] == "warehouse_api_key")
    password = json.loads((workdir / "export" / "connection.jsonl").read_text().splitlines()[0])["password"]
    for text in (out, completed.stderr):
        assert api_key not in text and password not in text
    for path in (p for p in reports.rglob("*") if p.is_file()):
        assert api_key.encode() not in path.read_bytes() and password.encode() not in path.read_bytes(), path
    assert not postgres_servers_under(str(workdir)) and not postgres_servers_under("/pg-")
    assert "Traceback" not in completed.stderr
