"""Copy task logs from one environment to another: all of them, or only those of failed task instances
(what the AWS sample copies by default), within an optional window.

Every line keeps the time it was logged: a CloudWatch event its timestamp, a file line Airflow's own timestamp
(log_paths), a file its modification time, because Airflow's readers only show a task's log within the task's
time window. A log goes where the target's Airflow looks for it: the target renders the name (its
`log_filename_template`, `:` as `_` in a CloudWatch stream).

CloudWatch accepts no event older than 14 days (or the group's retention) nor 2 hours ahead: such a log cannot be
copied at its original time. It is not copied with other times, and never dropped in silence: it is reported
per task instance with the reason and, with `archive`, written as a file under an S3 prefix (or a folder) that
the report names.

Idempotent: a log the target already holds with the same content and times is not written again. The source is
only read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from mwaa_verify import progress
from mwaa_verify.airflow.log_paths import TaskLogKey, content_digest, log_key, moment, stream_name, times_differ
from mwaa_verify.environments.base import Environment, LogContent, TaskLog
from mwaa_verify.errors import MwaaVerifyError


class TaskLogStore(Protocol):
    """Where task logs live: an environment's log folder, or a CloudWatch Logs group."""

    name: str

    def task_logs(self, since: datetime | None = None) -> Iterator[TaskLog]: ...

    def read_task_log_content(self, log: TaskLog) -> LogContent: ...


FAILED_STATES = {"failed", "upstream_failed"}


@dataclass(frozen=True)
class NotCopied:
    """A source log the target does not hold, and why; where it was archived instead, if it was."""

    log: str
    task_instance: str
    reason: str
    archived_to: str | None = None

    def line(self) -> str:
        where = f"; archived to {self.archived_to}" if self.archived_to else "; not copied (--archive keeps such logs)"
        return f"{self.task_instance}: {self.reason}{where}"


@dataclass
class LogCopyResult:
    copied: int = 0
    unchanged: int = 0
    bytes_copied: int = 0
    skipped_not_failed: int = 0
    lines_split: int = 0
    copied_names: list[str] = field(default_factory=list)
    not_copied: list[NotCopied] = field(default_factory=list)


def copy_task_logs(
    source: TaskLogStore,
    target: Any,
    failed_only: bool = False,
    since: datetime | None = None,
    metadata: Environment | None = None,
    archive: str | None = None,
    now: datetime | None = None,
) -> LogCopyResult:
    """`metadata` tells which task instances failed (default: the source, when it is an environment).
    `archive` (s3://bucket/prefix or a folder) receives the logs the target cannot accept at their own times.
    `now` is the clock the acceptance window is computed from (default: this host's)."""
    result = LogCopyResult()
    failed = None
    if failed_only:
        metadata = metadata or (source if isinstance(source, Environment) else None)
        if metadata is None:
            raise MwaaVerifyError("--failed-only needs the source environment's metadata to know what failed")
        failed = failed_task_instances(metadata, since)
    archiver = LogArchive(archive, target) if archive else None
    present = {log_key(log): log for log in target.task_logs()}
    window = target.acceptance_window(now) if hasattr(target, "acceptance_window") else None
    listed = list(source.task_logs(since))
    logs = [log for log in listed if failed is None or ti_key(log) in failed]
    result.skipped_not_failed = len(listed) - len(logs)
    names = target_log_names(target, logs)
    with progress.step(f"copying task logs {source.name} -> {target.name}" + (" (failed only)" if failed_only else "")):
        for log in logs:
            name = names[log_key(log)]
            existing = present.get(log_key(log))
            if existing is not None and stream_name(existing.name) == stream_name(name) and same_log(log, existing):
                result.unchanged += 1
                continue
            content = source.read_task_log_content(log)
            if content_digest(content.content).hexdigest() != log.sha256:
                progress.say(f"{log.name} changed while it was being copied; copying its current content")
            refusal = outside_window(content, window) if window else None
            if refusal is None:
                outcome = target.write_task_log_content(name, content)
                result.lines_split += getattr(outcome, "lines_split", 0)
                rejected = getattr(outcome, "rejected", [])
                if rejected:
                    refusal = "CloudWatch rejected " + ", ".join(
                        f"{item.events} event(s) as {item.reason} ({moment(item.first_timestamp)} to "
                        f"{moment(item.last_timestamp)})"
                        for item in rejected
                    )
            if refusal is not None:
                archived = archiver.store(log, content) if archiver else None
                result.not_copied.append(NotCopied(log.name, describe_task_instance(log), refusal, archived))
                continue
            result.copied += 1
            result.bytes_copied += len(content.content)
            if len(result.copied_names) < 1000:
                result.copied_names.append(log.name)
    archived = sum(1 for item in result.not_copied if item.archived_to)
    progress.say(
        f"task logs: {result.copied} copied ({result.bytes_copied} bytes), {result.unchanged} already there"
        + (f", {result.skipped_not_failed} of task instances that did not fail left out" if failed_only else "")
        + (
            f", {len(result.not_copied)} not copyable at their original time ({archived} archived)"
            if result.not_copied
            else ""
        )
        + (f", {result.lines_split} line(s) over 256 KiB split into several events" if result.lines_split else "")
    )
    return result


def target_log_names(target: Any, logs: list[TaskLog]) -> dict[tuple[str, str, str, int, int], str]:
    """Where the target's Airflow looks for each log: names it renders itself where it can, else the default."""
    keys = {log_key(log): TaskLogKey(log.dag_id, log.run_id, log.task_id, log.map_index, log.try_number)
            for log in logs}  # fmt: skip
    rendered: Mapping[TaskLogKey, str] = target.task_log_names(list(keys.values())) if keys else {}
    return {key: rendered.get(task_key) or task_key.default_name for key, task_key in keys.items()}


def same_log(source: TaskLog, copy: TaskLog) -> bool:
    """The copy holds the same lines at the same times."""
    return copy.sha256 == source.sha256 and times_differ(source, copy) is None


def outside_window(content: LogContent, window: tuple[int, int, str]) -> str | None:
    """Why CloudWatch would refuse this log's events at their own times, or None when it accepts them all."""
    oldest, newest, why = window
    too_old = [event for event in content.events if event.timestamp < oldest]
    too_new = [event for event in content.events if event.timestamp > newest]
    if too_old:
        return (
            f"{len(too_old)} of {len(content.events)} line(s) were logged before {moment(oldest)} "
            f"(from {moment(too_old[0].timestamp)}): {why}"
        )
    if too_new:
        return (
            f"{len(too_new)} of {len(content.events)} line(s) are stamped after {moment(newest)} "
            f"(up to {moment(too_new[-1].timestamp)}): CloudWatch accepts no event more than 2 hours ahead"
        )
    return None


class LogArchive:
    """Logs that could not be copied at their own times, as files under an S3 prefix or a local folder, named
    like the task log and keeping its times (S3 object metadata, file modification time)."""

    def __init__(self, location: str, target: Any) -> None:
        self.location = location.rstrip("/")
        self._client = None
        if self.location.startswith("s3://"):
            self.bucket, _, self.prefix = self.location.removeprefix("s3://").partition("/")
            if not self.bucket:
                raise MwaaVerifyError(f"--archive {location!r} names no bucket; write it as s3://bucket/prefix")
            client = target.aws_client("s3") if hasattr(target, "aws_client") else None
            if client is None:
                import boto3

                client = boto3.session.Session().client("s3")  # credentials as they are now, not cached
            self._client = client
            try:
                client.head_bucket(Bucket=self.bucket)
            except Exception as exc:  # botocore's errors, as one line naming the bucket
                raise MwaaVerifyError(
                    f"--archive {location}: cannot reach bucket {self.bucket!r} ({exc}); create it or fix the "
                    f"credentials"
                ) from None

    def _key(self, log: TaskLog) -> str:
        return f"{self.prefix}/{log.name}" if self.prefix else log.name

    def find(self, log: TaskLog) -> str | None:
        """Where the archive holds this log, or None when it does not."""
        if self._client is not None:
            try:
                self._client.head_object(Bucket=self.bucket, Key=self._key(log))
            except self._client.exceptions.ClientError:
                return None
            return f"s3://{self.bucket}/{self._key(log)}"
        path = Path(self.location) / log.name
        return str(path) if path.is_file() else None

    def store(self, log: TaskLog, content: LogContent) -> str:
        first = content.events[0].timestamp if content.events else 0
        if self._client is not None:
            key = self._key(log)
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=content.content,
                ContentType="text/plain; charset=utf-8",
                Metadata={"first-event": moment(first), "modified": moment(int(content.modified * 1000))},
            )
            return f"s3://{self.bucket}/{key}"
        import os

        path = Path(self.location) / log.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.content)
        os.utime(path, (content.modified, content.modified))
        return str(path)


def describe_task_instance(log: TaskLog) -> str:
    mapped = f" map_index={log.map_index}" if log.map_index >= 0 else ""
    return f"{log.dag_id} / {log.run_id} / {log.task_id}{mapped} try {log.try_number}"


def ti_key(log: TaskLog) -> tuple[str, str, str, int]:
    """The task instance a log belongs to (its run id as a CloudWatch stream name spells it)."""
    return log_key(log)[:4]


def failed_task_instances(source: Environment, since: datetime | None) -> set[tuple[str, str, str, int]]:
    """Natural keys of the task instances that ended failed in the window: whose logs a failed-only copy moves."""
    return {
        (row["dag_id"], stream_name(row["run_id"]), row["task_id"], row["map_index"])
        for row in source.rows("task_instance", since)
        if row["state"] in FAILED_STATES
    }
