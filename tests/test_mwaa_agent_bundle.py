"""The agent zip: one DAG file at its root (the only file Airflow parses as a DAG), the mwaa_verify modules the
agent's task imports beneath it, and nothing else of the package (no CLI, plugin, suites or other kinds)."""

from __future__ import annotations

import ast
import io
import zipfile

from mwaa_verify.environments.mwaa_agent import agent_zip, bundled_modules


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
