"""Import an export into a target of the same or a newer Airflow version.

Rows are turned into the target's schema (../shared/research/schema_2_10_to_3.md): execution_date becomes
logical_date, run_after is set, pickled conf and JSON-in-bytes xcom become JSON, surrogate ids are dropped
and references (dag_run ids, the log template, DAG versions) point at the target's own rows. Secrets are
encrypted with the target's key.

Safe to repeat and all-or-nothing: every table is upserted on its natural key inside one transaction, so a
second import changes nothing and a failed or killed one leaves the target's rows as they were. DAGs are
paused while the import runs, as the MWAA guide says, and their paused state restored afterwards; a journal
restores it should the import be killed before it could.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from mwaa_verify import progress
from mwaa_verify.airflow import column_map
from mwaa_verify.airflow.secrets import SECRET_COLUMNS, FernetKeys, decrypted, encrypted
from mwaa_verify.airflow.tables import TI_KEY
from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.config import default_cache_dir
from mwaa_verify.environments.base import Environment
from mwaa_verify.errors import ImportRefused, MetadataError
from mwaa_verify.migrate.export import airflow_schema_revision
from mwaa_verify.migrate.location import MANIFEST, Location, fetched_for_reading
from mwaa_verify.migrate.manifest import Manifest, decode_row
from mwaa_verify.migrate.mwaa_dr import MwaaDrBackup

BATCH_ROWS = 1000
# The unique key an upsert lands on, where it is not the table's natural key.
CONFLICT_KEYS: dict[str, tuple[str, ...]] = {
    "xcom": ("dag_run_id", "task_id", "map_index", "key"),
    "dag_run_note": ("dag_run_id",),
}
# Ids a target generates for itself: kept when a row is updated, so nothing that points at them breaks.
GENERATED_IDS = {"task_instance": "id", "task_instance_history": "task_instance_id"}
_EMPTY_EXECUTOR_CONFIG = pickle.dumps({})
# Rows that belong to a task instance (a foreign key on 3.x): importable only where that task instance is.
TI_CHILDREN = {"xcom", "task_map", "rendered_task_instance_fields"}


@dataclass
class TableImport:
    table: str
    rows_read: int = 0
    rows_written: int = 0
    not_migratable: int = 0
    not_migratable_examples: list[str] = field(default_factory=list)
    skipped: str | None = None


@dataclass
class ImportResult:
    tables: dict[str, TableImport]
    paused_dags: int
    dry_run: bool
    dags_missing_on_target: list[str]


def import_metadata(
    export: str | Path,
    target: Environment,
    dry_run: bool = False,
    journal_dir: Path | None = None,
    backup_format: str = "mwaa-verify",
    airflow_version: str | None = None,
    journal: _Journal | None = None,
) -> ImportResult:
    """`backup_format` "mwaa-dr": `export` is an mwaa-dr backup of Airflow `airflow_version`; `journal`: where
    the DAGs' paused state is kept while importing (default: a file under `journal_dir`)."""
    url = getattr(target, "sql_alchemy_conn", None)
    if not url:
        raise ImportRefused(
            f"environment {target.name!r} (kind {target.kind!r}) has no metadata database this tool can write; "
            f"import into a local or ephemeral environment"
        )
    if make_url(url).get_backend_name() != "postgresql":
        raise ImportRefused(f"environment {target.name!r}: import writes PostgreSQL metadata databases only")
    airflow_schema_revision(
        target, set(target.tables()), "run `airflow db migrate` with the target's own Airflow first"
    )
    backup = backup_format == "mwaa-dr"
    with fetched_for_reading(Location(str(export)), None if backup else MANIFEST) as directory:
        reader: ExportReader
        if backup:
            if airflow_version is None:
                raise ImportRefused("an mwaa-dr backup records no Airflow version; pass the backed-up one's")
            reader = MwaaDrBackup(directory, airflow_version, str(export))
            manifest = reader.as_manifest(str(export))
        else:
            manifest = Manifest.read(directory)
            manifest.verify(directory)
            reader = JsonLinesExport(directory, manifest)
        target_version = AirflowVersion.parse(target.info().airflow_version)
        source_version = AirflowVersion.parse(manifest.airflow_version)
        if target_version < source_version:
            raise ImportRefused(
                f"the export is from Airflow {source_version} and {target.name!r} runs {target_version}: imports "
                f"go to the same or a newer version only; choose a target on {source_version} or newer"
            )
        importer = _Importer(reader, manifest, target, url, dry_run)
        return importer.run(journal or _Journal(journal_dir or default_cache_dir() / "import-journals", url))


class ExportReader(Protocol):
    def rows(self, table: str) -> Iterator[dict[str, Any]]: ...


class JsonLinesExport:
    """The rows of an export made by `mwaa-verify export`, as they were exported."""

    def __init__(self, directory: Path, manifest: Manifest) -> None:
        self.directory = directory
        self.manifest = manifest

    def rows(self, table: str) -> Iterator[dict[str, Any]]:
        with (self.directory / self.manifest.tables[table].file).open(encoding="utf-8") as handle:
            for line in handle:
                yield decode_row(line)


class _Importer:
    def __init__(self, reader: ExportReader, manifest: Manifest, target: Environment, url: str, dry_run: bool) -> None:
        self.reader = reader
        self.manifest = manifest
        self.target = target
        self.dry_run = dry_run
        self.engine = sa.create_engine(make_url(url).set(drivername="postgresql+psycopg2"), poolclass=sa.pool.NullPool)
        self.metadata = sa.MetaData()
        self.run_ids: dict[tuple[str, str], int] = {}
        self.ti_keys: set[tuple[Any, ...]] | None = None  # known once task_instance is imported
        self.dag_versions: dict[str, Any] = {}
        self.log_template_id: int | None = None
        self._keys: FernetKeys | None = None
        self._existing_secrets: dict[str, dict[Any, dict[str, Any]]] = {}

    def run(self, journal: _Journal) -> ImportResult:
        try:
            with self.engine.connect() as connection:
                journal.restore_leftover(connection)
                paused = journal.pause_all(connection) if not self.dry_run else {}
                try:
                    result = self._import_all(connection, len(paused))
                finally:
                    if not self.dry_run:
                        journal.restore(connection, paused)
            return result
        except SQLAlchemyError as exc:
            raise MetadataError(
                f"import into {self.target.name!r} failed and was rolled back, the target is unchanged: "
                f"{str(exc).strip().splitlines()[0]}"
            ) from None
        finally:
            self.engine.dispose()

    def _import_all(self, connection: sa.Connection, paused: int) -> ImportResult:
        tables: dict[str, TableImport] = {}
        with connection.begin() as transaction:
            present = set(sa.inspect(connection).get_table_names())
            self._load_references(connection, present)
            for spec in column_map.MIGRATED_TABLES:
                outcome = TableImport(spec.name)
                tables[spec.name] = outcome
                if spec.name not in self.manifest.tables:
                    outcome.skipped = self.manifest.not_exported.get(spec.name, "not in the export")
                elif spec.name not in present:
                    outcome.skipped = spec.removed_in_3 or f"the target has no {spec.name} table"
                elif spec.name in SECRET_COLUMNS and not self.manifest.secrets_included:
                    outcome.skipped = "the export was made without --include-secrets; export again with it"
                else:
                    with progress.step(f"{self.target.name}: importing {spec.name}"):
                        self._import_table(connection, spec, outcome)
                exported = self.manifest.tables.get(spec.name)
                if outcome.skipped and exported is not None:
                    outcome.rows_read = exported.rows  # what was not imported is counted, never shown as 0
                if spec.name == "dag_run":
                    self._load_run_ids(connection)
                if spec.name == "task_instance":
                    self._load_ti_keys(connection)
            if self.dry_run:
                transaction.rollback()
        missing = (
            sorted({dag_id for dag_id, _ in self.run_ids} - set(self.dag_versions)) if "dag_version" in present else []
        )
        return ImportResult(tables, paused, self.dry_run, missing)

    # -- references to the target's own rows --------------------------------------------------------

    def _load_references(self, connection: sa.Connection, present: set[str]) -> None:
        self.log_template_id = connection.execute(sa.text("SELECT max(id) FROM log_template")).scalar()
        if "dag_version" in present:
            latest = connection.execute(
                sa.text("SELECT DISTINCT ON (dag_id) dag_id, id FROM dag_version ORDER BY dag_id, version_number DESC")
            )
            self.dag_versions = dict(latest.all())
        self._load_run_ids(connection)

    def _load_run_ids(self, connection: sa.Connection) -> None:
        rows = connection.execute(sa.text("SELECT dag_id, run_id, id FROM dag_run"))
        self.run_ids = {(dag_id, run_id): run_pk for dag_id, run_id, run_pk in rows}

    def _load_ti_keys(self, connection: sa.Connection) -> None:
        rows = connection.execute(sa.text("SELECT dag_id, task_id, run_id, map_index FROM task_instance"))
        self.ti_keys = {tuple(row) for row in rows}

    def _table(self, connection: sa.Connection, name: str) -> sa.Table:
        if name not in self.metadata.tables:
            sa.Table(name, self.metadata, autoload_with=connection)
        return self.metadata.tables[name]

    def _fernet(self) -> FernetKeys:
        if self._keys is None:
            self._keys = self.target.fernet_keys()
        return self._keys

    # -- one table ----------------------------------------------------------------------------------

    def _import_table(self, connection: sa.Connection, spec: column_map.TableSpec, outcome: TableImport) -> None:
        table = self._table(connection, spec.name)
        batch: list[dict[str, Any]] = []
        for raw in self._exported_rows(spec.name):
            outcome.rows_read += 1
            row, problem = self._target_row(spec.name, raw, table)
            if row is None:
                outcome.not_migratable += 1
                if len(outcome.not_migratable_examples) < 20:
                    key = ", ".join(f"{column}={raw.get(column)!r}" for column in spec.natural_key)
                    outcome.not_migratable_examples.append(f"{key}: {problem}")
                continue
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                outcome.rows_written += self._write(connection, spec, table, batch)
                batch = []
        if batch:
            outcome.rows_written += self._write(connection, spec, table, batch)

    def _exported_rows(self, table: str) -> Iterator[dict[str, Any]]:
        return self.reader.rows(table)

    def _target_row(self, name: str, raw: dict[str, Any], table: sa.Table) -> tuple[dict[str, Any] | None, str]:
        canonical = column_map.canonical_row(name, raw)
        unreadable = [column for column, value in canonical.items() if value == column_map.NOT_MIGRATABLE]
        if unreadable:
            return None, f"{', '.join(unreadable)} holds a pickled or unreadable value (not migratable)"
        columns = {column.name: column for column in table.columns}
        row: dict[str, Any] = {}
        for column_name, column in columns.items():
            canonical_column = column_map.canonical_name(name, column_name)
            if column_map.is_local(name, canonical_column) or canonical_column not in canonical:
                continue
            binary = isinstance(column.type, sa.LargeBinary)
            row[column_name] = column_map.stored_value(name, canonical_column, canonical[canonical_column], binary)
        problem = self._fill_local_columns(name, row, canonical, columns)
        if problem:
            return None, problem
        if name in SECRET_COLUMNS:
            row = self._stored_secrets(name, row, table)
        return row, ""

    def _stored_secrets(self, name: str, row: dict[str, Any], table: sa.Table) -> dict[str, Any]:
        """Encrypt for the target; where the target already holds the same clear text, keep its ciphertext
        (Fernet tokens differ on every encryption), so importing again changes nothing."""
        key_column = column_map.SPECS[name].natural_key[0]
        if name not in self._existing_secrets:
            with self.engine.connect() as connection:
                self._existing_secrets[name] = {
                    existing[key_column]: decrypted(name, existing, self._fernet()) | {"stored": dict(existing)}
                    for existing in connection.execute(sa.select(table)).mappings()
                }
        fresh = encrypted(name, row, self._fernet())
        existing = self._existing_secrets[name].get(row.get(key_column))
        for column, flag in SECRET_COLUMNS[name].items():
            if existing is not None and column in row and existing.get(column) == row[column]:
                fresh[column], fresh[flag] = existing["stored"][column], existing["stored"][flag]
        return fresh

    def _fill_local_columns(
        self, name: str, row: dict[str, Any], canonical: dict[str, Any], columns: dict[str, sa.Column]
    ) -> str | None:
        """Point the row's references at the target's own rows; a reason when it cannot be."""
        if name == "dag_run":
            if "run_after" in columns and row.get("run_after") is None:
                row["run_after"] = canonical.get("logical_date") or canonical.get("data_interval_end")
            if "log_template_id" in columns:
                row["log_template_id"] = self.log_template_id
            if "created_dag_version_id" in columns:
                row["created_dag_version_id"] = self.dag_versions.get(canonical["dag_id"])
        if name in {"task_instance", "task_instance_history"}:
            if "dag_version_id" in columns:
                row["dag_version_id"] = self.dag_versions.get(canonical["dag_id"])
            if "executor_config" in columns:
                row["executor_config"] = _EMPTY_EXECUTOR_CONFIG
        if name in GENERATED_IDS and GENERATED_IDS[name] in columns:
            row[GENERATED_IDS[name]] = uuid7()
        if name in TI_CHILDREN and self.ti_keys is not None:
            key = tuple(canonical.get(column) for column in TI_KEY)
            if key not in self.ti_keys:
                return f"its task instance {'/'.join(map(str, key))} is not on the target (not in the export)"
        if "dag_run_id" in columns and name in {"xcom", "dag_run_note"}:
            run_pk = self.run_ids.get((canonical["dag_id"], canonical["run_id"]))
            if run_pk is None:
                return f"its DAG run {canonical['dag_id']}/{canonical['run_id']} is not on the target"
            row["dag_run_id"] = run_pk
        if name == "task_instance_note" and "ti_id" in columns:
            row["ti_id"] = ("ti_lookup", tuple(canonical[column] for column in TI_KEY))
        return None

    def _write(
        self, connection: sa.Connection, spec: column_map.TableSpec, table: sa.Table, batch: list[dict[str, Any]]
    ) -> int:
        if spec.name == "task_instance_note" and "ti_id" in table.c:
            batch = self._resolve_ti_ids(connection, batch)
        conflict = self._conflict_columns(spec, table)
        if conflict is None:
            return self._insert_absent(connection, spec, table, batch)
        statement = postgresql.insert(table)
        keep = set(conflict) | {GENERATED_IDS.get(spec.name, "")}
        updates = {column: statement.excluded[column] for column in batch[0] if column not in keep}
        statement = (
            statement.on_conflict_do_update(index_elements=list(conflict), set_=updates)
            if updates
            else statement.on_conflict_do_nothing(index_elements=list(conflict))
        )
        connection.execute(statement, _uniform(batch))
        return len(batch)

    def _resolve_ti_ids(self, connection: sa.Connection, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        task_instance = self._table(connection, "task_instance")
        resolved = []
        for row in batch:
            key = row["ti_id"][1]
            ti_id = connection.execute(
                sa.select(task_instance.c.id).where(
                    *(task_instance.c[c] == v for c, v in zip(TI_KEY, key, strict=True))
                )
            ).scalar()
            if ti_id is not None:
                resolved.append({**row, "ti_id": ti_id})
        return resolved

    def _conflict_columns(self, spec: column_map.TableSpec, table: sa.Table) -> tuple[str, ...] | None:
        if spec.kind == "append_only":
            return None
        wanted = CONFLICT_KEYS.get(spec.name)
        if spec.name == "task_instance_note" and "ti_id" in table.c:
            wanted = ("ti_id",)
        wanted = wanted or tuple(
            column_map.version_name(spec.name, c, set(table.c.keys())) or c for c in spec.natural_key
        )
        return wanted if set(wanted) in _unique_column_sets(table) else None

    def _insert_absent(
        self, connection: sa.Connection, spec: column_map.TableSpec, table: sa.Table, batch: list[dict[str, Any]]
    ) -> int:
        """Tables without a unique natural key (log, job): insert the rows the target does not have yet."""
        batch = _uniform(batch)
        columns = list(batch[0])
        stage = sa.Table(
            f"mwaa_verify_stage_{secrets.token_hex(4)}",
            sa.MetaData(),
            *(sa.Column(column, table.c[column].type) for column in columns),
            prefixes=["TEMPORARY"],
        )
        stage.create(connection)
        try:
            connection.execute(stage.insert(), batch)
            key = [column_map.version_name(spec.name, c, set(table.c.keys())) for c in spec.natural_key]
            matches = [table.c[c].is_not_distinct_from(stage.c[c]) for c in key if c and c in stage.c]
            absent = ~sa.exists().where(*matches)
            inserted = connection.execute(
                table.insert().from_select(columns, sa.select(*(stage.c[c] for c in columns)).where(absent))
            )
            return inserted.rowcount
        finally:
            stage.drop(connection)


def _unique_column_sets(table: sa.Table) -> list[set[str]]:
    """The column sets an ON CONFLICT can name: the primary key, unique constraints, unique indexes."""
    unique = [table.primary_key, *(c for c in table.constraints if isinstance(c, sa.UniqueConstraint))]
    unique += [index for index in table.indexes if index.unique]
    return [{column.name for column in item.columns} for item in unique]


def _uniform(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """executemany needs every row to name the same columns."""
    columns = {column for row in batch for column in row}
    return [{column: row.get(column) for column in columns} for row in batch]


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7), as Airflow 3 gives its task instances."""
    milliseconds = time.time_ns() // 1_000_000
    value = (milliseconds & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big") & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant
    return uuid.UUID(int=value)


class _Journal:
    """The DAGs' paused state before an import paused them, kept on disk until it is restored."""

    def __init__(self, directory: Path, url: str) -> None:
        self.path = directory / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.json"

    def _read(self) -> dict[str, bool] | None:
        return json.loads(self.path.read_text(encoding="utf-8")) if self.path.exists() else None

    def _write(self, states: dict[str, bool]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(states), encoding="utf-8")

    def _clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def restore_leftover(self, connection: sa.Connection) -> None:
        previous = self._read()
        if previous is not None:
            progress.say(f"restoring the paused state an interrupted import left on {len(previous)} DAGs")
            self.restore(connection, previous)

    def pause_all(self, connection: sa.Connection) -> dict[str, bool]:
        with connection.begin():
            previous = dict(connection.execute(sa.text("SELECT dag_id, is_paused FROM dag")).all())
            self._write(previous)
            connection.execute(sa.text("UPDATE dag SET is_paused = true"))
        if previous:
            progress.say(f"paused {len(previous)} DAGs on the target while importing")
        return previous

    def restore(self, connection: sa.Connection, previous: dict[str, bool]) -> None:
        if connection.in_transaction():
            connection.rollback()
        with connection.begin():
            for paused in (True, False):
                dag_ids = [dag_id for dag_id, state in previous.items() if state is paused]
                if dag_ids:
                    connection.execute(
                        sa.text("UPDATE dag SET is_paused = :paused WHERE dag_id = ANY(:ids)"),
                        {"paused": paused, "ids": dag_ids},
                    )
        self._clear()


Journal = _Journal  # what an import keeps to restore the DAGs' paused state; the MWAA agent keeps it in S3
