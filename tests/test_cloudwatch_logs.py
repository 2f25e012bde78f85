"""Task logs to and from CloudWatch Logs (moto), as MWAA stores them: one stream per attempt, an event per line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from mwaa_verify.config import LocalConfig
from mwaa_verify.environments.cloudwatch import CloudWatchTaskLogs, task_log_group
from mwaa_verify.environments.local import LocalEnvironment
from mwaa_verify.migrate.logs import copy_task_logs

LOGS = {
    "dag_id=etl/run_id=scheduled__2024-03-01T00:00:00+00:00/task_id=load/attempt=1.log": b"start\n\nloaded 42 rows\n",
    "dag_id=etl/run_id=scheduled__2024-03-01T00:00:00+00:00/task_id=load/attempt=2.log": b"retry\n" * 30_000,
    "dag_id=etl/run_id=manual__1/task_id=split/map_index=3/attempt=1.log": "naïve ✓ unicode\n".encode(),
}


@pytest.fixture
def logs_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("logs")


def folder_environment(root: Path, name: str) -> LocalEnvironment:
    (root / "dags").mkdir(parents=True, exist_ok=True)
    config = LocalConfig(name=name, python=Path("/usr/bin/python3"), sql_alchemy_conn="sqlite://",
                         dags_folder=root / "dags", base_log_folder=root / "logs")  # fmt: skip
    return LocalEnvironment(config)


def test_file_logs_round_trip_through_cloudwatch(logs_client: object, tmp_path: Path) -> None:
    source = folder_environment(tmp_path / "old", "old")
    for name, content in LOGS.items():
        source.write_task_log(name, content)
    group = CloudWatchTaskLogs(logs_client, task_log_group("prod-airflow-3"))
    back = folder_environment(tmp_path / "back", "back")

    to_cloud = copy_task_logs(source, group)
    from_cloud = copy_task_logs(group, back)

    def digests(store) -> dict[str, tuple[int, str]]:
        return {log.name: (log.lines, log.sha256) for log in store.task_logs()}

    assert to_cloud.copied == from_cloud.copied == 3
    assert digests(group) == digests(source) == digests(back)
    retried = next(log for log in group.task_logs() if log.try_number == 2)
    assert retried.lines == 30_000  # more than one PutLogEvents call
    assert (tmp_path / "back" / "logs" / next(iter(LOGS))).read_text() == "start\n \nloaded 42 rows\n"


def test_copy_into_cloudwatch_is_idempotent_and_a_changed_log_is_replaced(logs_client: object, tmp_path: Path) -> None:
    source = folder_environment(tmp_path / "old", "old")
    for name, content in LOGS.items():
        source.write_task_log(name, content)
    group = CloudWatchTaskLogs(logs_client, "airflow-prod-Task")
    copy_task_logs(source, group)
    source.write_task_log(next(iter(LOGS)), b"start\nloaded 43 rows\n")

    again = copy_task_logs(source, group)

    assert (again.copied, again.unchanged) == (1, 2)
    first = next(log for log in group.task_logs() if log.name == next(iter(LOGS)))
    assert group.read_task_log(first) == b"start\nloaded 43 rows\n"


def test_missing_group_has_no_logs(logs_client: object) -> None:
    assert list(CloudWatchTaskLogs(logs_client, "airflow-absent-Task").task_logs()) == []
