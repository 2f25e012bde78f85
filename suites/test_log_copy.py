"""Task logs: every source log in the window (all, or with --logs-failed-only those of failed task instances)
is on the target whole: same line count, same content. One test per DAG; missing, truncated and extra logs
are listed per DAG."""

from __future__ import annotations

from datetime import datetime

import pytest

from mwaa_verify.environments.base import Environment, TaskLog
from mwaa_verify.migrate.logs import failed_task_instances, ti_key
from mwaa_verify.parity.logs import compare_logs
from mwaa_verify.report.allure_results import attach_table


@pytest.fixture(scope="session")
def failed_only(
    pytestconfig: pytest.Config, source_env: Environment, since: datetime | None
) -> set[tuple[str, str, str, int]] | None:
    if not pytestconfig.getoption("logs_failed_only"):
        return None
    return failed_task_instances(source_env, since)


def test_task_logs_copied_completely(
    source_log_dag_id: str,
    source_task_logs: dict[str, dict[str, TaskLog]],
    target_task_logs: dict[str, dict[str, TaskLog]],
    failed_only: set[tuple[str, str, str, int]] | None,
) -> None:
    source = source_task_logs[source_log_dag_id]
    if failed_only is not None:
        source = {name: log for name, log in source.items() if ti_key(log) in failed_only}
        if not source:
            pytest.skip(f"not applicable: no failed task instance of {source_log_dag_id} in the window")

    outcome = compare_logs(source, target_task_logs.get(source_log_dag_id, {}))

    if not outcome.complete:
        attach_table(
            f"task logs of {source_log_dag_id}",
            ("log", "problem"),
            [(name, "missing") for name in outcome.missing]
            + [(name, f"truncated: {a} -> {b} lines") for name, a, b in outcome.truncated]
            + [(name, "content differs") for name in outcome.differing],
        )
    assert outcome.complete, outcome.explain(source_log_dag_id)
