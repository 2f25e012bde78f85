"""Export an environment's metadata: the tables the MWAA migration guide names, one JSON Lines file each.

Rows are exported as the source stores them (its version's columns), with the natural key of every row, so
the export can be imported into the same or a newer version. Secrets (variable values, connection
passwords and extras) are written decrypted only when the caller asks for them; otherwise they are left out
and the manifest says so; a snapshot keeps them as keyed digests instead (comparable, never importable).
The source is only read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mwaa_verify import progress
from mwaa_verify.airflow.column_map import MIGRATED_TABLES
from mwaa_verify.airflow.secrets import SECRET_COLUMNS, Redactor, decrypted
from mwaa_verify.airflow.tables import CORE_TABLES
from mwaa_verify.environments.base import Environment
from mwaa_verify.errors import MetadataError
from mwaa_verify.migrate.location import Location, staged_for_writing
from mwaa_verify.migrate.manifest import Manifest, TableEntry, encode_row

PROGRESS_EVERY_ROWS = 100_000


def export_metadata(
    source: Environment,
    destination: str | Path,
    include_secrets: bool = False,
    since: datetime | None = None,
    secret_digests: Redactor | None = None,
    extra_tables: tuple[str, ...] = (),
    upload_args: Mapping[str, Any] | None = None,
) -> Manifest:
    """`secret_digests`: keep secrets as digests made with this redactor's key (instead of leaving them out);
    `extra_tables`: tables beyond those a migration moves (a snapshot keeps the dag table, for presence checks);
    `upload_args`: S3 PutObject arguments for every object of an s3:// destination (SSE-KMS and its key)."""
    location = Location(str(destination))
    present = set(source.tables())
    revision = airflow_schema_revision(
        source, present, "point its sql_alchemy_conn at the database Airflow's [database] sql_alchemy_conn names"
    )
    info = source.info()
    manifest = Manifest(
        source_name=source.name,
        source_kind=source.kind,
        airflow_version=info.airflow_version,
        schema_revision=revision,
        created_at=datetime.now(UTC).isoformat(),
        since=since.isoformat() if since else None,
        secrets_included=include_secrets,
        secrets_as_digests=secret_digests is not None and not include_secrets,
    )
    with staged_for_writing(location, upload_args=upload_args) as staging:
        for spec in MIGRATED_TABLES:
            if spec.name not in present:
                manifest.not_exported[spec.name] = f"Airflow {info.airflow_version} has no {spec.name} table"
                continue
            with progress.step(f"{source.name}: exporting {spec.name}"):
                manifest.tables[spec.name] = _export_table(
                    source, spec.name, staging, include_secrets, since, secret_digests
                )
        for table in extra_tables:
            if table in present:
                manifest.tables[table] = _export_table(source, table, staging, include_secrets, None, secret_digests)
        (staging / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    progress.say(
        f"exported {sum(entry.rows for entry in manifest.tables.values())} rows of {len(manifest.tables)} tables "
        f"to {location}" + ("" if include_secrets else " (secrets left out: pass --include-secrets to move them)")
    )
    return manifest


def airflow_schema_revision(environment: Environment, tables: set[str], fix: str) -> str:
    """The Alembic revision of an Airflow metadata database; anything else (an empty database, another
    application's) is refused with `fix`, before a single file is written or row changed."""
    missing = [table for table in CORE_TABLES if table not in tables]
    if missing:
        found = f"it has {len(tables)} other table(s): {', '.join(sorted(tables)[:5])}" if tables else "it is empty"
        raise MetadataError(
            f"environment {environment.name!r}: its database is not an Airflow metadata database (no "
            f"{', '.join(missing)} table; {found}); {fix}"
        )
    revision = environment.schema_revision()
    if not revision:
        raise MetadataError(
            f"environment {environment.name!r}: its database has Airflow's tables but no schema revision "
            f"(alembic_version is empty), so which schema its rows follow is unknown; {fix}"
        )
    return revision


def _export_table(
    source: Environment,
    table: str,
    staging: Path,
    include_secrets: bool,
    since: datetime | None,
    secret_digests: Redactor | None,
) -> TableEntry:
    secret_columns = SECRET_COLUMNS.get(table, {})
    keys = source.fernet_keys() if secret_columns and (include_secrets or secret_digests) else None
    digests = secret_digests if secret_columns and not include_secrets else None
    file_name = f"{table}.jsonl"
    digest = hashlib.sha256()
    rows = 0
    with (staging / file_name).open("wb") as handle:
        for row in source.rows(table, since):
            if keys is not None:
                row = decrypted(table, row, keys)
                if digests is not None:
                    row |= {c: digests.digest(row[c]) for c in secret_columns if row.get(c) is not None}
            elif secret_columns:
                stored = {*secret_columns, *secret_columns.values()}  # the values and their encryption flags
                row = {column: value for column, value in row.items() if column not in stored}
            line = (encode_row(row) + "\n").encode("utf-8")
            handle.write(line)
            digest.update(line)
            rows += 1
            if rows % PROGRESS_EVERY_ROWS == 0:
                progress.say(f"{source.name}: {table}: {rows} rows exported")
    return TableEntry(file=file_name, rows=rows, sha256=digest.hexdigest())
