"""Task logs in a CloudWatch Logs group, as MWAA and the Amazon provider's handler keep them: group
`airflow-{Environment}-Task`, one stream per task attempt named like the log file with `:` as `_`
(`dag_id=X/run_id=Y/task_id=Z/attempt=N.log`), one event per line, each stamped with the time it was logged.

Writing keeps every event's own timestamp and order. PutLogEvents accepts an event only within a window (not
more than 14 days old, nor older than the group's retention, nor more than 2 hours in the future): a log with
events outside it is refused before anything is written (`unacceptable`), and whatever CloudWatch still rejects
(`rejectedLogEventsInfo`) comes back to the caller as rejected events, never dropped in silence.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mwaa_verify.airflow.log_paths import (
    LineClock,
    LogDigest,
    events_content,
    parse_log_path,
    run_id_from_stream,
    stream_name,
)
from mwaa_verify.environments.base import LogContent, LogEvent, TaskLog

# PutLogEvents limits (CloudWatch Logs quotas): per call 10,000 events, 1,048,576 bytes counted as the UTF-8
# bytes of each message plus 26, events spanning at most 24 hours, in chronological order; 256 KiB per event
# (message plus the 26 bytes); nothing older than 14 days or the group's retention, nothing over 2 hours ahead.
MAX_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
MAX_AGE = timedelta(days=14)
MAX_AHEAD = timedelta(hours=2)
# events this close to the 14-day edge would age past it while the copy runs: treated as too old up front
AGE_MARGIN = timedelta(minutes=10)


def task_log_group(environment_name: str) -> str:
    return f"airflow-{environment_name}-Task"


@dataclass(frozen=True)
class Rejection:
    """Events of one log that CloudWatch did not store, and why."""

    reason: str  # "too old", "too new", "expired" (older than the group's retention)
    events: int
    first_timestamp: int
    last_timestamp: int


@dataclass
class WriteOutcome:
    events_written: int = 0
    lines_split: int = 0  # lines over 256 KiB, stored as several consecutive events
    rejected: list[Rejection] = field(default_factory=list)


class CloudWatchTaskLogs:
    """Lists, reads and writes task logs in one log group."""

    def __init__(self, client: Any, group: str) -> None:
        self.client = client
        self.group = group
        self.name = f"CloudWatch Logs {group}"

    # -- reading ---------------------------------------------------------------------------------------

    def task_logs(self, since: datetime | None = None) -> Iterator[TaskLog]:
        cutoff = int(since.timestamp() * 1000) if since else None
        for stream in self._streams():
            key = parse_log_path(stream["logStreamName"])
            if key is None:
                continue
            key = dataclasses.replace(key, run_id=run_id_from_stream(key.run_id))
            if cutoff is not None and stream.get("lastEventTimestamp", stream["creationTime"]) < cutoff:
                continue
            digest = LogDigest()
            clock = _EventClock()
            for event in self._events(stream["logStreamName"]):
                digest.add_line(event["message"].encode("utf-8"))
                clock.observe_time(event["timestamp"])
            first, last = clock.span(stream["creationTime"])
            yield key.task_log(stream["logStreamName"], digest, first, last)

    def read_task_log(self, log: TaskLog) -> bytes:
        return self.read_task_log_content(log).content

    def read_task_log_content(self, log: TaskLog) -> LogContent:
        events = tuple(LogEvent(event["timestamp"], event["message"]) for event in self._events(log.name))
        return events_content(events)

    # -- writing ---------------------------------------------------------------------------------------

    def log_name(self, name: str) -> str:
        """The stream a log of this (file) name goes to."""
        return stream_name(name)

    def acceptance_window(self, now: datetime | None = None) -> tuple[int, int, str]:
        """(oldest, newest) event timestamps PutLogEvents accepts now, in ms, and what sets the lower bound."""
        now = now or datetime.now(UTC)
        oldest, why = now - MAX_AGE + AGE_MARGIN, "CloudWatch accepts no event older than 14 days"
        retention = self._retention_days()
        if retention is not None and now - timedelta(days=retention) + AGE_MARGIN > oldest:
            oldest = now - timedelta(days=retention) + AGE_MARGIN
            why = f"the log group {self.group} keeps events {retention} days"
        return int(oldest.timestamp() * 1000), int((now + MAX_AHEAD).timestamp() * 1000), why

    def write_task_log(self, name: str, content: bytes) -> None:
        """Store bytes from elsewhere as a stream, every line stamped now (for logs without times of their own)."""
        now = int(datetime.now(UTC).timestamp() * 1000)
        lines = content.decode("utf-8", errors="replace").splitlines()
        self.write_task_log_events(name, [LogEvent(now, line) for line in lines])

    def task_log_names(self, keys: Sequence[Any]) -> dict[Any, str]:
        """A bare group has no Airflow to render names: logs get the default layout (as streams name it)."""
        return {}

    def write_task_log_content(self, name: str, content: LogContent) -> WriteOutcome:
        return self.write_task_log_events(name, content.events)

    def write_task_log_events(self, name: str, events: Sequence[LogEvent]) -> WriteOutcome:
        """Replace the stream for `name` with these events, each at its own time, in their order. When CloudWatch
        rejects any, the stream is removed again and the outcome lists what it rejected."""
        stream = self.log_name(name)
        self._ensure_group()
        with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
            self.client.delete_log_stream(logGroupName=self.group, logStreamName=stream)
        self.client.create_log_stream(logGroupName=self.group, logStreamName=stream)
        outcome = WriteOutcome()
        pieces = []
        for event in events:
            parts = split_message(event.message)
            outcome.lines_split += len(parts) > 1
            pieces += [{"timestamp": event.timestamp, "message": part} for part in parts]
        for batch in batches(pieces):
            answer = self.client.put_log_events(logGroupName=self.group, logStreamName=stream, logEvents=batch)
            rejected = rejections(batch, answer.get("rejectedLogEventsInfo") or {})
            outcome.rejected += rejected
            outcome.events_written += len(batch) - sum(item.events for item in rejected)
        if outcome.rejected:  # reported by the caller; a log taken only in part would read as truncated
            self.client.delete_log_stream(logGroupName=self.group, logStreamName=stream)
        return outcome

    def _ensure_group(self) -> None:
        with contextlib.suppress(self.client.exceptions.ResourceAlreadyExistsException):
            self.client.create_log_group(logGroupName=self.group)

    def _retention_days(self) -> int | None:
        for page in self.client.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=self.group):
            for group in page.get("logGroups", []):
                if group["logGroupName"] == self.group:
                    return group.get("retentionInDays")
        return None

    def _streams(self) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("describe_log_streams")
        try:
            for page in paginator.paginate(logGroupName=self.group):
                yield from page.get("logStreams", [])
        except self.client.exceptions.ResourceNotFoundException:
            return

    def _events(self, stream: str) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            arguments = {"logGroupName": self.group, "logStreamName": stream, "startFromHead": True}
            if token:
                arguments["nextToken"] = token
            page = self.client.get_log_events(**arguments)
            yield from page.get("events", [])
            if page.get("nextForwardToken") in (None, token):
                return
            token = page["nextForwardToken"]


class _EventClock(LineClock):
    def observe_time(self, stamp: int) -> None:
        self.first = stamp if self.first is None else self.first
        self.last = stamp if self.last is None else max(self.last, stamp)


def split_message(line: str) -> list[str]:
    """A line as events: an empty line as a single space (CloudWatch refuses empty events), a line over 256 KiB
    in consecutive pieces (the reader then shows it as several lines; the copy counts them as split)."""
    line = line or " "
    parts = []
    while len(line.encode("utf-8")) > MAX_EVENT_BYTES:
        cut = MAX_EVENT_BYTES // 4  # characters, safe for any UTF-8 width
        parts.append(line[:cut])
        line = line[cut:]
    return [*parts, line]


def batches(events: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """PutLogEvents calls for events already in chronological order: each within 10,000 events, 1,048,576
    bytes and a 24-hour span."""
    batch: list[dict[str, Any]] = []
    size = 0
    for event in events:
        event_size = len(event["message"].encode("utf-8")) + EVENT_OVERHEAD
        if batch and (
            len(batch) >= MAX_EVENTS
            or size + event_size > MAX_BATCH_BYTES
            or event["timestamp"] - batch[0]["timestamp"] > MAX_BATCH_SPAN_MS
        ):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        yield batch


def rejections(batch: Sequence[dict[str, Any]], info: dict[str, int]) -> list[Rejection]:
    """What `rejectedLogEventsInfo` says was not stored. AWS documents tooNewLogEventStartIndex as inclusive and
    calls tooOldLogEventEndIndex "the index of the last log event that is too old" and "exclusive" at once (moto
    reports the last too-old event): the event at an end index is counted as rejected too, so a rejected event
    is never taken for a stored one."""
    ranges = []
    too_old = info.get("tooOldLogEventEndIndex", -1)
    if too_old >= 0:
        ranges.append(("too old", 0, too_old))
    if info.get("expiredLogEventEndIndex", -1) > too_old:  # the older ones are counted as too old already
        ranges.append(("expired", too_old + 1, info["expiredLogEventEndIndex"]))
    if "tooNewLogEventStartIndex" in info:
        ranges.append(("too new", info["tooNewLogEventStartIndex"], len(batch) - 1))
    found = []
    for reason, start, end in ranges:
        end = min(end, len(batch) - 1)
        if start <= end:
            found.append(Rejection(reason, end - start + 1, batch[start]["timestamp"], batch[end]["timestamp"]))
    return found
