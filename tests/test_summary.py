"""The sign-off summary read from real Allure results of real pytest sessions (allure-pytest writing them, our
plugin labelling them): warnings, what was not checked, row counts, and drift between two sessions."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from mwaa_verify.report import history
from mwaa_verify.report.summary import read_results, schema, write_summary

# suites as the bundled ones are named, so the plugin labels them by feature
IAM_NOT_APPLICABLE = """
import pytest

def test_execution_role_allows():
    pytest.skip("not applicable: 'rehearsal' has no execution role (set policy_file for a local one)")
"""
DAG_IMPORT = """
import allure

def test_dag_file_imports_on_the_target():
    allure.dynamic.label("mwaa_warning", "etl.py: AIR311 airflow.datasets.Dataset is deprecated; use airflow.sdk.Asset")
    allure.dynamic.label("mwaa_warning", "etl.py: AIR312 BashOperator moved to the standard provider")
"""
PARITY = """
import pytest
from mwaa_verify.report.allure_results import label_row_counts

@pytest.mark.parametrize("table", ["log", "dag_run"])
def test_table_rows_match(table):
    counts = {{"log": ({log}, "append-only table: the target wrote 1 log row(s) of its own"), "dag_run": (9, "")}}
    rows, note = counts[table]
    label_row_counts(rows, rows + (1 if table == "log" else 0), rows, note)
    assert table != "dag_run" or {dag_run_ok}, "dag_run: source 9 rows, target 8 rows: 8 match, 1 missing on the target"
"""


def session(pytester: pytest.Pytester, results: Path, log: int = 62, dag_run_ok: bool = True) -> None:
    pytester.makepyfile(
        test_iam_policy=IAM_NOT_APPLICABLE,
        test_dag_import=DAG_IMPORT,
        test_metadata_parity=PARITY.format(log=log, dag_run_ok=dag_run_ok),
    )
    pytester.runpytest_subprocess(f"--alluredir={results}", "-p", "no:cacheprovider")


def test_warnings_unchecked_suites_and_row_counts_are_in_the_summary(pytester: pytest.Pytester) -> None:
    results = pytester.path / "allure-results"
    session(pytester, results)

    summary = read_results(results)
    markdown, page, data = write_summary(summary, pytester.path / "out")

    assert summary.signed_off
    assert summary.verdict() == (
        "SIGNED OFF EXCEPT IAM PERMISSIONS (NOT CHECKED AT ALL): every check that ran passed (3 passed, 1 not checked; "
        "suites not run: Task logs, Environment configuration)"
    )
    text = markdown.read_text()
    assert "## Warnings (2)" in text
    assert "- DAG import / test_dag_file_imports_on_the_target: etl.py: AIR311 airflow.datasets.Dataset" in text
    assert "- **IAM permissions: no check ran to a verdict**" in text
    assert "- **Task logs: not run** (not selected with --suite)" in text
    assert "- IAM permissions / test_execution_role_allows: not applicable: 'rehearsal' has no execution role" in text
    assert "| log | 62 | 63 | 62 | passed | append-only table: the target wrote 1 log row(s) of its own |" in text
    assert "AIR312 BashOperator moved to the standard provider" in page.read_text()
    jsonschema.validate(json.loads(data.read_text()), schema())


def test_drift_names_moved_row_counts_and_new_failures(pytester: pytest.Pytester, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    first_results, second_results = pytester.path / "first", pytester.path / "second"
    session(pytester, first_results)
    first = read_results(first_results)
    history.append(reports, first)
    session(pytester, second_results, log=70, dag_run_ok=False)
    second = read_results(second_results)

    drift = history.drift(history.previous_record(reports, second), second)

    assert drift.previous_run_id == first.run.run_id
    assert drift.new_failures == ("Metadata parity / test_table_rows_match [dag_run]",)
    assert drift.fixed == ()
    assert [(moved.table, moved.before.source, moved.now.source) for moved in drift.rows_moved] == [("log", 62, 70)]
    assert drift.headline() == (f"since run {first.run.run_id}: 1 new failure(s), 1 table(s) whose row counts moved")
    assert second.verdict().startswith("NOT READY FOR CUTOVER: 1 check(s) failed")
    assert second.failures[0].category == "Missing rows"


CRASHING_PARITY = """
import os
import pytest

@pytest.mark.parametrize("table", ["variable", "slot_pool", "connection", "dag_run"])
def test_table_rows_match(table):
    if table == "connection":
        os._exit(1)  # the worker dies mid-check: no result is ever written for it
"""


def test_a_check_that_ran_on_no_worker_is_not_checked_and_blocks_the_sign_off(pytester: pytest.Pytester) -> None:
    results = pytester.path / "allure-results"
    pytester.makepyfile(test_metadata_parity=CRASHING_PARITY)

    pytester.runpytest_subprocess(f"--alluredir={results}", "-p", "no:cacheprovider", "-n", "2")

    summary = read_results(results)
    assert [(r.subject, r.status) for r in summary.results if r.status != "passed"] == [("connection", "unknown")]
    assert summary.lost[0].reason.startswith("ran on no worker: not checked")
    assert not summary.signed_off
    assert summary.verdict() == (
        "NOT SIGNED OFF: 1 check(s) ran on no worker and were not checked (3 passed, 1 not checked)"
    )
    markdown, _page, data = write_summary(summary, pytester.path / "out")
    assert "- Metadata parity / test_table_rows_match [connection]: ran on no worker" in markdown.read_text()
    jsonschema.validate(json.loads(data.read_text()), schema())
