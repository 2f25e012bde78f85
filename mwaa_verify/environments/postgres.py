"""A throwaway PostgreSQL cluster on 127.0.0.1, from the server binaries postgres_binaries.py finds.

PostgreSQL refuses to run as root, so when this process is root the cluster belongs to an unprivileged OS user
(postgres_binaries.server_account) and every server command drops to it in the child process; otherwise the
cluster belongs to the user running the tool. The server gets its own session, so a Ctrl-C in the terminal
reaches us (and our cleanup) rather than killing it behind our back.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg2

from mwaa_verify import ownership
from mwaa_verify.environments.postgres_binaries import (
    ServerAccount,
    ServerBinaries,
    find_server_binaries,
    readable_for,
    server_account,
)
from mwaa_verify.errors import EnvironmentStartError

# a custom setting the server carries, so anyone connected to it (a `local` environment pointing at an
# ephemeral one) can tell where its binaries came from
ORIGIN_SETTING = "mwaa_verify.postgres_origin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """`with PostgresCluster() as pg: pg.url` gives a fresh database `airflow`, removed afterwards."""

    def __init__(
        self,
        parent_dir: Path | None = None,
        database: str = "airflow",
        keep_files: bool = False,
        binaries: ServerBinaries | None = None,
    ):
        self.database = database
        self.keep_files = keep_files
        self._parent_dir = parent_dir
        self.root: Path | None = None
        self.port: int | None = None
        # None until started: found then (unless given), so that constructing a cluster never fails
        self.binaries = binaries
        self._account: ServerAccount | None = None
        self._bin: Path | None = None
        self._password = secrets.token_urlsafe(18)

    @property
    def _as_postgres_user(self) -> bool:
        """Whether the server runs as an OS user of its own (this process is root), not as this process's."""
        return self._account is not None

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres:{self._password}@127.0.0.1:{self.port}/{self.database}"

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self.binaries is None:
            self.binaries = find_server_binaries()
        self._account = server_account()
        parent = self._parent_dir
        if parent is not None:
            _make_writable_dir(parent)
        if self._as_postgres_user:
            parent = _traversable_parent(parent)
        ownership.sweep_stale()
        # world-traversable, since the server may run as another OS user; named after this process, so that
        # a later run stops the server and removes the files if this one is killed
        # files are kept only where they were asked for: a cluster moved to the temporary directory (its parent
        # unreachable for the server's user) is removed like any other, never left behind in /tmp
        self.keep_files = self.keep_files and parent == self._parent_dir
        with ownership.deferred_signals():
            self.root = ownership.make_owned_dir("pg", parent, keep=self.keep_files)
        os.chmod(self.root, 0o755)
        if self._as_postgres_user:
            assert self._account is not None
            os.chown(self.root, self._account.uid, self._account.gid)
        try:
            self._bin = readable_for(self.binaries, self._account, self.root / "server")
            # a password of its own: other users of this host must not read the metadata it will hold
            password_file = self.root / "initdb-password"
            password_file.write_text(self._password)
            password_file.chmod(0o600)
            if self._as_postgres_user:
                assert self._account is not None
                os.chown(password_file, self._account.uid, self._account.gid)
            try:
                self._server(
                    "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=scram-sha-256",
                    f"--pwfile={password_file}", "--no-sync", "-E", "UTF8",
                )  # fmt: skip
            finally:
                password_file.unlink(missing_ok=True)
            self._start_on_a_free_port()
            self._create_database()
        except BaseException:
            self.stop()
            raise

    def _start_on_a_free_port(self, attempts: int = 3) -> None:
        """Start the server on a free loopback port. Another process on a busy machine may bind the port between
        choosing it and the server's bind; then another port is chosen, a bounded number of times."""
        log = self.root / "server.log"
        for attempt in range(attempts):
            self.port = free_port()
            options = (
                # TCP on loopback only: no Unix socket, whose path would be limited to 107 bytes
                f"-p {self.port} -c unix_socket_directories='' -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                f"-c {ORIGIN_SETTING}={self.binaries.origin}"
            )
            logged = log.stat().st_size if log.exists() else 0
            try:
                self._server("pg_ctl", "-D", str(self.data_dir), "-l", str(log), "-w", "-o", options, "start")
                return
            except EnvironmentStartError:
                with log.open("rb") as file:
                    file.seek(logged)
                    taken = b"could not bind" in file.read()
                if not taken or attempt == attempts - 1:
                    raise

    def stop(self) -> None:
        """Stop the server and remove its files. Safe to call twice and after a failed start; a Ctrl-C or
        SIGTERM that arrives meanwhile takes effect once it is done."""
        with ownership.deferred_signals():
            self._stop()

    def _stop(self) -> None:
        if self.root is None:
            return
        pid = self.postmaster_pid()
        if pid is not None:
            try:
                self._server("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop")
            except EnvironmentStartError:
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid)
        # anything else working in its files: a server still starting when we were interrupted, a backend
        ownership.stop_processes_under([self.root])
        if not self.keep_files:
            ownership.remove_owned_dir(self.root)
            self.root = None

    def postmaster_pid(self) -> int | None:
        """The running server's pid, or None when it is not running."""
        if self.root is None:
            return None
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def _server(self, binary: str, *args: str) -> None:
        assert self._bin is not None
        command = [str(self._bin / binary), *args]
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                cwd=self.root,
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                timeout=120,
                **(self._account.subprocess_options() if self._account is not None else {}),
            )
        except subprocess.TimeoutExpired:
            raise EnvironmentStartError(
                f"PostgreSQL {binary} took longer than 120 s; the machine may be overloaded or its disk full"
            ) from None
        if completed.returncode != 0:
            log = self.root / "server.log" if self.root else None
            log_tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise EnvironmentStartError(
                f"PostgreSQL {binary} failed (exit {completed.returncode}): "
                f"{(completed.stderr or completed.stdout).strip()[-2000:]}\n{log_tail}".rstrip()
            )

    def _create_database(self) -> None:
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", password=self._password, dbname="postgres"
        )
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            connection.close()


def _make_writable_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentStartError(
            f"cannot create {directory} for the PostgreSQL data directory ({exc.strerror}); pick a writable workdir"
        ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise EnvironmentStartError(
            f"cannot write {directory} for the PostgreSQL data directory; make it writable or pick another workdir"
        )


def _traversable_parent(preferred: Path | None) -> Path:
    """A directory the server's OS user can reach through every parent: `preferred` when it can (a home
    directory under /root usually cannot), else the system temporary directory."""
    for candidate in (preferred, Path(tempfile.gettempdir()), Path("/tmp")):
        if candidate is not None and _traversable(candidate):
            return candidate
    raise EnvironmentStartError(
        "PostgreSQL runs as an unprivileged OS user (it refuses root) and can reach neither "
        f"{preferred or 'the workdir'} nor {tempfile.gettempdir()}; make one of them world-traversable (chmod o+x)"
    )


def _traversable(path: Path) -> bool:
    return all(directory.stat().st_mode & 0o001 for directory in (path, *path.parents))


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not ownership.running(pid):
            return
        time.sleep(0.1)
