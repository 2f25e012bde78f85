"""The export format: one JSON Lines file per table and a manifest.json that vouches for them.

Values JSON cannot hold are tagged: {"$type": "datetime", "value": ISO-8601}, {"$type": "bytes",
"value": base64} and {"$type": "uuid", "value": text}, so a row read back has the types the database gave.
The manifest records the source's Airflow version and schema revision, and each table's row count and sha256,
so an import can refuse an export that is corrupt or not what it claims to be.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from mwaa_verify.airflow.secrets import SecretDigest
from mwaa_verify.errors import ExportError

FORMAT = "mwaa-verify-export/1"
MANIFEST = "manifest.json"


def encode_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return {"$type": "datetime", "value": value.isoformat()}
    if isinstance(value, bytes | memoryview):
        return {"$type": "bytes", "value": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, uuid.UUID):
        return {"$type": "uuid", "value": str(value)}
    if isinstance(value, Decimal):
        return float(value)
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict) and value.keys() == {"$type", "value"}:
        if value["$type"] == "datetime":
            return datetime.fromisoformat(value["value"])
        if value["$type"] == "bytes":
            return base64.b64decode(value["value"])
        if value["$type"] == "uuid":
            return uuid.UUID(value["value"])
    return value


def encode_row(row: dict[str, Any]) -> str:
    return json.dumps({key: encode_value(value) for key, value in row.items()}, sort_keys=True, ensure_ascii=False)


def decode_row(line: str) -> dict[str, Any]:
    return {key: decode_value(value) for key, value in json.loads(line).items()}


def read_exported_rows(path: Path, digested_columns: Collection[str] = ()) -> Iterator[dict[str, Any]]:
    """An exported table's rows in their file's order (natural-key order), the values of `digested_columns`
    marked as the secret digests they are (an export written without --include-secrets)."""
    digested = set(digested_columns)
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = decode_row(line)
            for column in row.keys() & digested:
                if row[column] is not None:
                    row[column] = SecretDigest(row[column])
            yield row


@dataclass(frozen=True)
class TableEntry:
    file: str
    rows: int
    sha256: str


@dataclass
class Manifest:
    source_name: str
    source_kind: str
    airflow_version: str
    schema_revision: str | None
    created_at: str
    since: str | None
    secrets_included: bool
    tables: dict[str, TableEntry] = field(default_factory=dict)
    not_exported: dict[str, str] = field(default_factory=dict)  # table -> why
    # secrets kept only as keyed digests (a snapshot's): comparable, never importable
    secrets_as_digests: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "source": {
                    "name": self.source_name,
                    "kind": self.source_kind,
                    "airflow_version": self.airflow_version,
                    "schema_revision": self.schema_revision,
                },
                "created_at": self.created_at,
                "since": self.since,
                "secrets_included": self.secrets_included,
                "secrets_as_digests": self.secrets_as_digests,
                "tables": {name: vars(entry) for name, entry in self.tables.items()},
                "not_exported": self.not_exported,
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ExportError(
                    f"{path} is format {data.get('format')!r}, not {FORMAT!r}; re-export with this mwaa-verify"
                )
            source = data["source"]
            return cls(
                source_name=source["name"],
                source_kind=source["kind"],
                airflow_version=source["airflow_version"],
                schema_revision=source["schema_revision"],
                created_at=data["created_at"],
                since=data["since"],
                secrets_included=bool(data["secrets_included"]),
                tables={name: TableEntry(**entry) for name, entry in data["tables"].items()},
                not_exported=dict(data.get("not_exported", {})),
                secrets_as_digests=bool(data.get("secrets_as_digests", False)),
            )
        except OSError as exc:
            raise ExportError(f"cannot read {path}: {exc.strerror}") from None
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ExportError(
                f"{path} is not a valid export manifest ({type(exc).__name__}: {exc}); the export is corrupt: "
                f"export again"
            ) from None

    def verify(self, directory: Path) -> None:
        """Every table file is present, whole and unchanged: sha256 and row count as the manifest says."""
        for name, entry in self.tables.items():
            path = directory / entry.file
            if not path.is_file():
                raise ExportError(f"the export lacks {entry.file} (table {name}) that its manifest lists; export again")
            digest, rows = file_digest(path)
            if digest != entry.sha256 or rows != entry.rows:
                raise ExportError(
                    f"{path} does not match the manifest (sha256 {digest[:12]}… with {rows} rows; the manifest says "
                    f"{entry.sha256[:12]}… with {entry.rows} rows): the export is corrupt or was edited; export again"
                )


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    rows = 0
    with path.open("rb") as handle:
        for line in handle:
            digest.update(line)
            rows += 1
    return digest.hexdigest(), rows
