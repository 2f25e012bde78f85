"""What the terminal shows: DAG tables as wide as their content, not as the paths of a cache directory."""

from __future__ import annotations

from mwaa_verify.environments.base import DagReport, FileReport
from mwaa_verify.report.console import dag_report_text, dag_reports_side_by_side

CACHE_PATH = "/home/ci/.cache/mwaa-verify/workdirs/rehearsal-3f9a1c/airflow-home/dags/teams/finance/legacy_etl.py"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    f'  File "{CACHE_PATH}", line 3, in <module>\n'
    "    from airflow.operators.bash_operator import BashOperator\n"
    "ImportError: cannot import name 'days_ago' from 'airflow.utils.dates' "
    f"(/home/ci/.cache/mwaa-verify/venvs/airflow-3.3.1-py3.11-25ad62ad62/lib/python3.11/site-packages/airflow/utils/"
    f"dates.py), imported by {CACHE_PATH}\n"
)


def report(error: str | None) -> DagReport:
    files = (
        FileReport("teams/finance/legacy_etl.py", () if error else ("legacy_etl",), error, (), 0.4),
        FileReport("etl.py", ("etl",), None, (), 0.2),
    )
    return DagReport("3.3.1", "3.12", 30.0, files, {})


def test_dag_tables_show_paths_relative_to_the_dags_folder() -> None:
    text = dag_report_text("rehearsal", report(TRACEBACK))
    side_by_side = dag_reports_side_by_side({"source": report(None), "rehearsal": report(TRACEBACK)})

    for shown in (text, side_by_side):
        assert "/home/ci/.cache" not in shown
        assert max(len(line) for line in shown.splitlines()) <= 160, shown
    words = " ".join(text.split())  # the long status wraps onto continuation lines
    assert (
        "IMPORT ERROR: ImportError: cannot import name 'days_ago' from 'airflow.utils.dates' "
        "(site-packages/airflow/utils/dates.py), imported by teams/finance/legacy_etl.py" in words
    )
