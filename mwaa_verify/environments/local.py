"""An Airflow installed on this host: its interpreter, metadata database, DAGs folder and log folder.

`HostAirflow` answers the Environment interface for any Airflow whose files and database this process can
reach; `LocalEnvironment` is one that the user already runs, and the ephemeral kind is one the tool
provisions and then reaches the same way.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from mwaa_verify import ownership, progress
from mwaa_verify.airflow import log_paths
from mwaa_verify.airflow.secrets import FernetKeys
from mwaa_verify.config import LocalConfig
from mwaa_verify.environments.base import (
    DagReport,
    Environment,
    EnvironmentInfo,
    ExecutionRole,
    LogContent,
    TaskLog,
)
from mwaa_verify.environments.cloudwatch import CloudWatchTaskLogs, WriteOutcome
from mwaa_verify.environments.metadata_db import MetadataDatabase, read_only_url
from mwaa_verify.errors import ConfigError, MwaaVerifyError, ProbeError
from mwaa_verify.iam.evaluate import Policy

PROBES = Path(__file__).resolve().parent.parent / "airflow" / "probes"
# A whole DAG folder parse: generous, since each file also has Airflow's own dagbag_import_timeout.
PROBE_TIMEOUT_SECONDS = 1800
INFO_TIMEOUT_SECONDS = 300
_STDERR_TAIL_LINES = 30
_NO_AIRFLOW = "No module named 'airflow'"


class HostAirflow(Environment):
    """Shared behaviour of every kind whose Airflow runs as processes on this host."""

    def __init__(
        self,
        name: str,
        kind: str,
        python: Path,
        sql_alchemy_conn: str,
        dags_folder: Path,
        base_log_folder: Path | None,
        airflow_home: Path | None,
        policy_file: Path | None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.python = python
        self.sql_alchemy_conn = sql_alchemy_conn
        self.dags_folder = dags_folder
        self.base_log_folder = base_log_folder
        self.airflow_home = airflow_home
        self.policy_file = policy_file
        # Airflow options (as AIRFLOW__SECTION__OPTION variables) every process of this environment gets
        self.env_overrides: dict[str, str] = {}
        self._metadata: MetadataDatabase | None = None
        self._info: EnvironmentInfo | None = None
        self._fernet_keys: FernetKeys | None = None
        self._remote_stores: dict[str, CloudWatchTaskLogs] = {}

    # -- processes in the environment's own interpreter ---------------------------------------------

    def process_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment variables for any process that runs this Airflow."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        # executors spawn `airflow ...` through PATH, so the environment's bin directory comes first
        env["PATH"] = f"{self.python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.sql_alchemy_conn
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(self.dags_folder)
        env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        if self.base_log_folder is not None:
            env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(self.base_log_folder)
        if self.airflow_home is not None:
            env["AIRFLOW_HOME"] = str(self.airflow_home)
        env.update(self.env_overrides)
        env.update(extra or {})
        return env

    def run(
        self,
        args: Sequence[str],
        timeout: float,
        what: str,
        extra_env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run the environment's interpreter; failure is a ProbeError naming `what` with Airflow's own output.

        The process runs in a group of its own, inside a temporary directory of this run; when it ends (or
        times out, or we are interrupted) whatever it started that still runs is stopped with it.
        """
        scratch = ownership.make_owned_dir("run")
        try:
            extra = dict(extra_env or {})
            if self.airflow_home is None:
                # never let Airflow create ~/airflow behind the user's back
                (scratch / "home").mkdir()
                extra.setdefault("AIRFLOW_HOME", str(scratch / "home"))
            try:
                completed = ownership.run([str(self.python), *args], scratch, timeout, env=self.process_env(extra))
            except OSError as exc:  # missing, not executable, not a program at all, a directory
                state = f"cannot be run ({exc.strerror})" if self.python.exists() else "does not exist"
                raise ConfigError(
                    f"environment {self.name!r}: python {self.python} {state}; point 'python' at the interpreter "
                    f"of the Airflow installation (e.g. /opt/airflow/venv/bin/python)"
                ) from None
            except subprocess.TimeoutExpired:
                raise ProbeError(
                    f"environment {self.name!r}: {what} took longer than {timeout:.0f} s; it was stopped, "
                    f"with every process it started"
                ) from None
        finally:
            ownership.remove_owned_dir(scratch)
        if completed.returncode != 0 and _NO_AIRFLOW in (completed.stderr or ""):
            raise ProbeError(
                f"environment {self.name!r}: python {self.python} has no Airflow installed ({_NO_AIRFLOW}); point "
                f"'python' at the interpreter of the Airflow installation (e.g. /opt/airflow/venv/bin/python)"
            )
        if check and completed.returncode != 0:
            raise ProbeError(
                f"environment {self.name!r}: {what} failed (exit {completed.returncode}) in {self.python}:\n"
                f"{_tail(completed.stderr or completed.stdout)}"
            )
        return completed

    def airflow(
        self, *args: str, timeout: float = 600, what: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run an `airflow` CLI command in this environment."""
        return self.run(["-m", "airflow", *args], timeout, what or f"`airflow {' '.join(args)}`", check=check)

    @contextmanager
    def probe_scratch(self, what: str) -> Iterator[tuple[Path, str]]:
        """A temporary folder a probe can read and write: (its path here, its path as the probe sees it), gone
        after the block. On this host both are the same owned directory; the container kind overrides it."""
        scratch = ownership.make_owned_dir(what)
        try:
            yield scratch, str(scratch)
        finally:
            ownership.remove_owned_dir(scratch)

    def probe_database_url(self) -> str:
        """The metadata database URL as the environment's own processes reach it."""
        return self.sql_alchemy_conn

    def _probe(
        self, script: str, args: Sequence[str], timeout: float, what: str, extra_env: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        with self.probe_scratch("probe") as (here, there):
            self.run([self.probe_path(script), *args, "--out", f"{there}/report.json"], timeout, what, extra_env)
            try:
                return json.loads((here / "report.json").read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ProbeError(
                    f"environment {self.name!r}: {what} wrote no readable report ({exc}); is {self.python} the "
                    f"Python interpreter of the Airflow installation? Point 'python' at it"
                ) from None

    def probe_path(self, script: str) -> str:
        """Where the environment's interpreter finds one of this package's probe scripts."""
        return str(PROBES / script)

    def probe_dags_folder(self) -> str:
        """The DAGs folder as the environment's own processes see it."""
        return str(self.dags_folder)

    # -- the Environment interface -------------------------------------------------------------------

    def info(self) -> EnvironmentInfo:
        if self._info is None:
            data = self._probe("env_probe.py", [], INFO_TIMEOUT_SECONDS, "describing the Airflow installation")
            self._info = EnvironmentInfo(
                name=self.name,
                kind=self.kind,
                airflow_version=data["airflow_version"],
                python_version=data["python_version"],
                config_options=data["config_options"],
                explicit_options=frozenset(data.get("explicit_options", ())),
                requirements=tuple(data["requirements"]),
                plugins=tuple(data["plugins"]),
                database=self._database_server(),
            )
        return self._info

    def _database_server(self) -> str:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return self.metadata.server_description()
        except (MwaaVerifyError, SQLAlchemyError):
            return ""  # info() describes the Airflow installation also while its database is down

    def dag_report(self) -> DagReport:
        # DAG files run their top-level code while parsed: they may read the metadata database, never write it
        # (Airflow 3 also blocks the ORM inside the probe, as its dag-processor does)
        data = self._probe(
            "dag_probe.py",
            ["--dags-folder", self.probe_dags_folder()],
            PROBE_TIMEOUT_SECONDS,
            f"parsing the DAGs in {self.dags_folder}",
            extra_env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": read_only_url(self.probe_database_url())},
        )
        return DagReport.from_json(data)

    def fernet_keys(self) -> FernetKeys:
        if self._fernet_keys is None:
            data = self._probe("fernet_probe.py", [], INFO_TIMEOUT_SECONDS, "reading the configured fernet_key")
            self._fernet_keys = FernetKeys.parse(data["fernet_key"])
        return self._fernet_keys

    @property
    def metadata(self) -> MetadataDatabase:
        if self._metadata is None:
            self._metadata = MetadataDatabase(self.sql_alchemy_conn)
        return self._metadata

    def tables(self) -> list[str]:
        return self.metadata.tables()

    def metadata_database(self) -> MetadataDatabase | None:
        return self.metadata

    def schema_revision(self) -> str | None:
        return self.metadata.schema_revision()

    def dags_path(self) -> Path | None:
        return self.dags_folder

    def plugins_path(self) -> Path | None:
        folder = self.info().config_options.get("core.plugins_folder")
        return Path(folder) if folder else None

    def rows(self, table: str, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        return self.metadata.rows(table, since)

    # -- task logs: files under base_log_folder, or the CloudWatch group remote logging sends them to ---------

    def logging_option(self, option: str) -> str | None:
        """A `[logging]` option as this Airflow's processes resolve it: environment variable, then airflow.cfg."""
        env = self.process_env()
        variable = f"AIRFLOW__LOGGING__{option.upper()}"
        if variable in env:
            return env[variable]
        cfg = self.airflow_home / "airflow.cfg" if self.airflow_home is not None else None
        if cfg is None or not cfg.is_file():
            return None
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(cfg, encoding="utf-8")
        return parser.get("logging", option, fallback=None)

    @property
    def remote_task_logs(self) -> CloudWatchTaskLogs | None:
        """The CloudWatch group task logs live in when `[logging] remote_logging` sends them there (the Amazon
        provider's handler, `remote_base_log_folder = cloudwatch://arn:aws:logs:REGION:ACCOUNT:log-group:NAME`)."""
        if (self.logging_option("remote_logging") or "").strip().lower() != "true":
            return None
        base = (self.logging_option("remote_base_log_folder") or "").strip()
        if not base.startswith("cloudwatch://"):
            return None
        parts = base.removeprefix("cloudwatch://").split(":")
        if len(parts) < 7 or not parts[6]:
            raise ConfigError(
                f"environment {self.name!r}: [logging] remote_base_log_folder {base!r} is not "
                f"cloudwatch://arn:aws:logs:REGION:ACCOUNT:log-group:NAME"
            )
        if base not in self._remote_stores:
            import boto3

            self._remote_stores[base] = CloudWatchTaskLogs(
                boto3.session.Session().client("logs", region_name=parts[3]), parts[6]
            )
        return self._remote_stores[base]

    def task_logs(self, since: datetime | None = None) -> Iterator[TaskLog]:
        remote = self.remote_task_logs
        if remote is not None:
            return remote.task_logs(since)
        if self.base_log_folder is None:
            return iter(())
        return log_paths.task_log_files(self.base_log_folder, since)

    def read_task_log(self, log: TaskLog) -> bytes:
        remote = self.remote_task_logs
        return remote.read_task_log(log) if remote is not None else self._log_path(log.name).read_bytes()

    def read_task_log_content(self, log: TaskLog) -> LogContent:
        remote = self.remote_task_logs
        if remote is not None:
            return remote.read_task_log_content(log)
        path = self._log_path(log.name)
        return log_paths.file_content(path.read_bytes(), path.stat().st_mtime)

    def write_task_log(self, name: str, content: bytes) -> None:
        remote = self.remote_task_logs
        if remote is not None:
            remote.write_task_log(name, content)
            return
        self._write_log_file(name, content, None)

    def write_task_log_content(self, name: str, content: LogContent) -> WriteOutcome | None:
        remote = self.remote_task_logs
        if remote is not None:
            return remote.write_task_log_events(name, content.events)
        self._write_log_file(name, content.content, content.modified)
        return None

    def acceptance_window(self, now: datetime | None = None) -> tuple[int, int, str] | None:
        remote = self.remote_task_logs
        return remote.acceptance_window(now) if remote is not None else None

    def task_log_names(self, keys: Sequence[log_paths.TaskLogKey]) -> dict[log_paths.TaskLogKey, str]:
        """Where this Airflow's task handler looks for each attempt's log: its own log_filename_template (the one
        recorded for the DAG run), rendered by the handler; attempts of runs it does not know are left out."""
        try:
            answers = self.task_log_views(keys, read=False)
        except ProbeError as exc:
            progress.say(f"{exc}\n-> {self.name}: task logs get Airflow's default names (log_filename_template)")
            return {}
        return {key: answer["name"] for key, answer in zip(keys, answers, strict=True) if answer.get("name")}

    def task_log_views(self, keys: Sequence[log_paths.TaskLogKey], read: bool = True) -> list[dict[str, Any]]:
        """For each attempt, what this Airflow's own log reader makes of it (task_log_probe.py)."""
        if not keys:
            return []
        with self.probe_scratch("logs") as (here, there):
            (here / "requests.json").write_text(json.dumps([key.__dict__ for key in keys]), encoding="utf-8")
            data = self._probe(
                "task_log_probe.py",
                ["--requests", f"{there}/requests.json", *(["--read"] if read else [])],
                PROBE_TIMEOUT_SECONDS,
                f"reading {len(keys)} task log(s) through Airflow's log reader" if read else "naming task logs",
            )
        return data["answers"]

    def _write_log_file(self, name: str, content: bytes, modified: float | None) -> None:
        path = self._log_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(content)
        if modified is not None:
            os.utime(partial, (modified, modified))  # the copy keeps the time the task last wrote it
        partial.replace(path)  # a reader never sees half a log

    def _log_path(self, name: str) -> Path:
        if self.base_log_folder is None:
            raise ConfigError(f"environment {self.name!r} has no base_log_folder; set it in the configuration")
        path = (self.base_log_folder / name).resolve()
        if not path.is_relative_to(self.base_log_folder.resolve()):
            raise ConfigError(f"task log name {name!r} points outside {self.base_log_folder}")
        return path

    def execution_role(self) -> ExecutionRole | None:
        if self.policy_file is None:
            return None
        try:
            document = json.loads(self.policy_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"environment {self.name!r}: policy_file {self.policy_file} is not a readable JSON policy "
                f"({exc}); fix the file or remove policy_file"
            ) from None
        documents = document if isinstance(document, list) else [document]
        file = self.policy_file.name
        policies = tuple(
            Policy(file if len(documents) == 1 else f"{file}#{index}", item) for index, item in enumerate(documents)
        )
        return ExecutionRole(name=self.policy_file.name, policies=policies)

    def close(self) -> None:
        if self._metadata is not None:
            self._metadata.close()
            self._metadata = None


class LocalEnvironment(HostAirflow):
    """A self-managed Airflow the user already runs on this host. Only ever read."""

    def __init__(self, config: LocalConfig) -> None:
        super().__init__(
            name=config.name,
            kind="local",
            python=config.python,
            sql_alchemy_conn=config.sql_alchemy_conn,
            dags_folder=config.dags_folder,
            base_log_folder=config.base_log_folder,
            airflow_home=config.airflow_home,
            policy_file=config.policy_file,
        )


def _tail(text: str) -> str:
    lines = (text or "").rstrip().splitlines()
    return "\n".join(lines[-_STDERR_TAIL_LINES:]) or "(no output)"


def local_config_toml(environment: HostAirflow) -> str:
    """An [environments.<name>] section of kind `local` that reaches this Airflow as it is now."""
    fields = {
        "python": environment.python,
        "sql_alchemy_conn": environment.sql_alchemy_conn,
        "dags_folder": environment.dags_folder,
        "base_log_folder": environment.base_log_folder,
        "airflow_home": environment.airflow_home,
    }
    lines = [f"[environments.{environment.name}]", 'kind = "local"']
    lines += [f"{key} = {json.dumps(str(value))}" for key, value in fields.items() if value is not None]
    return "\n".join(lines) + "\n"
