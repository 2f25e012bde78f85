"""The agent zip: one DAG file at its root (the only file Airflow parses as a DAG), the mwaa_verify modules the
agent's task imports beneath it, and nothing else of the package (no CLI, plugin, suites or other kinds); the
agent's settings in mwaa-verify.toml."""

from __future__ import annotations

import ast
import io
import zipfile
from pathlib import Path

import pytest

from mwaa_verify.config import load_config
from mwaa_verify.environments.mwaa_agent import agent_zip, bundled_modules
from mwaa_verify.errors import ConfigError


def test_the_zip_holds_one_root_dag_file_and_the_modules_the_agent_imports() -> None:
    archive = zipfile.ZipFile(io.BytesIO(agent_zip("mwaa_verify_agent_0a1b2c3d", "0a1b2c3d")))
    names = archive.namelist()

    assert [name for name in names if "/" not in name] == ["mwaa_verify_agent_0a1b2c3d.py"]
    dag_file = archive.read("mwaa_verify_agent_0a1b2c3d.py").decode()
    ast.parse(dag_file)
    assert "dag_id='mwaa_verify_agent_0a1b2c3d'" in dag_file and "'0a1b2c3d'" in dag_file
    assert "import mwaa_verify" not in dag_file.split("def _agent")[0]  # nothing of ours while it is parsed
    modules = {name for name in names if "/" in name}
    assert modules == set(bundled_modules())
    for needed in ("agent/task.py", "agent/database.py", "migrate/export.py", "migrate/import_.py",
                   "airflow/column_map.py", "airflow/secrets.py", "environments/metadata_db.py"):  # fmt: skip
        assert f"mwaa_verify/{needed}" in modules
    for never in ("cli.py", "plugin.py", "environments/mwaa.py", "environments/ephemeral.py", "report/console.py"):
        assert f"mwaa_verify/{never}" not in modules


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('staging = "migration/staging"', "is not an S3 location; write it as s3://bucket/prefix"),
        ('staging = "s3://Bad_Bucket/x"', "is not a valid S3 bucket name"),
        ("agent_timeout = -5", "agent_timeout must be a positive number of seconds"),
    ],
)
def test_bad_agent_settings_are_one_line_naming_the_fix(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "mwaa-verify.toml"
    path.write_text(f'[environments.prod]\nkind = "mwaa"\nenvironment_name = "prod"\n{line}\n')

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_agent_settings_are_read(tmp_path: Path) -> None:
    path = tmp_path / "mwaa-verify.toml"
    path.write_text('[environments.prod]\nkind = "mwaa"\nenvironment_name = "prod"\n'
                    'staging = "s3://migration/staging/"\nagent_timeout = 900\n')  # fmt: skip

    config = load_config(path).environment("prod")

    assert (config.staging, config.agent_timeout) == ("s3://migration/staging", 900.0)  # type: ignore[union-attr]
