"""Copy task logs from one environment to another: all of them, or only those of failed task instances
(what the AWS sample copies by default), within an optional window.

Idempotent: a log the target already holds with the same content is not written again. The source is only
read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from mwaa_verify import progress
from mwaa_verify.airflow.log_paths import content_digest
from mwaa_verify.environments.base import Environment, TaskLog
from mwaa_verify.errors import MwaaVerifyError


class TaskLogStore(Protocol):
    """Where task logs live: an environment's log folder, or a CloudWatch Logs group."""

    name: str

    def task_logs(self, since: datetime | None = None) -> Iterator[TaskLog]: ...

    def read_task_log(self, log: TaskLog) -> bytes: ...

    def write_task_log(self, name: str, content: bytes) -> None: ...


FAILED_STATES = {"failed", "upstream_failed"}


@dataclass
class LogCopyResult:
    copied: int = 0
    unchanged: int = 0
    bytes_copied: int = 0
    skipped_not_failed: int = 0
    copied_names: list[str] = field(default_factory=list)


def copy_task_logs(
    source: TaskLogStore,
    target: TaskLogStore,
    failed_only: bool = False,
    since: datetime | None = None,
    metadata: Environment | None = None,
) -> LogCopyResult:
    """`metadata` tells which task instances failed (default: the source, when it is an environment)."""
    result = LogCopyResult()
    failed = None
    if failed_only:
        metadata = metadata or (source if isinstance(source, Environment) else None)
        if metadata is None:
            raise MwaaVerifyError("--failed-only needs the source environment's metadata to know what failed")
        failed = failed_task_instances(metadata, since)
    present = {log.name: log.sha256 for log in target.task_logs()}
    with progress.step(f"copying task logs {source.name} -> {target.name}" + (" (failed only)" if failed_only else "")):
        for log in source.task_logs(since):
            if failed is not None and ti_key(log) not in failed:
                result.skipped_not_failed += 1
                continue
            if present.get(log.name) == log.sha256:
                result.unchanged += 1
                continue
            content = source.read_task_log(log)
            if content_digest(content).hexdigest() != log.sha256:
                progress.say(f"{log.name} changed while it was being copied; copying its current content")
            target.write_task_log(log.name, content)
            result.copied += 1
            result.bytes_copied += len(content)
            if len(result.copied_names) < 1000:
                result.copied_names.append(log.name)
    progress.say(
        f"task logs: {result.copied} copied ({result.bytes_copied} bytes), {result.unchanged} already there"
        + (f", {result.skipped_not_failed} of task instances that did not fail left out" if failed_only else "")
    )
    return result


def ti_key(log: TaskLog) -> tuple[str, str, str, int]:
    return (log.dag_id, log.run_id, log.task_id, log.map_index)


def failed_task_instances(source: Environment, since: datetime | None) -> set[tuple[str, str, str, int]]:
    """Natural keys of the task instances that ended failed in the window: whose logs a failed-only copy moves."""
    return {
        (row["dag_id"], row["run_id"], row["task_id"], row["map_index"])
        for row in source.rows("task_instance", since)
        if row["state"] in FAILED_STATES
    }
