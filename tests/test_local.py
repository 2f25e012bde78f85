"""The `local` kind: an Airflow someone already runs on this host, reached through its own interpreter,
database, DAGs folder and log folder. Here that Airflow is one the tests set up (the 2.10 environment)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mwaa_verify.config import LocalConfig
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import LocalEnvironment
from mwaa_verify.errors import MetadataError, ProbeError

pytestmark = pytest.mark.slow

SUITE = """
def test_reads_the_local_airflow(source_env):
    assert source_env.kind == "local"
    assert source_env.info().airflow_version == "{version}"
    report = source_env.dag_report()
    assert report.import_errors == {{}}
    assert "demo_etl" in report.dags
    task_ids = [row["task_id"] for row in source_env.rows("task_instance")]
    assert task_ids == ["extract", "extract", "load", "load", "transform", "transform"]
    assert len(list(source_env.task_logs())) == 6
"""


def local_config(airflow2: EphemeralEnvironment, **changes: object) -> LocalConfig:
    values = {
        "name": "self-managed",
        "python": airflow2.python,
        "sql_alchemy_conn": airflow2.sql_alchemy_conn,
        "dags_folder": airflow2.dags_folder,
        "base_log_folder": airflow2.base_log_folder,
    }
    values.update(changes)
    return LocalConfig(**values)  # type: ignore[arg-type]


def test_suite_reads_a_local_airflow_named_in_the_config(
    airflow2: EphemeralEnvironment, pytester: pytest.Pytester
) -> None:
    pytester.makefile(
        ".toml",
        **{
            "mwaa-verify": f"""
[environments.self-managed]
kind = "local"
python = "{airflow2.python}"
sql_alchemy_conn = "{airflow2.sql_alchemy_conn}"
dags_folder = "{airflow2.dags_folder}"
base_log_folder = "{airflow2.base_log_folder}"
"""
        },
    )
    pytester.makepyfile(test_local_suite=SUITE.format(version=airflow2.version))

    result = pytester.runpytest_subprocess("--source", "self-managed")

    result.assert_outcomes(passed=1)


def test_unreachable_database_is_one_message_without_the_password(airflow2: EphemeralEnvironment) -> None:
    config = local_config(airflow2, sql_alchemy_conn="postgresql+psycopg2://airflow:s3cr3t-pw@127.0.0.1:1/airflow")

    with LocalEnvironment(config) as environment, pytest.raises(MetadataError) as raised:
        list(environment.rows("dag_run"))

    message = str(raised.value)
    assert message.startswith("cannot connect to metadata database postgresql+psycopg2://airflow:***@127.0.0.1:1/")
    assert "check sql_alchemy_conn" in message
    assert "s3cr3t-pw" not in message


def test_python_without_airflow_is_named(airflow2: EphemeralEnvironment) -> None:
    config = local_config(airflow2, python=Path(sys.executable))

    with LocalEnvironment(config) as environment, pytest.raises(ProbeError) as raised:
        environment.dag_report()

    assert str(raised.value) == (
        f"environment 'self-managed': python {sys.executable} has no Airflow installed (No module named 'airflow'); "
        f"point 'python' at the interpreter of the Airflow installation (e.g. /opt/airflow/venv/bin/python)"
    )


def test_unknown_table_lists_the_versions_tables(airflow2: EphemeralEnvironment) -> None:
    with LocalEnvironment(local_config(airflow2)) as environment, pytest.raises(MetadataError) as raised:
        list(environment.rows("dag_version"))

    assert "table 'dag_version' does not exist" in str(raised.value)
    assert "task_instance" in str(raised.value)
