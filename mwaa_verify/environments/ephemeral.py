"""The embedded default: an Airflow X.Y.Z the tool provisions itself, without Docker.

A cached virtualenv with that Airflow, a throwaway PostgreSQL cluster, `airflow db migrate`, and a DAGs
folder of its own (a copy, so the user's files are never touched). Everything it started is stopped and
everything it created is removed when it closes, also after a failure, Ctrl-C or SIGTERM; a `workdir` in
the config keeps the files (DAGs, logs, database files) for inspection, but never a running server.
"""

from __future__ import annotations

import atexit
import base64
import configparser
import json
import os
import re
import shutil
import tempfile
import zlib
from datetime import date
from pathlib import Path

from mwaa_verify import ownership, progress
from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.config import EphemeralConfig
from mwaa_verify.environments.local import HostAirflow
from mwaa_verify.environments.postgres import PostgresCluster
from mwaa_verify.environments.postgres_binaries import PG_BIN_ENV_VAR, ServerBinaries, find_server_binaries
from mwaa_verify.environments.virtualenv import ensure_virtualenv
from mwaa_verify.errors import EnvironmentStartError

MIGRATE_TIMEOUT_SECONDS = 900
RUN_TIMEOUT_SECONDS = 900

# 107 bytes for an AF_UNIX path, less "/mwaa-verify-pid4194304-tmp-XXXXXXXX/pymp-XXXXXXXX/listener-XXXXXXXX"
_LONGEST_SOCKET_PARENT = 107 - 68
_open_environments: set[EphemeralEnvironment] = set()


@atexit.register
def _close_leftovers() -> None:
    """Last line of defence: an interpreter that exits with environments open still stops their servers."""
    for environment in list(_open_environments):
        environment.close()


def migrate_failure(name: str, airflow_version: str, binaries: ServerBinaries, output: str) -> str:
    """One line for a failed `db migrate`: Airflow's own error (not its traceback), the server it ran on, and
    the fix when the server's version is the likely cause."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if _is_exception_line(line)]
    reason = (errors or lines or ["no output"])[-1]
    return (
        f"environment {name!r}: `airflow db migrate` of Airflow {airflow_version} failed on {binaries.description}: "
        f"{reason[:300]}; if Airflow {airflow_version} does not support PostgreSQL {binaries.major}, install a system "
        f"PostgreSQL of a version it supports (e.g. apt-get install postgresql-16) and set {PG_BIN_ENV_VAR} (or the "
        f"environment's pg_bin) to its bin directory"
    )


def _is_exception_line(line: str) -> bool:
    """`sqlalchemy.exc.ProgrammingError: ...`, the line of a traceback that names what went wrong."""
    head = line.split(":", 1)[0]
    return " " not in head and head.endswith(("Error", "Exception", "Exit"))


class EphemeralEnvironment(HostAirflow):
    def __init__(self, config: EphemeralConfig, cache_dir: Path) -> None:
        self.config = config
        self.version = AirflowVersion.parse(config.airflow_version)
        self.cache_dir = cache_dir
        self.workdir: Path | None = None
        self.cluster: PostgresCluster | None = None
        self._scratch: Path | None = None
        self._workdir_lock: ownership.WorkdirLock | None = None
        self._keep_files = config.workdir is not None
        super().__init__(
            name=config.name,
            kind="ephemeral",
            python=Path(),
            sql_alchemy_conn="",
            dags_folder=Path(),
            base_log_folder=None,
            airflow_home=None,
            policy_file=config.policy_file,
        )

    @property
    def started(self) -> bool:
        return self.cluster is not None

    def start(self) -> None:
        if self.started:
            return
        ownership.install_signal_handlers()
        _open_environments.add(self)
        try:
            self._provision()
        except BaseException:
            self.close()
            raise

    def _provision(self) -> None:
        ownership.sweep_stale()  # what a killed run left: its servers stopped, its files removed
        self.python = ensure_virtualenv(
            self.cache_dir, self.version, self.config.python_version, self.config.requirements
        )
        with ownership.deferred_signals():
            self.workdir = self._make_workdir()
        self.airflow_home = self.workdir / "home"
        self.dags_folder = self.workdir / "dags"
        self.base_log_folder = self.workdir / "logs"
        # short on purpose: LocalExecutor puts AF_UNIX sockets here (pymp-XXXXXXXX/listener-XXXXXXXX), and
        # their paths are limited to 107 bytes; a TMPDIR too long for that is passed over for /tmp
        parent = None if len(tempfile.gettempdir()) <= _LONGEST_SOCKET_PARENT else Path("/tmp")
        with ownership.deferred_signals():
            self._scratch = ownership.make_owned_dir("tmp", parent)
        for folder in (self.airflow_home, self.base_log_folder):
            folder.mkdir(parents=True, exist_ok=True)
        if self.config.dags_folder is not None:
            shutil.copytree(self.config.dags_folder, self.dags_folder, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            self.dags_folder.mkdir()
        binaries = find_server_binaries(self.config.pg_bin)
        with progress.step(f"{self.name}: starting a throwaway {binaries.description}"):
            self.cluster = PostgresCluster(parent_dir=self.workdir, keep_files=self._keep_files, binaries=binaries)
            self.cluster.start()
        self.sql_alchemy_conn = self.cluster.url
        self._write_airflow_cfg()
        self.env_overrides = {"TMPDIR": str(self._scratch)}
        with progress.step(f"{self.name}: airflow db migrate (Airflow {self.version})"):
            completed = self.airflow("db", "migrate", timeout=MIGRATE_TIMEOUT_SECONDS, check=False)
            if completed.returncode != 0:
                raise EnvironmentStartError(
                    migrate_failure(self.name, str(self.version), binaries, completed.stderr or completed.stdout)
                )

    def _make_workdir(self) -> Path:
        if self.config.workdir is not None:
            workdir = self.config.workdir
            # refuses while another run uses it; stops what a killed run left running in it
            self._workdir_lock = ownership.WorkdirLock(workdir)
            self._workdir_lock.acquire()
            for entry in workdir.iterdir():  # the previous run's files, all but the lock just taken
                if entry.name == ownership.LOCK_FILE:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            return workdir
        workdir = ownership.make_owned_dir(self.name)
        # traversable (not listable) by others: the PostgreSQL server may run as the postgres user
        workdir.chmod(0o711)
        return workdir

    def _write_airflow_cfg(self) -> None:
        """The environment's settings in its own AIRFLOW_HOME/airflow.cfg, so that anything run with that
        AIRFLOW_HOME (this tool, the airflow CLI, a `local` environment pointing at it) sees the same Airflow,
        secrets key included."""
        assert self.airflow_home is not None
        options = {
            # each environment encrypts its own secrets, as two real deployments do
            "core.fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "core.executor": "LocalExecutor",
            # the default of 32 forks 32 workers: far too many for a verification host
            "core.parallelism": "2",
            "core.dagbag_import_timeout": "30",
            "core.load_examples": "False",
            "database.sql_alchemy_conn": self.sql_alchemy_conn,
            # LocalExecutor forks its workers; a pooled connection inherited across a fork is closed under
            # the other process ("server closed the connection unexpectedly", backfill dead-locks)
            "database.sql_alchemy_pool_enabled": "False",
            "webserver.secret_key": base64.urlsafe_b64encode(os.urandom(24)).decode(),
            "api_auth.jwt_secret": base64.urlsafe_b64encode(os.urandom(64)).decode(),
            **self.config.airflow_config,
        }
        parser = configparser.ConfigParser(interpolation=None)
        for key, value in options.items():
            section, option = key.split(".", 1)
            if not parser.has_section(section):
                parser.add_section(section)
            parser.set(section, option, value)
        path = self.airflow_home / "airflow.cfg"
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            parser.write(handle)

    def upgrade_in_place(self, airflow_version: str) -> None:
        """Upgrade as MWAA does in place: the same database, DAGs, logs and airflow.cfg, now run by the newer
        Airflow, whose `airflow db migrate` rewrites the metadata to its schema."""
        assert self.started, "start the environment first"
        version = AirflowVersion.parse(airflow_version)
        self.python = ensure_virtualenv(self.cache_dir, version, self.config.python_version, self.config.requirements)
        self.version = version
        self._info = None
        with progress.step(f"{self.name}: in-place upgrade, airflow db migrate (Airflow {version})"):
            self.airflow("db", "migrate", timeout=MIGRATE_TIMEOUT_SECONDS)

    def parse_dags(self) -> None:
        """Let the dag-processor parse the DAGs folder once, as a running deployment does: fills the dag,
        serialized_dag and import_error tables (and dag_version on 3.x)."""
        if self.version.is_airflow3:
            self.airflow("dag-processor", "--num-runs", "1", timeout=RUN_TIMEOUT_SECONDS)
        else:
            self.airflow("dags", "reserialize", timeout=RUN_TIMEOUT_SECONDS)

    def run_dag(self, dag_id: str, start: date, end: date | None = None) -> bool:
        """Run a DAG for the scheduled dates in [start, end]; True if every run succeeded.

        2.x backfills through LocalExecutor, which writes per-attempt task log files. Its backfill expands
        mapped tasks only if it hears from the executor that their upstream task finished before it reads
        the success from the database, which depends on timing ("BackfillJob is deadlocked", the mapped
        task instances never run). So a DAG with mapped tasks is backfilled in two passes: first the tasks
        upstream of them, then the whole DAG, whose backfill expands them from the start; the same history
        every time. 3.x runs `dags test` for `start`, which records the run and its task instances in the
        metadata database. Airflow's output is kept in `<workdir>/runs/<dag_id>.log`.
        """
        assert self.workdir is not None, "start the environment first"
        if self.version.is_airflow3:
            passes: list[tuple[str, ...]] = [("dags", "test", dag_id, start.isoformat())]
        else:
            backfill = ("dags", "backfill", dag_id, "--start-date", start.isoformat(), "--end-date",
                        (end or start).isoformat(), "-y")  # fmt: skip
            upstream = self._upstream_of_mapped(dag_id)
            passes = [(*backfill, "--task-regex", f"^({'|'.join(map(re.escape, upstream))})$")] if upstream else []
            passes.append(backfill)
        output = []
        for args in passes:
            completed = self.airflow(*args, timeout=RUN_TIMEOUT_SECONDS, check=False)
            output.append(f"$ airflow {' '.join(args)}\nexit {completed.returncode}\n")
            output.append(f"{completed.stdout}\n{completed.stderr}")
            if completed.returncode != 0:
                break
        runs = self.workdir / "runs"
        runs.mkdir(exist_ok=True)
        (runs / f"{dag_id}.log").write_text("\n".join(output), encoding="utf-8")
        return completed.returncode == 0

    def _upstream_of_mapped(self, dag_id: str) -> list[str]:
        """Task ids upstream of the DAG's mapped tasks, from its serialized form (empty if it is not parsed)."""
        serialized = next((row for row in self.metadata.rows("serialized_dag") if row["dag_id"] == dag_id), None)
        if serialized is None:
            return []
        data = serialized.get("data")
        if data is None and serialized.get("data_compressed"):
            data = json.loads(zlib.decompress(serialized["data_compressed"]))
        if isinstance(data, str | bytes):
            data = json.loads(data)
        tasks = [task.get("__var", task) for task in (data or {}).get("dag", {}).get("tasks", [])]
        upstream: dict[str, set[str]] = {task["task_id"]: set() for task in tasks}
        for task in tasks:
            for downstream in task.get("downstream_task_ids", ()):
                upstream.setdefault(downstream, set()).add(task["task_id"])
        found: set[str] = set()
        pending = [upstream_id for task in tasks if task.get("_is_mapped") for upstream_id in upstream[task["task_id"]]]
        while pending:
            task_id = pending.pop()
            if task_id not in found:
                found.add(task_id)
                pending.extend(upstream.get(task_id, ()))
        return sorted(found)

    def close(self) -> None:
        """Stop everything, remove what is not kept. A Ctrl-C or SIGTERM meanwhile waits until it is done."""
        with ownership.deferred_signals():
            super().close()
            # first what Airflow left running (task processes of an interrupted backfill), then the server
            for folder in (self._scratch, self.workdir):
                if folder is not None:
                    ownership.stop_processes_under([folder])
            if self.cluster is not None:
                self.cluster.stop()
                self.cluster = None
            if self._scratch is not None:
                ownership.remove_owned_dir(self._scratch)
                self._scratch = None
            if self.workdir is not None and not self._keep_files:
                ownership.remove_owned_dir(self.workdir)
                self.workdir = None
            if self._workdir_lock is not None:
                self._workdir_lock.release()
                self._workdir_lock = None
            _open_environments.discard(self)
