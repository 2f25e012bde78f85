"""Environment definitions: what a valid file yields, and the one-line message each mistake gets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mwaa_verify.config import EphemeralConfig, LocalConfig, MwaaConfig, load_config
from mwaa_verify.errors import ConfigError, UnknownEnvironmentError

VALID = """
[environments.old]
kind = "local"
python = "{python}"
sql_alchemy_conn = "postgresql+psycopg2://airflow:pw@127.0.0.1:5432/airflow"
dags_folder = "dags"
base_log_folder = "logs"

[environments.rehearsal]
kind = "ephemeral"
airflow_version = "3.3.1"
dags_folder = "dags"
requirements = ["apache-airflow-providers-amazon"]
airflow_config = {{ "core.dagbag_import_timeout" = "60" }}

[environments.prod]
kind = "mwaa"
environment_name = "prod-airflow-3"
region = "eu-west-1"
"""


def write(directory: Path, text: str, name: str = "mwaa-verify.toml") -> Path:
    (directory / "dags").mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def error_for(directory: Path, text: str) -> str:
    path = write(directory, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return str(raised.value)


def test_valid_file_yields_one_typed_config_per_environment(no_config: Path) -> None:
    path = write(no_config, VALID.format(python=sys.executable))

    config = load_config(path)

    assert config.path == path
    assert config.environment("old") == LocalConfig(
        name="old",
        python=Path(sys.executable),
        sql_alchemy_conn="postgresql+psycopg2://airflow:pw@127.0.0.1:5432/airflow",
        dags_folder=no_config / "dags",
        base_log_folder=no_config / "logs",
    )
    rehearsal = config.environment("rehearsal")
    assert isinstance(rehearsal, EphemeralConfig)
    assert rehearsal.airflow_version == "3.3.1"
    assert rehearsal.requirements == ("apache-airflow-providers-amazon",)
    assert rehearsal.airflow_config == {"core.dagbag_import_timeout": "60"}
    assert config.environment("prod") == MwaaConfig(name="prod", environment_name="prod-airflow-3", region="eu-west-1")


def test_discovered_upwards_from_pyproject_section(no_config: Path) -> None:
    write(
        no_config,
        '[tool.mwaa_verify.environments.new]\nkind = "ephemeral"\nairflow_version = "2.10.5"\n',
        name="pyproject.toml",
    )
    nested = no_config / "a" / "b"
    nested.mkdir(parents=True)

    config = load_config(start=nested)

    assert config.path == no_config / "pyproject.toml"
    assert list(config.environments) == ["new"]


def test_config_path_from_environment_variable(no_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = no_config / "elsewhere"
    elsewhere.mkdir()
    path = write(elsewhere, '[environments.x]\nkind = "ephemeral"\nairflow_version = "2.11.0"\n')
    monkeypatch.setenv("MWAA_VERIFY_CONFIG", str(path))

    assert load_config().path == path


def test_unknown_environment_lists_the_known_names(no_config: Path) -> None:
    config = load_config(write(no_config, VALID.format(python=sys.executable)))

    with pytest.raises(UnknownEnvironmentError) as raised:
        config.environment("rehersal")

    assert "unknown environment 'rehersal'" in str(raised.value)
    assert "did you mean 'rehearsal'?" in str(raised.value)
    assert "defines: old, prod, rehearsal" in str(raised.value)


def test_unknown_environment_without_any_file_says_how_to_create_one(no_config: Path) -> None:
    config = load_config()

    with pytest.raises(UnknownEnvironmentError, match=r"no configuration file was found; create mwaa-verify.toml"):
        config.environment("prod")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[environments.a]\nkind = "kubernetes"\n',
            "unknown kind 'kubernetes'; kind must be one of 'local', 'ephemeral', 'container', 'mwaa'",
        ),
        ('[environments.a]\nkind = "ephemerl"\nairflow_version = "2.10.5"\n', "did you mean 'ephemeral'?"),
        ('[environments.a]\nairflow_version = "2.10.5"\n', "has no 'kind'"),
        ('[environments.a]\nkind = "mwaa"\n', "missing required key 'environment_name'"),
        (
            '[environments.a]\nkind = "ephemeral"\nairflow_version = "2.10.5"\nairflow_verison = "3"\n',
            "unknown key 'airflow_verison'",
        ),
        ('[environments.a]\nkind = "ephemeral"\nairflow_version = "3.1.0"\n', "3.1.0"),
        ('[environments.a]\nkind = "ephemeral"\nairflow_version = "latest"\n', "is not an Airflow version"),
        (
            '[environments.a]\nkind = "local"\npython = "/nonexistent/python"\nsql_alchemy_conn = "x"\n'
            'dags_folder = "dags"\n',
            "file /nonexistent/python does not exist",
        ),
        (
            '[environments.a]\nkind = "ephemeral"\nairflow_version = "2.10.5"\ndags_folder = "nowhere"\n',
            "does not exist; create it or fix the path",
        ),
        (
            '[environments.a]\nkind = "ephemeral"\nairflow_version = "2.10.5"\nrequirements = "boto3"\n',
            "must be a list of strings",
        ),
        (
            '[environments.a]\nkind = "ephemeral"\nairflow_version = "2.10.5"\nairflow_config = { timeout = "1" }\n',
            "must name an Airflow option as 'section.option'",
        ),
        ('[environments.a\nkind = "local"\n', "is not valid TOML"),
        ('environments = "prod"\n', "'environments' must be a table"),
    ],
    ids=[
        "unknown-kind",
        "kind-typo",
        "no-kind",
        "missing-key",
        "unknown-key",
        "unsupported-version",
        "not-a-version",
        "missing-python",
        "missing-dags-folder",
        "requirements-not-list",
        "option-without-section",
        "toml-syntax",
        "environments-not-table",
    ],
)
def test_each_mistake_gets_a_message_naming_the_key_and_the_fix(no_config: Path, text: str, expected: str) -> None:
    message = error_for(no_config, text)

    assert expected in message
    assert str(no_config / "mwaa-verify.toml") in message or "not valid TOML" in message


def test_missing_file_is_named_with_the_fix(no_config: Path) -> None:
    with pytest.raises(ConfigError, match=r"configuration file .*missing.toml does not exist; pass an existing"):
        load_config(no_config / "missing.toml")


def test_cli_reports_a_bad_config_in_one_line_without_traceback(no_config: Path, capsys) -> None:
    from mwaa_verify.cli import main

    write(no_config, '[environments.a]\nkind = "kubernetes"\n')

    exit_code = main(["envs"])

    err = capsys.readouterr().err
    assert exit_code == 2
    assert err.startswith("mwaa-verify: error: ") and "unknown kind 'kubernetes'" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_who_copies_the_task_logs_is_caller_or_environment(no_config: Path) -> None:
    assert load_config(write(no_config, '[verify]\nlogs_copied_by = "environment"\n')).logs_copied_by == "environment"
    assert load_config(write(no_config, "[verify]\n")).logs_copied_by == "caller"

    message = error_for(no_config, '[verify]\nlogs_copied_by = "agent"\n')

    assert message == (
        f"{no_config / 'mwaa-verify.toml'} [verify] logs_copied_by: 'agent' is not one of 'caller', 'environment'; "
        '"caller" when `mwaa-verify copy-logs` copies, "environment" when the new environment copies them'
    )
