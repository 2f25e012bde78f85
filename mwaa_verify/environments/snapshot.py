"""A snapshot served through the Environment interface: the "before" side of an in-place upgrade.

Read-only by construction: it has nothing to write to, and every method that would write refuses in one line.
Opening it checks every file against `snapshot.json` (sha256), so a snapshot changed after it was taken is
refused, naming the file. Rows come back exactly as the environment gave them when the snapshot was taken
(natural-key order, the same Python types: aware datetimes, JSON as dicts and lists, bytes, UUIDs), so the
parity engine reads a snapshot as it reads a live database, across Airflow versions through the same
version-neutral form. An mwaa-dr backup (`format = "mwaa-dr"`) is served the same way, from its CSV files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from mwaa_verify.airflow import tables as airflow_tables
from mwaa_verify.airflow.secrets import OPTION_DIGESTS, SECRET_COLUMNS, FernetKeys
from mwaa_verify.config import SnapshotConfig
from mwaa_verify.environments.base import DagReport, Environment, EnvironmentInfo, ExecutionRole, TaskLog
from mwaa_verify.errors import ExportError, MetadataError, MwaaVerifyError
from mwaa_verify.migrate import snapshot as layout
from mwaa_verify.migrate.location import SNAPSHOT_MANIFEST, Location, fetched_for_reading
from mwaa_verify.migrate.manifest import Manifest, read_exported_rows


class ReadOnlySnapshot(MwaaVerifyError):
    """Something tried to write to a snapshot."""


class SnapshotEnvironment(Environment):
    def __init__(self, config: SnapshotConfig) -> None:
        self.name = config.name
        self.kind = "snapshot"
        self.config = config
        self._stack: ExitStack | None = None
        self._root: Path | None = None
        self._manifest: layout.SnapshotManifest | None = None
        self._metadata: Manifest | None = None
        self._backup: Any = None  # an mwaa-dr backup, for format = "mwaa-dr"

    # -- opening: fetch, then check every file against the manifest ----------------------------------------

    def start(self) -> None:
        if self._root is not None:
            return
        self._stack = ExitStack()
        try:
            if self.config.format == "mwaa-dr":
                from mwaa_verify.migrate.mwaa_dr import MwaaDrBackup

                root = self._stack.enter_context(fetched_for_reading(Location(self.config.location), None))
                assert self.config.airflow_version is not None
                self._backup = MwaaDrBackup(root, self.config.airflow_version, str(self.config.location))
                self._root = root
                return
            root = self._stack.enter_context(fetched_for_reading(Location(self.config.location), SNAPSHOT_MANIFEST))
            self._manifest = verified_snapshot(root, str(self.config.location))
            if self._manifest.secret_digest_key:
                OPTION_DIGESTS.rekey(bytes.fromhex(self._manifest.secret_digest_key))
            if (root / layout.METADATA_DIR / "manifest.json").is_file():
                self._metadata = Manifest.read(root / layout.METADATA_DIR)
            self._root = root
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
        self._root = None

    @property
    def root(self) -> Path:
        self.start()
        assert self._root is not None
        return self._root

    @property
    def manifest(self) -> layout.SnapshotManifest:
        self.start()
        if self._manifest is None:
            raise MwaaVerifyError(f"environment {self.name!r} is an mwaa-dr backup: it has no snapshot manifest")
        return self._manifest

    def _json(self, name: str) -> Any:
        path = self.root / name
        if not path.is_file():
            why = self.manifest.missing.get(name, "it was not taken")
            raise MwaaVerifyError(f"snapshot {self.name!r} holds no {name}: {why}")
        return json.loads(path.read_text(encoding="utf-8"))

    # -- the Environment interface -------------------------------------------------------------------------

    def info(self) -> EnvironmentInfo:
        self.start()
        if self._backup is not None:
            return self._backup.info(self.name)
        return layout.info_from_json(self._json(layout.INFO_FILE), self.name)

    def dag_report(self) -> DagReport:
        self.start()
        if self._backup is not None:
            raise MwaaVerifyError(
                f"environment {self.name!r} is an mwaa-dr backup: it holds metadata only, no DAG report; "
                f"run the metadata_parity suite against it (--suite metadata_parity)"
            )
        return DagReport.from_json(self._json(layout.DAG_REPORT_FILE))

    def tables(self) -> list[str]:
        self.start()
        if self._backup is not None:
            return self._backup.tables()
        return sorted(self._metadata.tables) if self._metadata is not None else []

    def rows(self, table: str, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        self.start()
        rows = self._backup.rows(table) if self._backup is not None else self._exported_rows(table)
        if since is None:
            return rows
        return self._windowed(table, rows, since)

    def _exported_rows(self, table: str) -> Iterator[dict[str, Any]]:
        if self._metadata is None or table not in self._metadata.tables:
            why = self.manifest.missing.get(layout.METADATA_DIR, f"the source had no {table} table")
            raise MetadataError(f"snapshot {self.name!r} holds no {table} rows: {why}")
        path = self.root / layout.METADATA_DIR / self._metadata.tables[table].file
        digested = set(SECRET_COLUMNS.get(table, {})) if self._metadata.secrets_as_digests else set()
        return read_exported_rows(path, digested)

    def _windowed(self, table: str, rows: Iterator[dict[str, Any]], since: datetime) -> Iterator[dict[str, Any]]:
        return windowed(table, rows, since, lambda: self.rows("dag_run", since))

    def schema_revision(self) -> str | None:
        self.start()
        return self._metadata.schema_revision if self._metadata is not None else None

    def task_logs(self, since: datetime | None = None) -> Iterator[TaskLog]:
        self.start()
        if self._backup is not None:
            return iter(())
        path = self.root / layout.LOG_INDEX_FILE
        if not path.is_file():
            why = self.manifest.missing.get(layout.LOG_INDEX_FILE, "it was not taken")
            raise MwaaVerifyError(f"snapshot {self.name!r} holds no task log index: {why}")
        logs = layout.task_logs_from_index(path)
        if since is None:
            return logs
        runs = {(row["dag_id"], row["run_id"]) for row in self.rows("dag_run", since)}
        return (log for log in logs if (log.dag_id, log.run_id) in runs)

    def holds_task_log_content(self) -> bool:
        self.start()
        return self._backup is None and self.manifest.logs_included

    def read_task_log(self, log: TaskLog) -> bytes:
        if not self.holds_task_log_content():
            raise MwaaVerifyError(
                f"snapshot {self.name!r} holds task log digests only (taken without --include-logs): it can "
                f"verify logs, not give them back"
            )
        return layout.log_file(self.root, log.name).read_bytes()

    def execution_role(self) -> ExecutionRole | None:
        self.start()
        if self._backup is not None:
            return None
        return layout.role_from_json(self._json(layout.ROLE_FILE))

    def platform_settings(self) -> Mapping[str, str] | None:
        self.start()
        if self._backup is not None or not (self.root / layout.PLATFORM_FILE).is_file():
            return None
        return self._json(layout.PLATFORM_FILE)

    def mwaa_description(self) -> Mapping[str, Any] | None:
        self.start()
        if self._backup is not None or not (self.root / layout.DESCRIPTION_FILE).is_file():
            return None
        return self._json(layout.DESCRIPTION_FILE)

    def dags_path(self) -> Path | None:
        self.start()
        folder = self.root / layout.DAGS_DIR
        return folder if self._backup is None and folder.is_dir() else None

    def fernet_keys(self) -> FernetKeys:
        """Secrets in a snapshot are digests or clear text, never encrypted: there is no key to apply."""
        return FernetKeys(())

    def secret_digest_key(self) -> bytes | None:
        self.start()
        if self._metadata is None or not self._metadata.secrets_as_digests or self._manifest is None:
            return None
        key = self._manifest.secret_digest_key
        return bytes.fromhex(key) if key else None

    def kept_rows(self, table: str) -> Callable[[Mapping[str, Any]], bool] | None:
        self.start()
        return self._backup.kept_rows(table) if self._backup is not None else None

    # -- read-only by construction -------------------------------------------------------------------------

    def write_task_log(self, name: str, content: bytes) -> None:
        raise ReadOnlySnapshot(f"environment {self.name!r} is a snapshot: it is read-only; write to a live environment")


def verified_snapshot(root: Path, where: str) -> layout.SnapshotManifest:
    """The manifest, once every file it lists is present and unchanged and nothing was added."""
    manifest = layout.SnapshotManifest.parse((root / SNAPSHOT_MANIFEST).read_text(encoding="utf-8"), where)
    present = {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()} - {SNAPSHOT_MANIFEST}
    for name, expected in sorted(manifest.files.items()):
        if name not in present:
            raise ExportError(f"snapshot {where} lacks {name}, which its manifest lists: the snapshot is incomplete")
        if layout.file_sha256(root / name) != expected:
            raise ExportError(
                f"snapshot {where}: {name} does not match its sha256 in {SNAPSHOT_MANIFEST}: the snapshot was "
                f"changed after it was taken; take it again or restore the original"
            )
    added = sorted(present - manifest.files.keys())
    if added:
        raise ExportError(
            f"snapshot {where}: {added[0]} is not in {SNAPSHOT_MANIFEST}: the snapshot was changed after it was "
            f"taken; remove the file or take the snapshot again"
        )
    return manifest


def windowed(
    table: str, rows: Iterator[dict[str, Any]], since: datetime, runs_since: Callable[[], Iterator[dict[str, Any]]]
) -> Iterator[dict[str, Any]]:
    """The --since window over exported rows, as metadata_db.py applies it to a live database; `runs_since`:
    the dag_run rows inside the window."""
    if table == "dag_run":
        return (row for row in rows if _on_or_after(_run_date(row), since))
    if table in airflow_tables.RUN_SCOPED:
        runs = {(row["dag_id"], row["run_id"]) for row in runs_since()}
        return (row for row in rows if (row.get("dag_id"), row.get("run_id")) in runs)
    if table in airflow_tables.TIME_COLUMNS:
        column = airflow_tables.TIME_COLUMNS[table]
        return (row for row in rows if _on_or_after(row.get(column), since))
    return rows


def _run_date(row: Mapping[str, Any]) -> Any:
    for column in airflow_tables.DAG_RUN_DATE_COLUMNS:
        if row.get(column) is not None:
            return row[column]
    return None


def _on_or_after(value: Any, since: datetime) -> bool:
    return isinstance(value, datetime) and value >= since
