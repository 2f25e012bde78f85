"""Task logs to and from CloudWatch Logs, as MWAA and the Amazon provider store them: one stream per attempt
(`:` as `_`), an event per line, each at the time it was logged. CloudWatch is moto behind our AWS double, which
adds the PutLogEvents rules moto leaves out (batch quotas, the group's retention) in CloudWatch's wire format."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from aws_double import REGION, AwsDouble

from mwaa_verify.airflow.log_paths import log_key, timed_events
from mwaa_verify.config import LocalConfig
from mwaa_verify.environments.base import LogEvent
from mwaa_verify.environments.cloudwatch import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    MAX_EVENT_BYTES,
    MAX_EVENTS,
    CloudWatchTaskLogs,
    batches,
    rejections,
    task_log_group,
)
from mwaa_verify.environments.local import LocalEnvironment
from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.migrate.logs import copy_task_logs

NOW = datetime.now(UTC).replace(microsecond=0)
RUN = "scheduled__2024-03-01T00:00:00+00:00"


def stamped(moment: datetime, *messages: str) -> bytes:
    """Lines as Airflow 2 writes them: each starts with the time it was logged."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return "".join(f"[{text}] {{taskinstance.py:1}} INFO - {message}\n" for message in messages).encode()


LOGS = {
    f"dag_id=etl/run_id={RUN}/task_id=load/attempt=1.log": stamped(NOW - timedelta(hours=1), "start")
    + b"\n"
    + stamped(NOW - timedelta(minutes=59), "loaded 42 rows"),
    f"dag_id=etl/run_id={RUN}/task_id=load/attempt=2.log": b"retry\n" * 30_000,
    "dag_id=etl/run_id=manual__1/task_id=split/map_index=3/attempt=1.log": "naïve ✓ unicode\n".encode(),
}


@pytest.fixture
def logs_client(aws: AwsDouble, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)  # every client the tool makes goes to the double
    return boto3.session.Session().client("logs", endpoint_url=aws.url, region_name=REGION)


@pytest.fixture
def group(logs_client: object, request: pytest.FixtureRequest) -> CloudWatchTaskLogs:
    return CloudWatchTaskLogs(logs_client, task_log_group(request.node.name[:80].replace("[", "-").strip("]")))


def folder_environment(root: Path, name: str) -> LocalEnvironment:
    (root / "dags").mkdir(parents=True, exist_ok=True)
    config = LocalConfig(name=name, python=Path("/usr/bin/python3"), sql_alchemy_conn="sqlite://",
                         dags_folder=root / "dags", base_log_folder=root / "logs")  # fmt: skip
    return LocalEnvironment(config)


def with_logs(root: Path, logs: dict[str, bytes], modified: datetime) -> LocalEnvironment:
    environment = folder_environment(root, root.name)
    for name, content in logs.items():
        environment.write_task_log(name, content)
        path = root / "logs" / name
        os.utime(path, (modified.timestamp(), modified.timestamp()))
    return environment


def test_file_logs_round_trip_through_cloudwatch_keeping_times(group: CloudWatchTaskLogs, tmp_path: Path) -> None:
    written = NOW - timedelta(minutes=58)
    source = with_logs(tmp_path / "old", LOGS, written)
    back = folder_environment(tmp_path / "back", "back")

    to_cloud = copy_task_logs(source, group)
    from_cloud = copy_task_logs(group, back)

    def digests(store) -> dict[tuple, tuple[int, str]]:
        return {log_key(log): (log.lines, log.sha256) for log in store.task_logs()}

    assert to_cloud.copied == from_cloud.copied == 3
    assert digests(group) == digests(source) == digests(back)
    streams = {log.name: log for log in group.task_logs()}
    first = streams[f"dag_id=etl/run_id={RUN.replace(':', '_')}/task_id=load/attempt=1.log"]
    # each line at the time Airflow wrote in it; the blank line between them with the line before it
    assert (first.first_timestamp, first.last_timestamp) == (
        int((NOW - timedelta(hours=1)).timestamp() * 1000),
        int((NOW - timedelta(minutes=59)).timestamp() * 1000),
    )
    unstamped = next(log for log in streams.values() if log.try_number == 2)
    assert unstamped.lines == 30_000  # more than one PutLogEvents call
    assert unstamped.first_timestamp == unstamped.last_timestamp == int(written.timestamp() * 1000)  # the mtime
    copied_back = tmp_path / "back" / "logs" / next(iter(LOGS))  # the run id's `:` restored from the stream name
    assert copied_back.read_bytes() == LOGS[next(iter(LOGS))].replace(b"\n\n", b"\n \n")
    assert copied_back.stat().st_mtime == (NOW - timedelta(minutes=59)).timestamp()  # its last line's time


def test_copy_into_cloudwatch_is_idempotent_and_a_changed_log_is_replaced(
    group: CloudWatchTaskLogs, tmp_path: Path
) -> None:
    source = with_logs(tmp_path / "old", LOGS, NOW - timedelta(minutes=30))
    copy_task_logs(source, group)
    source.write_task_log(next(iter(LOGS)), stamped(NOW - timedelta(minutes=5), "start", "loaded 43 rows"))

    again = copy_task_logs(source, group)

    assert (again.copied, again.unchanged) == (1, 2)
    first = next(log for log in group.task_logs() if log.try_number == 1 and log.dag_id == "etl" and "load" in log.name)
    assert group.read_task_log(first) == stamped(NOW - timedelta(minutes=5), "start", "loaded 43 rows")


def test_a_copy_stamped_with_other_times_is_copied_again(group: CloudWatchTaskLogs, tmp_path: Path) -> None:
    source = with_logs(tmp_path / "old", dict(list(LOGS.items())[:1]), NOW - timedelta(minutes=30))
    group.write_task_log(next(iter(LOGS)), LOGS[next(iter(LOGS))])  # the same lines, every event stamped now

    again = copy_task_logs(source, group)

    assert (again.copied, again.unchanged) == (1, 0)


def test_logs_older_than_14_days_are_reported_per_task_instance_and_archived(
    group: CloudWatchTaskLogs, aws: AwsDouble, tmp_path: Path
) -> None:
    old = NOW - timedelta(days=20)
    logs = {
        "dag_id=etl/run_id=scheduled__old/task_id=load/attempt=1.log": stamped(old, "start", "done"),
        "dag_id=etl/run_id=scheduled__new/task_id=load/attempt=1.log": stamped(NOW - timedelta(days=3), "ok"),
    }
    source = with_logs(tmp_path / "old", logs, old)
    s3 = boto3.session.Session().client("s3", endpoint_url=aws.url, region_name=REGION)
    s3.create_bucket(Bucket="log-archive", CreateBucketConfiguration={"LocationConstraint": REGION})

    skipped = copy_task_logs(source, group)
    archived = copy_task_logs(source, group, archive="s3://log-archive/too-old")

    assert (skipped.copied, archived.unchanged) == (1, 1)
    [reported] = skipped.not_copied
    assert reported.task_instance == "etl / scheduled__old / load try 1"
    assert reported.reason.startswith(f"2 of 2 line(s) were logged before {(NOW - timedelta(days=14)).date()}")
    assert reported.reason.endswith("(from " + old.isoformat(timespec="seconds") + "): CloudWatch accepts no "
                                    "event older than 14 days")  # fmt: skip
    assert reported.archived_to is None
    [kept] = archived.not_copied
    assert kept.archived_to == "s3://log-archive/too-old/dag_id=etl/run_id=scheduled__old/task_id=load/attempt=1.log"
    body = s3.get_object(Bucket="log-archive", Key=kept.archived_to.removeprefix("s3://log-archive/"))["Body"]
    assert body.read() == logs["dag_id=etl/run_id=scheduled__old/task_id=load/attempt=1.log"]
    assert [log.run_id for log in group.task_logs()] == ["scheduled__new"]


def test_the_groups_retention_bounds_what_can_be_copied(group: CloudWatchTaskLogs, logs_client, tmp_path: Path) -> None:
    logs_client.create_log_group(logGroupName=group.group)
    logs_client.put_retention_policy(logGroupName=group.group, retentionInDays=1)
    source = with_logs(tmp_path / "old", {next(iter(LOGS)): stamped(NOW - timedelta(days=3), "x")}, NOW)

    outcome = copy_task_logs(source, group)

    [reported] = outcome.not_copied
    assert reported.reason.endswith(f"the log group {group.group} keeps events 1 days")


def test_rejected_events_are_reported_never_dropped(group: CloudWatchTaskLogs, logs_client, tmp_path: Path) -> None:
    """A clock running a day behind lets events 14.5 days old through the check: CloudWatch (moto) rejects
    them with tooOldLogEventEndIndex and the double, for a 7-day group, with expiredLogEventEndIndex."""
    aged = {
        "dag_id=etl/run_id=r1/task_id=load/attempt=1.log": stamped(NOW - timedelta(days=14, hours=12), "a", "b")
        + stamped(NOW - timedelta(days=1), "c"),
    }
    source = with_logs(tmp_path / "old", aged, NOW)

    outcome = copy_task_logs(source, group, now=NOW - timedelta(days=1))

    [reported] = outcome.not_copied
    assert reported.reason.startswith("CloudWatch rejected 2 event(s) as too old (")
    logs_client.create_log_group(logGroupName="airflow-retained-Task")
    logs_client.put_retention_policy(logGroupName="airflow-retained-Task", retentionInDays=7)
    retained = CloudWatchTaskLogs(logs_client, "airflow-retained-Task")
    expired = retained.write_task_log_events(
        "s",
        [
            LogEvent(int((NOW - timedelta(days=8)).timestamp() * 1000), "old"),
            LogEvent(int(NOW.timestamp()) * 1000, "new"),
        ],
    )
    assert [(item.reason, item.events) for item in expired.rejected] == [("expired", 1)]
    assert list(retained.task_logs()) == []  # a log CloudWatch took only in part is not left half-copied
    assert [log.run_id for log in group.task_logs()] == []


def test_batches_stay_within_every_put_log_events_quota(group: CloudWatchTaskLogs, aws: AwsDouble) -> None:
    start = int((NOW - timedelta(days=2)).timestamp() * 1000)
    many = [LogEvent(start, "x") for _ in range(MAX_EVENTS + 1)]
    big = "y" * (MAX_EVENT_BYTES - 10)  # four of these fit in 1 MiB, five do not
    large = [LogEvent(start, big) for _ in range(5)]
    spread = [LogEvent(start, "first"), LogEvent(start + 24 * 3600 * 1000, "a day later"),
              LogEvent(start + 24 * 3600 * 1000 + 1, "a day and a millisecond later")]  # fmt: skip
    aws.put_log_events_calls.clear()

    for name, events in (("many", many), ("large", large), ("spread", spread)):
        assert group.write_task_log_events(name, events).events_written == len(events)

    assert aws.put_log_events_calls == [MAX_EVENTS, 1, 4, 1, 2, 1]


def test_batch_boundaries_are_exact() -> None:
    def event(timestamp: int, message: str = "m") -> dict:
        return {"timestamp": timestamp, "message": message}

    assert [len(b) for b in batches([event(0)] * MAX_EVENTS)] == [MAX_EVENTS]
    assert [len(b) for b in batches([event(0)] * (MAX_EVENTS + 1))] == [MAX_EVENTS, 1]
    exactly = MAX_BATCH_BYTES // 4 - EVENT_OVERHEAD  # four events of this size fill 1 MiB exactly
    assert [len(b) for b in batches([event(0, "z" * exactly)] * 4)] == [4]
    assert [len(b) for b in batches([event(0, "z" * exactly)] * 3 + [event(0, "z" * (exactly + 1))])] == [3, 1]
    day = 24 * 3600 * 1000
    assert [len(b) for b in batches([event(0), event(day)])] == [2]
    assert [len(b) for b in batches([event(0), event(day + 1)])] == [1, 1]


def test_rejected_event_ranges_follow_the_wire_format() -> None:
    batch = [{"timestamp": t, "message": "m"} for t in range(10)]

    found = rejections(
        batch, {"tooOldLogEventEndIndex": 2, "expiredLogEventEndIndex": 4, "tooNewLogEventStartIndex": 8}
    )

    assert [(r.reason, r.events, r.first_timestamp, r.last_timestamp) for r in found] == [
        ("too old", 3, 0, 2), ("expired", 2, 3, 4), ("too new", 2, 8, 9)]  # fmt: skip


def test_lines_take_airflows_own_timestamps_in_order() -> None:
    content = (
        b"traceback line before any stamp\n"
        b'{"timestamp":"2024-03-01T00:00:05.250000Z","level":"info","event":"airflow 3 line"}\n'
        b"[2024-03-01T00:00:04.000+0000] {x.py:1} INFO - an earlier stamp keeps the order\n"
        b"[2024-03-01, 00:00:09 UTC] {x.py:1} INFO - older 2.x format\n"
        b"printed output\n"
    )

    events = timed_events(content, modified=0)

    base = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000)
    assert [event.timestamp - base for event in events] == [5250, 5250, 5250, 9000, 9000]


def test_missing_group_has_no_logs(logs_client: object) -> None:
    assert list(CloudWatchTaskLogs(logs_client, "airflow-absent-Task").task_logs()) == []


def test_an_archive_bucket_that_does_not_exist_is_named_before_copying(
    group: CloudWatchTaskLogs, tmp_path: Path
) -> None:
    source = with_logs(tmp_path / "old", dict(list(LOGS.items())[:1]), NOW)

    with pytest.raises(MwaaVerifyError) as refused:
        copy_task_logs(source, group, archive="s3://no-such-archive/logs")

    assert str(refused.value).startswith("--archive s3://no-such-archive/logs: cannot reach bucket 'no-such-archive' (")
    assert str(refused.value).endswith("); create it or fix the credentials") and "\n" not in str(refused.value)
    assert list(group.task_logs()) == []
