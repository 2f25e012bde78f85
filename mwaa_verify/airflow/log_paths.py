"""Task log file naming: Airflow 2.3+ and 3.x both write
`dag_id=<dag>/run_id=<run>/task_id=<task>[/map_index=<n>]/attempt=<try>.log` under base_log_folder.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mwaa_verify.environments.base import TaskLog


@dataclass(frozen=True)
class TaskLogKey:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int

    def task_log(self, name: str, digest: LogDigest) -> TaskLog:
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
        )


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
            if cutoff is not None and path.stat().st_mtime < cutoff:
                continue
            digest = LogDigest()
            with path.open("rb") as handle:
                for line in handle:
                    digest.add_line(line)
            yield key.task_log(relative, digest)


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
