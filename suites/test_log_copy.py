"""Task logs as a user opens them: for every source log in the window (all, or with --logs-failed-only those of
failed task instances), the target's own Airflow log reader, run in the target's environment with its metadata,
shows the same lines for that task instance and try. One test per DAG; missing, truncated, differing, shifted in
time and unreadable logs fail it, each listed; logs CloudWatch could not take at their original time (older than
14 days or the group's retention) are warnings, with the archive that holds them (--logs-archive)."""

from __future__ import annotations

import warnings
from datetime import datetime
from typing import Any

import allure
import pytest

from mwaa_verify.airflow.log_paths import TaskLogKey, log_key
from mwaa_verify.environments.base import Environment, TaskLog
from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.migrate.logs import failed_task_instances, ti_key
from mwaa_verify.parity.logs import SourceLog, TargetSide, compare_logs
from mwaa_verify.report.allure_results import attach_table


class LogNote(UserWarning):
    """A log the target cannot hold at its time, or a check made another way than through the target's reader."""


@pytest.fixture(scope="session")
def failed_only(
    pytestconfig: pytest.Config, source_env: Environment, since: datetime | None
) -> set[tuple[str, str, str, int]] | None:
    if not pytestconfig.getoption("logs_failed_only"):
        return None
    return failed_task_instances(source_env, since)


@pytest.fixture(scope="session")
def wanted_source_logs(
    source_task_logs: dict[str, dict[str, TaskLog]], failed_only: set[tuple[str, str, str, int]] | None
) -> dict[str, list[TaskLog]]:
    return {
        dag_id: [log for log in logs.values() if failed_only is None or ti_key(log) in failed_only]
        for dag_id, logs in source_task_logs.items()
    }


@pytest.fixture(scope="session")
def target_log_views(
    target_env: Environment, wanted_source_logs: dict[str, list[TaskLog]]
) -> dict[tuple, dict[str, Any]] | None:
    """The target's reader on every wanted source log, in one run of its interpreter."""
    logs = [log for found in wanted_source_logs.values() for log in found]
    keys = [TaskLogKey(log.dag_id, log.run_id, log.task_id, log.map_index, log.try_number) for log in logs]
    try:
        answers = target_env.task_log_views(keys)
    except MwaaVerifyError as exc:
        pytest.fail(f"the target's Airflow could not read its task logs: {exc}", pytrace=False)
    if answers is None:
        return None
    return {log_key(log): answer for log, answer in zip(logs, answers, strict=True)}


@pytest.fixture(scope="session")
def log_archive(pytestconfig: pytest.Config, target_env: Environment):
    location = pytestconfig.getoption("logs_archive")
    if not location:
        return lambda log: None
    from mwaa_verify.migrate.logs import LogArchive

    return LogArchive(location, target_env).find


def test_task_logs_copied_completely(
    source_log_dag_id: str,
    source_env: Environment,
    target_env: Environment,
    wanted_source_logs: dict[str, list[TaskLog]],
    target_task_logs: dict[str, dict[str, TaskLog]],
    target_log_views: dict[tuple, dict[str, Any]] | None,
    log_archive,
) -> None:
    wanted = wanted_source_logs[source_log_dag_id]
    if not wanted:
        pytest.skip(f"not applicable: no failed task instance of {source_log_dag_id} in the window")
    # a source that kept digests only (a snapshot without its logs) is compared by digest and line count
    read = source_env.read_task_log if source_env.holds_task_log_content() else lambda log: None
    source = {log_key(log): SourceLog(log, read(log)) for log in wanted}
    stored = {log_key(log): log for log in target_task_logs.get(source_log_dag_id, {}).values()}
    target = TargetSide(
        stored=stored,
        read_stored=target_env.read_task_log,
        views=target_log_views,
        acceptance_window=target_env.acceptance_window(),
        archived=log_archive,
    )

    outcome = compare_logs(source, target, log_key, [log.name for key, log in stored.items() if key not in source])

    notes = outcome.warnings + [f"{name}: not copyable: {why}" for name, why in outcome.not_copyable]
    for note in notes:
        allure.dynamic.label("mwaa_warning", f"{source_log_dag_id}: {note}")
        warnings.warn(f"{source_log_dag_id}: {note}", LogNote, stacklevel=1)
    if outcome.rows():
        attach_table(f"task logs of {source_log_dag_id}", ("log", "problem"), outcome.rows())
    assert outcome.complete, outcome.explain(source_log_dag_id)
