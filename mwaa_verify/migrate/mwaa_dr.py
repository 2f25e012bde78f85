"""Backups made by mwaa-dr (PyPI `mwaa-dr`, AWS's MWAA backup and restore DAGs) as a row source.

A backup is one headerless CSV per table (`<table>.csv`, under `data/` by default): pipe-delimited, NULL as an
empty field, bytea as `\\x` + hex; `variable.csv` and `connection.csv` comma-delimited with their secrets in clear
text; `active_dag.csv` one dag_id a line. It records neither its Airflow version nor its columns, so the user
names the version and the columns come from mwaa-dr's own dr_factory for that line (airflow/mwaa_dr_layouts.json,
written by airflow/probes/mwaa_dr_probe.py from mwaa-dr itself); a file whose rows do not have that many fields
is refused. Rows are typed as the database would give them (aware datetimes, ints, bytes ...) and sorted by
natural key, so the parity engine and the import read them like a live database or an export.

mwaa-dr leaves rows out by design (task instances in a non-final state, default_pool, the backup DAG's own
rows): kept_rows() gives the same filters, read from mwaa-dr's export filters, for the other side of a parity check.
Everything a table holds is sorted in memory: a backup is read table by table, never all at once.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from mwaa_verify.airflow.column_map import MIGRATED_TABLES
from mwaa_verify.airflow.tables import NATURAL_KEYS
from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.environments.base import EnvironmentInfo
from mwaa_verify.errors import ExportError
from mwaa_verify.migrate.manifest import Manifest, TableEntry

csv.field_size_limit(1 << 30)  # rendered fields and xcom values can be large


@cache
def layouts() -> dict[str, Any]:
    return json.loads((resources.files("mwaa_verify") / "airflow" / "mwaa_dr_layouts.json").read_text("utf-8"))


def line_layout(airflow_version: str) -> dict[str, dict[str, Any]]:
    try:
        version = AirflowVersion.parse(airflow_version)
    except ValueError:
        raise ExportError(f"{airflow_version!r} is not an Airflow version; write it as X.Y.Z, e.g. 2.10.5") from None
    lines = layouts()["lines"]
    if version.line not in lines:
        raise ExportError(
            f"mwaa-dr {layouts()['mwaa_dr_version']} has no layout for Airflow {version}; it backs up Airflow "
            f"{', '.join(sorted(lines, key=_line_order))}"
        )
    return lines[version.line]


def _line_order(line: str) -> tuple[int, ...]:
    return tuple(int(part) for part in line.split("."))


class MwaaDrBackup:
    """One mwaa-dr backup folder, read as the Airflow version the user says it came from."""

    def __init__(self, root: Path, airflow_version: str, where: str) -> None:
        self.airflow_version = str(AirflowVersion.parse(airflow_version))
        self.where = where
        self.layout = line_layout(airflow_version)
        self.folder = root / "data" if (root / "data").is_dir() and not (root / "dag_run.csv").exists() else root
        present = [name for name in self.layout if (self.folder / f"{name}.csv").is_file()]
        if not present:
            raise ExportError(
                f"{where} holds no mwaa-dr backup file ({', '.join(f'{name}.csv' for name in sorted(self.layout))}); "
                f"point at the folder the backup DAG wrote (its data/ folder or the one above it)"
            )
        self.present = set(present)
        for name in sorted(self.present):
            self._check_columns(name)

    # -- files ------------------------------------------------------------------------------------------------

    def _records(self, table: str) -> Iterator[list[str]]:
        spec = self.layout[table]
        path = self.folder / f"{table}.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            if spec["delimiter"] == "\n":
                for line in handle:
                    if line.strip():
                        yield [line.rstrip("\r\n")]
                return
            yield from csv.reader(handle, delimiter=spec["delimiter"])

    def _check_columns(self, table: str) -> None:
        expected = len(self.layout[table]["columns"])
        for number, record in enumerate(self._records(table), start=1):
            if len(record) != expected:
                raise ExportError(
                    f"{self.where}: {table}.csv line {number} has {len(record)} fields, but mwaa-dr backs up "
                    f"{expected} columns of {table} on Airflow {self.airflow_version}: is airflow_version right?"
                )

    # -- rows ----------------------------------------------------------------------------------------------

    def tables(self) -> list[str]:
        found = {name for name in self.present if name != "active_dag"}
        return sorted(found | ({"dag"} if "active_dag" in self.present else set()))

    def rows(self, table: str) -> Iterator[dict[str, Any]]:
        if table == "dag" and "active_dag" in self.present:
            return iter(sorted(({"dag_id": r[0]} for r in self._records("active_dag")), key=lambda r: r["dag_id"]))
        if table not in self.present:
            raise ExportError(f"{self.where}: the mwaa-dr backup holds no {table}.csv")
        columns = self.layout[table]["columns"]
        types = layouts()["types"].get(table, {})
        rows = [
            {column: typed(types.get(column, "str"), field) for column, field in zip(columns, record, strict=False)}
            for record in self._records(table)
        ]
        key = [column for column in NATURAL_KEYS.get(table, ()) if column in columns] or columns
        rows.sort(key=lambda row: tuple((row.get(c) is None, "" if row.get(c) is None else row[c]) for c in key))
        return iter(rows)

    def kept_rows(self, table: str) -> Callable[[Mapping[str, Any]], bool] | None:
        if table == "dag":  # active_dag.csv: the DAGs that were active and unpaused, but mwaa-dr's own
            return _active_dag
        spec = self.layout.get(table)
        if spec is None:
            return None
        return sql_filter(spec["filter"]) if spec["filter"] else None

    def info(self, name: str) -> EnvironmentInfo:
        return EnvironmentInfo(name=name, kind="snapshot", airflow_version=self.airflow_version, python_version="")

    def as_manifest(self, name: str) -> Manifest:
        """The backup described as an export's manifest, for the import: secrets are in clear, like an export
        made with --include-secrets."""
        tables = {}
        for spec in MIGRATED_TABLES:
            if spec.name in self.present:
                path = self.folder / f"{spec.name}.csv"
                rows = sum(1 for _ in self._records(spec.name))
                tables[spec.name] = TableEntry(path.name, rows, hashlib.sha256(path.read_bytes()).hexdigest())
        return Manifest(
            source_name=name,
            source_kind="mwaa-dr",
            airflow_version=self.airflow_version,
            schema_revision=None,
            created_at="",
            since=None,
            secrets_included=True,
            tables=tables,
            not_exported={
                spec.name: "mwaa-dr does not back it up" for spec in MIGRATED_TABLES if spec.name not in tables
            },
        )


def _active_dag(row: Mapping[str, Any]) -> bool:
    """What ActiveDagTable.backup selects: NOT is_paused AND is_active (3.x: not is_stale), mwaa-dr's DAGs aside."""
    active = row["is_active"] if "is_active" in row else not row.get("is_stale")
    return (
        bool(active) and not row.get("is_paused") and row.get("dag_id") not in {"backup_metadata", "restore_metadata"}
    )


def typed(kind: str, field: str) -> Any:
    """A CSV field as the database column gives it: empty is NULL, bytea is \\x + hex."""
    if field == "":
        return None
    if kind == "datetime":
        value = datetime.fromisoformat(field)
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if kind == "int":
        return int(field)
    if kind == "float":
        return float(field)
    if kind == "bool":
        return field in {"True", "true", "t", "1"}
    if kind == "bytes":
        return bytes.fromhex(field[2:]) if field.startswith("\\x") else field.encode()
    if kind == "json":
        try:
            return json.loads(field)
        except json.JSONDecodeError:
            return field
    return field


_CLAUSE = re.compile(
    r"^\s*(?P<column>\w+)\s*(?:(?P<op>!=|<>|=)\s*'(?P<value>[^']*)'|(?P<neg>NOT\s+)?IN\s*\((?P<values>[^)]*)\))\s*$",
    re.IGNORECASE,
)


def sql_filter(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """A Python predicate for one of mwaa-dr's export filters (comparisons with literals joined by AND), with
    SQL's NULL logic: a NULL column satisfies no comparison, so the row is not exported."""
    checks: list[Callable[[Mapping[str, Any]], bool]] = []
    for clause in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(clause)
        if match is None:
            raise ExportError(f"mwaa-dr export filter {text!r} is not understood ({clause!r}); update mwaa-verify")
        column = match["column"]
        if match["op"]:
            value, equal = match["value"], match["op"] == "="
            checks.append(lambda row, c=column, v=value, e=equal: row.get(c) is not None and (row[c] == v) == e)
        else:
            values = {item.strip().strip("'") for item in match["values"].split(",")}
            inside = not match["neg"]
            checks.append(lambda row, c=column, vs=values, i=inside: row.get(c) is not None and (row[c] in vs) == i)
    return lambda row: all(check(row) for check in checks)
