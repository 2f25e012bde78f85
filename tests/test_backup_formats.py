"""Reading backup formats without Airflow: mwaa-dr's CSV fields as typed values, its export filters with SQL's
NULL logic, and the snapshot kind's configuration (one line per mistake)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mwaa_verify.config import SnapshotConfig, load_config
from mwaa_verify.errors import ConfigError
from mwaa_verify.migrate.mwaa_dr import layouts, line_layout, sql_filter, typed


def test_fields_are_typed_as_the_database_gives_them() -> None:
    assert typed("datetime", "2024-03-01 00:00:00+00:00") == datetime(2024, 3, 1, tzinfo=UTC)
    assert typed("int", "42") == 42 and typed("float", "1.5") == 1.5 and typed("bool", "False") is False
    assert typed("bytes", "\\x80047d942e") == b"\x80\x04}\x94."
    assert typed("str", "") is None and typed("int", "") is None


def test_export_filters_keep_what_mwaa_dr_keeps_with_sql_null_logic() -> None:
    final = sql_filter(line_layout("2.10.5")["task_instance"]["filter"])
    pools = sql_filter("pool != 'default_pool'")

    assert final({"state": "success"}) and final({"state": "failed"})
    assert not final({"state": "running"}) and not final({"state": "up_for_retry"})
    assert not final({"state": None})  # NOT IN with NULL is not true: mwaa-dr does not export it
    assert pools({"pool": "etl"}) and not pools({"pool": "default_pool"})
    assert not sql_filter("dag_id != 'backup_metadata'")({"dag_id": None})


def test_every_line_mwaa_dr_knows_has_a_layout_and_2_11_reuses_2_10() -> None:
    lines = layouts()["lines"]

    assert sorted(lines, key=lambda line: tuple(map(int, line.split(".")))) == [
        "2.4", "2.5", "2.6", "2.7", "2.8", "2.9", "2.10", "2.11",
    ]  # fmt: skip
    assert lines["2.11"] == lines["2.10"]
    for line in lines.values():
        for spec in line.values():
            if spec["filter"]:
                sql_filter(spec["filter"])  # every filter is understood


def test_a_snapshot_environment_is_configured_by_location(tmp_path: Path) -> None:
    (tmp_path / "snap").mkdir()
    path = tmp_path / "mwaa-verify.toml"
    path.write_text(
        '[environments.before]\nkind = "snapshot"\nlocation = "snap"\n'
        '[environments.dr]\nkind = "snapshot"\nlocation = "s3://b/p"\nformat = "mwaa-dr"\nairflow_version = "2.10.5"\n'
    )

    config = load_config(path)

    assert config.environments["before"] == SnapshotConfig("before", str(tmp_path / "snap"))
    assert config.environments["dr"] == SnapshotConfig("dr", "s3://b/p", "mwaa-dr", "2.10.5")


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ('kind = "snapshot"\nlocation = "missing"', "directory"),
        ('kind = "snapshot"\nlocation = "s3://b/p"\nformat = "mwaa-dr"', "add airflow_version"),
        ('kind = "snapshot"\nlocation = "s3://b/p"\nformat = "mwaa_dr"', "did you mean 'mwaa-dr'"),
    ],
)
def test_snapshot_mistakes_are_one_line(tmp_path: Path, table: str, fragment: str) -> None:
    path = tmp_path / "mwaa-verify.toml"
    path.write_text(f"[environments.x]\n{table}\n")

    with pytest.raises(ConfigError) as refused:
        load_config(path)

    assert fragment in str(refused.value) and "\n" not in str(refused.value)
