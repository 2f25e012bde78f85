"""Task log naming and timing.

Naming: Airflow 2.3+ and 3.x both write `dag_id=<dag>/run_id=<run>/task_id=<task>[/map_index=<n>]/attempt=<try>.log`
under base_log_folder by default (`[logging] log_filename_template`, recorded per DAG run in the log_template
table); the Amazon provider's CloudWatch handler names a task's stream the same with every `:` as `_` (CloudWatch
refuses `:` in stream names). A deployment with its own template renders other names: the target environment
renders them itself (the task log probe).

Timing: each line of an Airflow task log starts with the time it was written (`[2024-03-01T00:00:05.123+0000] ...`
on 2.x, `{"timestamp": "...", ...}` on 3.x). A line without one (a traceback, printed output) was written with
the line before it; lines before the first stamped line with that first one; a log with no stamp at all when its
file was last modified.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mwaa_verify.environments.base import LogContent, LogEvent, TaskLog

_TEXT_STAMP = re.compile(r"\[(\d{4}-\d\d-\d\d[T ,][^\]]{4,40})\]")
_JSON_STAMP = re.compile(r'"timestamp"\s*:\s*"([^"]{10,40})"')


@dataclass(frozen=True)
class TaskLogKey:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int

    def task_log(
        self,
        name: str,
        digest: LogDigest,
        first_timestamp: int | None = None,
        last_timestamp: int | None = None,
        modified: float | None = None,
    ) -> TaskLog:
        """The listing entry of a log with this key, stored under `name`, whose content gave `digest`."""
        return TaskLog(
            dag_id=self.dag_id,
            run_id=self.run_id,
            task_id=self.task_id,
            map_index=self.map_index,
            try_number=self.try_number,
            name=name,
            size=digest.size,
            sha256=digest.hexdigest(),
            lines=digest.lines,
            first_timestamp=first_timestamp,
            last_timestamp=last_timestamp,
            modified=modified,
        )

    @property
    def default_name(self) -> str:
        """The name Airflow's default log_filename_template gives this attempt's log (2.3+ and 3.x alike)."""
        mapped = f"map_index={self.map_index}/" if self.map_index >= 0 else ""
        return f"dag_id={self.dag_id}/run_id={self.run_id}/task_id={self.task_id}/{mapped}attempt={self.try_number}.log"


def log_key(log: TaskLog) -> tuple[str, str, str, int, int]:
    """The task attempt a log belongs to, alike whether its name came from a file or a CloudWatch stream (whose
    names hold `_` where run ids hold `:`)."""
    return (log.dag_id, stream_name(log.run_id), log.task_id, log.map_index, log.try_number)


def stream_name(name: str) -> str:
    """A log name as the Amazon provider's CloudWatch handler names the stream: `:` is not allowed there."""
    return name.replace(":", "_")


_STREAM_RUN_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d)_(\d\d)_(\d\d(?:\.\d+)?)(?:([+-]\d\d)_(\d\d))?")


def run_id_from_stream(run_id: str) -> str:
    """The run id a stream name spells with `_`: the times in Airflow's own run ids (`scheduled__2024-03-01T00:00:00
    +00:00`) get their `:` back. A run id of another shape stays as the stream spells it; a target's Airflow
    finds the run either way (the task log probe matches both spellings)."""

    def restore(found: re.Match[str]) -> str:
        zone = f"{found.group(4)}:{found.group(5)}" if found.group(4) else ""
        return f"{found.group(1)}:{found.group(2)}:{found.group(3)}{zone}"

    return _STREAM_RUN_TIME.sub(restore, run_id)


def parse_log_path(relative: str) -> TaskLogKey | None:
    """The task attempt a log file belongs to, or None for files that are not task logs."""
    parts = Path(relative).parts
    fields: dict[str, str] = {}
    for part in parts[:-1]:
        name, sep, value = part.partition("=")
        if not sep:
            return None
        fields[name] = value
    last = parts[-1] if parts else ""
    if not (last.startswith("attempt=") and last.endswith(".log")):
        return None
    if not {"dag_id", "run_id", "task_id"} <= fields.keys():
        return None
    try:
        try_number = int(last[len("attempt=") : -len(".log")])
        map_index = int(fields.get("map_index", "-1"))
    except ValueError:
        return None
    return TaskLogKey(fields["dag_id"], fields["run_id"], fields["task_id"], map_index, try_number)


def task_log_files(base_log_folder: Path, since: datetime | None = None) -> Iterator[TaskLog]:
    """Every task log under a folder, in path order, with size, line count and sha256 of its content."""
    if not base_log_folder.is_dir():
        return
    cutoff = since.timestamp() if since is not None else None
    for directory, subdirectories, files in os.walk(base_log_folder):
        subdirectories.sort()
        for file_name in sorted(files):
            path = Path(directory) / file_name
            relative = path.relative_to(base_log_folder).as_posix()
            key = parse_log_path(relative)
            if key is None:
                continue
            modified = path.stat().st_mtime
            if cutoff is not None and modified < cutoff:
                continue
            digest = LogDigest()
            clock = LineClock()
            with path.open("rb") as handle:
                for line in handle:
                    digest.add_line(line)
                    clock.observe(line.decode("utf-8", errors="replace"))
            first, last = clock.span(int(modified * 1000))
            yield key.task_log(relative, digest, first, last, modified)


def line_timestamp(line: str) -> int | None:
    """The time (ms since the epoch) Airflow wrote at the start of a task log line, or None."""
    head = line.lstrip()[:200]
    found = _JSON_STAMP.search(head) if head.startswith("{") else _TEXT_STAMP.match(head)
    if found is None:
        return None
    text = found.group(1).strip().replace(", ", "T").replace(" UTC", "+00:00").replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class LineClock:
    """The Airflow timestamps seen in a log's lines, in order, for the span a copy will stamp its events with."""

    def __init__(self) -> None:
        self.first: int | None = None
        self.last: int | None = None

    def observe(self, line: str) -> int | None:
        stamp = line_timestamp(line)
        if stamp is not None:
            self.first = stamp if self.first is None else self.first
            self.last = stamp if self.last is None else max(self.last, stamp)
        return stamp

    def span(self, fallback: int) -> tuple[int, int]:
        if self.first is None or self.last is None:
            return fallback, fallback
        return self.first, self.last


def timed_events(content: bytes, modified: float) -> tuple[LogEvent, ...]:
    """One event per line of a log file, stamped as the module docstring says: never earlier than the line
    before it, so the events keep the file's order when CloudWatch orders them by time."""
    lines = content.decode("utf-8", errors="replace").splitlines()
    stamps = [line_timestamp(line) for line in lines]
    known = [stamp for stamp in stamps if stamp is not None]
    current = known[0] if known else int(modified * 1000)
    events = []
    for line, stamp in zip(lines, stamps, strict=True):
        current = max(current, stamp) if stamp is not None else current
        events.append(LogEvent(current, line))
    return tuple(events)


def file_content(content: bytes, modified: float) -> LogContent:
    return LogContent(content, timed_events(content, modified), modified)


def events_content(events: tuple[LogEvent, ...]) -> LogContent:
    """A log read from CloudWatch: a line per event; as a file it was last modified at its last event."""
    content = "".join(event.message + "\n" for event in events).encode("utf-8")
    modified = events[-1].timestamp / 1000 if events else 0.0
    return LogContent(content, events, modified)


class LogDigest:
    """The content of a task log as a sequence of lines, so a file and a CloudWatch stream (one event per
    line) holding the same log digest alike. Trailing whitespace is not significant: CloudWatch cannot
    store an empty event, so an empty line travels as a single space."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.size = 0
        self.lines = 0

    def add_line(self, line: bytes) -> None:
        self.size += len(line)
        self.lines += 1
        self._sha.update(line.rstrip() + b"\n")

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def content_digest(content: bytes) -> LogDigest:
    digest = LogDigest()
    for line in content.splitlines(keepends=True):
        digest.add_line(line)
    return digest


# a copied file's modification time may differ by the file system's resolution
MTIME_TOLERANCE_SECONDS = 1.0


def times_differ(source: TaskLog, copy: TaskLog) -> str | None:
    """How a copy's times differ from its source's, or None: a file by its modification time (a stream's source
    by its last event), a stream by its first and last event."""
    if copy.modified is not None:
        expected = source.modified if source.modified is not None else (source.last_timestamp or 0) / 1000
        if abs(copy.modified - expected) > MTIME_TOLERANCE_SECONDS:
            return (
                f"the file was last modified at {moment(copy.modified * 1000)}, the source's at "
                f"{moment(expected * 1000)}"
            )
        return None
    if source.first_timestamp is None or copy.first_timestamp is None:
        return None
    if (copy.first_timestamp, copy.last_timestamp) != (source.first_timestamp, source.last_timestamp):
        return (
            f"events stamped {moment(copy.first_timestamp)} to {moment(copy.last_timestamp or 0)}, the source "
            f"logged them {moment(source.first_timestamp)} to {moment(source.last_timestamp or 0)}"
        )
    return None


def moment(milliseconds: float) -> str:
    """A time in ms since the epoch, as the reports show it."""
    return datetime.fromtimestamp(milliseconds / 1000, UTC).isoformat(timespec="seconds")
