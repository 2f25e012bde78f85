"""Task logs in a CloudWatch Logs group, as MWAA keeps them: group `airflow-{Environment}-Task`, one stream
per task attempt named like the log file (`dag_id=X/run_id=Y/task_id=Z/attempt=N.log`), one event per line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mwaa_verify.airflow.log_paths import LogDigest, parse_log_path
from mwaa_verify.environments.base import TaskLog

# PutLogEvents limits: 10,000 events and 1,048,576 bytes per call (each event counts 26 bytes more), and
# 256 KiB per event.
_MAX_EVENTS = 10_000
_MAX_BATCH_BYTES = 1_048_576
_EVENT_OVERHEAD = 26
_MAX_EVENT_BYTES = 256 * 1024 - _EVENT_OVERHEAD


def task_log_group(environment_name: str) -> str:
    return f"airflow-{environment_name}-Task"


class CloudWatchTaskLogs:
    """Lists, reads and writes task logs in one log group."""

    def __init__(self, client: Any, group: str) -> None:
        self.client = client
        self.group = group
        self.name = f"CloudWatch Logs {group}"

    def task_logs(self, since: datetime | None = None) -> Iterator[TaskLog]:
        cutoff = int(since.timestamp() * 1000) if since else None
        for stream in self._streams():
            key = parse_log_path(stream["logStreamName"])
            if key is None:
                continue
            if cutoff is not None and stream.get("lastEventTimestamp", stream["creationTime"]) < cutoff:
                continue
            digest = LogDigest()
            for message in self._messages(stream["logStreamName"]):
                digest.add_line(message.encode("utf-8"))
            yield key.task_log(stream["logStreamName"], digest)

    def read_task_log(self, log: TaskLog) -> bytes:
        return "".join(message + "\n" for message in self._messages(log.name)).encode("utf-8")

    def write_task_log(self, name: str, content: bytes) -> None:
        """Replace the stream `name` with one event per line of `content`."""
        self._ensure_group()
        with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
            self.client.delete_log_stream(logGroupName=self.group, logStreamName=name)
        self.client.create_log_stream(logGroupName=self.group, logStreamName=name)
        timestamp = int(datetime.now().timestamp() * 1000)
        batch: list[dict[str, Any]] = []
        batch_bytes = 0
        for message in _events(content):
            size = len(message.encode("utf-8")) + _EVENT_OVERHEAD
            if batch and (len(batch) >= _MAX_EVENTS or batch_bytes + size > _MAX_BATCH_BYTES):
                self._put(name, batch)
                batch, batch_bytes = [], 0
            batch.append({"timestamp": timestamp, "message": message})
            batch_bytes += size
        if batch:
            self._put(name, batch)

    def _put(self, stream: str, events: list[dict[str, Any]]) -> None:
        self.client.put_log_events(logGroupName=self.group, logStreamName=stream, logEvents=events)

    def _ensure_group(self) -> None:
        with contextlib.suppress(self.client.exceptions.ResourceAlreadyExistsException):
            self.client.create_log_group(logGroupName=self.group)

    def _streams(self) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("describe_log_streams")
        try:
            for page in paginator.paginate(logGroupName=self.group):
                yield from page.get("logStreams", [])
        except self.client.exceptions.ResourceNotFoundException:
            return

    def _messages(self, stream: str) -> Iterator[str]:
        token = None
        while True:
            arguments = {"logGroupName": self.group, "logStreamName": stream, "startFromHead": True}
            if token:
                arguments["nextToken"] = token
            page = self.client.get_log_events(**arguments)
            for event in page.get("events", []):
                yield event["message"]
            if page.get("nextForwardToken") in (None, token):
                return
            token = page["nextForwardToken"]


def _events(content: bytes) -> Iterator[str]:
    """One event per line; an empty line as a space (CloudWatch refuses empty events), long lines split."""
    for raw in content.decode("utf-8", errors="replace").splitlines():
        line = raw or " "
        while len(line.encode("utf-8")) > _MAX_EVENT_BYTES:
            cut = _MAX_EVENT_BYTES // 4  # characters, safe for any UTF-8 width
            yield line[:cut]
            line = line[cut:]
        yield line
