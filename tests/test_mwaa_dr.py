"""mwaa-dr backups as a source: a backup made by the real mwaa-dr code (PyPI mwaa-dr, its table backup() functions
with local storage, as its backup DAG runs them) of a real Airflow 2.10 environment is verified against that
environment (passes, with mwaa-dr's own filters applied to the live side), against a changed copy (caught), refused
when read as the wrong Airflow version, and imported into a real Airflow 3.x target."""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import junit_outcomes
from mwaa_verify.airflow.versions import DEMO_SOURCE_VERSION, DEMO_TARGET_VERSION
from mwaa_verify.config import EphemeralConfig, SnapshotConfig
from mwaa_verify.demo import seed_source
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import PROBES, local_config_toml
from mwaa_verify.environments.snapshot import SnapshotEnvironment
from mwaa_verify.errors import ExportError
from mwaa_verify.migrate.import_ import import_metadata
from mwaa_verify.migrate.mwaa_dr import layouts
from mwaa_verify.verification import run_verification

pytestmark = pytest.mark.slow

MWAA_DR = "mwaa-dr==2.2.0"
SECRETS = {"password": "pw-Dr42-not-for-reports", "api_key": "key-Dr42-not-for-reports"}


@pytest.fixture(scope="module")
def source(cache_dir: Path, ready_dags: Path) -> Iterator[EphemeralEnvironment]:
    """Airflow 2.10 with mwaa-dr installed, history, and a task instance still waiting to run (which mwaa-dr
    does not back up)."""
    config = EphemeralConfig(
        name="source", airflow_version=DEMO_SOURCE_VERSION, dags_folder=ready_dags, requirements=(MWAA_DR,)
    )
    with EphemeralEnvironment(config, cache_dir) as environment:
        seed_source(environment, SECRETS)
        environment.parse_dags()
        for dag_id in ("demo_etl", "demo_mapped", "demo_retry", "demo_failing"):
            environment.run_dag(dag_id, date(2024, 3, 1), date(2024, 3, 2))
        with _writer(environment) as connection:
            # cleared to run again (Airflow deletes a cleared task instance's xcom), and two DAGs unpaused
            ti = "dag_id = 'demo_etl' AND task_id = 'load' AND run_id LIKE '%2024-03-02%'"
            connection.execute(sa.text(f"UPDATE task_instance SET state = 'scheduled' WHERE {ti}"))
            connection.execute(sa.text(f"DELETE FROM xcom WHERE {ti}"))
            connection.execute(sa.text("UPDATE dag SET is_paused = false WHERE dag_id IN ('demo_etl', 'demo_mapped')"))
        yield environment


@pytest.fixture(scope="module")
def backup(source: EphemeralEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mwaa-dr's own backup code run in the source's interpreter; it writes under $AIRFLOW_HOME/dags/<prefix>."""
    assert source.airflow_home is not None
    (source.airflow_home / "dags").mkdir(exist_ok=True)
    source.run([str(PROBES / "mwaa_dr_probe.py"), "backup", "--prefix", "data", "--version", "2_10"], 600, "mwaa-dr")
    folder = tmp_path_factory.mktemp("mwaa-dr") / "backup"
    shutil.copytree(source.airflow_home / "dags" / "data", folder / "data")
    return folder


def _writer(environment: EphemeralEnvironment):
    return sa.create_engine(environment.sql_alchemy_conn, poolclass=sa.pool.NullPool).begin()


def _config(folder: Path, live: EphemeralEnvironment, backup: Path, version: str = DEMO_SOURCE_VERSION) -> Path:
    path = folder / "mwaa-verify.toml"
    path.write_text(
        local_config_toml(live)
        + f'\n[environments.dr]\nkind = "snapshot"\nformat = "mwaa-dr"\nairflow_version = "{version}"\n'
        f"location = {json.dumps(str(backup))}\n",
        encoding="utf-8",
    )
    return path


def _failed(run) -> dict[str, str]:
    return {name: text for name, text in junit_outcomes(run.junit).items() if text not in (None, "SKIPPED")}


def test_the_column_layouts_are_mwaa_drs_own(source: EphemeralEnvironment, tmp_path: Path) -> None:
    """airflow/mwaa_dr_layouts.json is what the installed mwaa-dr's dr_factory modules say, line by line."""
    out = tmp_path / "layouts.json"

    source.run([str(PROBES / "mwaa_dr_probe.py"), "layouts", "--out", str(out)], 300, "reading mwaa-dr's layouts")

    assert json.loads(out.read_text()) == layouts()


def test_the_backup_is_what_mwaa_dr_writes(backup: Path) -> None:
    files = sorted(path.name for path in (backup / "data").iterdir())
    assert {"dag_run.csv", "task_instance.csv", "variable.csv", "connection.csv", "active_dag.csv"} <= set(files)
    first = (backup / "data" / "task_instance.csv").read_text().splitlines()[0]
    assert len(next(csv.reader([first], delimiter="|"))) == len(layouts()["lines"]["2.10"]["task_instance"]["columns"])
    assert "scheduled" not in (backup / "data" / "task_instance.csv").read_text()
    assert "default_pool" not in (backup / "data" / "slot_pool.csv").read_text()
    assert sorted((backup / "data" / "active_dag.csv").read_text().split()) == ["demo_etl", "demo_mapped"]


def test_the_backup_verifies_against_its_environment(source: EphemeralEnvironment, backup: Path, tmp_path: Path):
    config = _config(tmp_path, source, backup)

    run = run_verification("source", "dr", tmp_path / "reports", config, tmp_path, ("metadata_parity",))

    assert run.exit_code == 0 and not _failed(run), run.output[-6000:]
    outcomes = junit_outcomes(run.junit)
    for table in ("dag_run", "task_instance", "variable", "connection", "slot_pool", "xcom", "log", "job"):
        assert outcomes[f"test_table_rows_match[{table}]"] is None, table
    assert SECRETS["password"] not in run.output


def test_a_changed_backup_is_caught_by_its_table(source: EphemeralEnvironment, backup: Path, tmp_path: Path) -> None:
    changed = tmp_path / "changed"
    shutil.copytree(backup, changed)
    instances = changed / "data" / "task_instance.csv"
    lines = instances.read_text().splitlines(keepends=True)
    instances.write_text("".join(line for line in lines if not line.startswith("demo_retry|")))
    variables = changed / "data" / "variable.csv"
    variables.write_text(variables.read_text().replace("analytics", "staging"))
    config = _config(tmp_path, source, changed)

    run = run_verification("source", "dr", tmp_path / "reports", config, tmp_path, ("metadata_parity",))

    failed = _failed(run)
    assert set(failed) == {"test_table_rows_match[task_instance]", "test_table_rows_match[variable]"}, run.output[
        -4000:
    ]
    assert "demo_retry" in failed["test_table_rows_match[task_instance]"]
    assert "staging" not in run.output


def test_a_backup_read_as_the_wrong_version_is_refused_in_one_line(backup: Path) -> None:
    with (
        pytest.raises(ExportError) as refused,
        SnapshotEnvironment(SnapshotConfig("dr", str(backup), format="mwaa-dr", airflow_version="2.4.3")),
    ):
        pass

    message = str(refused.value)
    assert "fields, but mwaa-dr backs up" in message and "2.4.3" in message and "\n" not in message


def test_the_backup_imports_into_airflow_3(cache_dir: Path, ready_dags: Path, backup: Path, tmp_path: Path) -> None:
    config = EphemeralConfig(name="target", airflow_version=DEMO_TARGET_VERSION, dags_folder=ready_dags)
    with EphemeralEnvironment(config, cache_dir) as target:
        target.parse_dags()

        result = import_metadata(
            backup, target, journal_dir=Path(tempfile.mkdtemp()), backup_format="mwaa-dr",
            airflow_version=DEMO_SOURCE_VERSION,
        )  # fmt: skip

        assert all(outcome.not_migratable == 0 for outcome in result.tables.values()), result
        assert result.tables["task_instance"].rows_written > 0 and result.tables["variable"].rows_written == 3
        run = run_verification(
            "dr", "target", tmp_path / "reports", _config(tmp_path, target, backup), tmp_path, ("metadata_parity",)
        )
        failed = _failed(run)
        assert not failed, run.output[-6000:]
