"""The one small interface every suite talks to, and the values it returns.

A suite never knows which kind of environment it has: it asks for info, a DAG report, metadata rows, task
logs and the execution role, and every kind answers the same way.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from mwaa_verify.airflow.secrets import FernetKeys
from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.iam.evaluate import Policy


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
    """How one DAG file parsed: relative path, the DAGs it defined, the error text if it failed."""

    path: str
    dag_ids: tuple[str, ...]
    import_error: str | None
    warnings: tuple[str, ...]
    parse_seconds: float | None  # None where the environment does not report it (MWAA's REST API)

    @property
    def error_summary(self) -> str | None:
        """The last line of Airflow's traceback: the exception a user recognises."""
        if not self.import_error:
            return None
        lines = [line for line in self.import_error.strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else self.import_error


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

    def read_task_log(self, log: TaskLog) -> bytes:
        """The content of one task log that task_logs() listed."""
        raise MwaaVerifyError(f"environment {self.name!r} (kind {self.kind!r}) cannot read task logs from here")

    def write_task_log(self, name: str, content: bytes) -> None:
        """Store a task log under its version-neutral name (`dag_id=.../attempt=N.log`)."""
        raise MwaaVerifyError(f"environment {self.name!r} (kind {self.kind!r}) cannot receive task logs from here")

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
