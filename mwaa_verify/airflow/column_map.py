"""How a metadata row means the same thing on Airflow 2.x and 3.x (../shared/research/schema_2_10_to_3.md).

Rows are brought to one *canonical* form, named as 3.x names columns, with values decoded (pickled conf
unpickled, JSON-in-bytes xcom parsed, run types renamed, timestamps in UTC) and the columns that are local to
one database removed. Parity compares canonical rows; import turns canonical rows into a target's columns.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mwaa_verify.airflow import pickles
from mwaa_verify.airflow.tables import NATURAL_KEYS, TI_KEY


@dataclass(frozen=True)
class TableSpec:
    name: str
    natural_key: tuple[str, ...]
    # keyed: one row per natural key on both sides. append_only: the target writes rows of its own too
    # (its CLI events, its jobs), so only source rows missing on the target count.
    kind: str = "keyed"
    # on the target version the table may not exist at all: why, for the "not applicable" report
    removed_in_3: str | None = None


# The tables a migration moves, in the order an import writes them (parents before children).
MIGRATED_TABLES: tuple[TableSpec, ...] = (
    TableSpec("slot_pool", NATURAL_KEYS["slot_pool"]),
    TableSpec("variable", NATURAL_KEYS["variable"]),
    TableSpec("connection", NATURAL_KEYS["connection"]),
    TableSpec("dag_run", NATURAL_KEYS["dag_run"]),
    TableSpec("task_instance", TI_KEY),
    TableSpec("task_instance_history", NATURAL_KEYS["task_instance_history"]),
    TableSpec("task_map", TI_KEY),
    TableSpec("rendered_task_instance_fields", TI_KEY),
    TableSpec("xcom", NATURAL_KEYS["xcom"]),
    TableSpec("dag_run_note", ("dag_id", "run_id")),
    TableSpec("task_instance_note", TI_KEY),
    TableSpec("task_fail", NATURAL_KEYS["task_fail"], removed_in_3="dropped in Airflow 3.0 (failed attempts live on "
              "as task_instance_history rows)"),
    TableSpec("sla_miss", NATURAL_KEYS["sla_miss"], removed_in_3="SLAs were removed in Airflow 3.0 (Deadline Alerts "
              "replace them)"),
    TableSpec("log", NATURAL_KEYS["log"], kind="append_only"),
    TableSpec("job", ("job_type", "start_date", "hostname"), kind="append_only"),
)  # fmt: skip
SPECS = {spec.name: spec for spec in MIGRATED_TABLES}

# Rebuilt by the target's dag-processor, never copied: checked by presence of every source dag_id.
DERIVED_TABLES = ("dag", "dag_tag", "serialized_dag", "dag_code")

# 2.x name -> 3.x (canonical) name
RENAMED_COLUMNS: dict[str, dict[str, str]] = {
    "dag_run": {"execution_date": "logical_date"},
    "log": {"execution_date": "logical_date"},
    "task_fail": {},
    "sla_miss": {},
}

# Columns that identify or point at rows of one database only, or record that database's own processes.
_LOCAL_EVERYWHERE = {"id", "span_status", "context_carrier"}
LOCAL_COLUMNS: dict[str, set[str]] = {
    "dag_run": {"creating_job_id", "log_template_id", "dag_hash", "external_trigger", "triggered_by",
                "triggering_user_name", "created_dag_version_id", "backfill_id", "bundle_version",
                "scheduled_by_job_id", "created_at", "last_scheduling_decision", "updated_at"},
    "task_instance": {"job_id", "dag_version_id", "executor_config", "pid", "queued_by_job_id", "trigger_id",
                      "scheduled_dttm", "last_heartbeat_at", "updated_at", "trigger_timeout", "next_method",
                      "next_kwargs", "retry_delay_override", "retry_reason", "external_executor_id"},
    "task_instance_history": {"task_instance_id", "job_id", "dag_version_id", "executor_config", "pid",
                              "queued_by_job_id", "trigger_id", "scheduled_dttm", "last_heartbeat_at", "updated_at",
                              "trigger_timeout", "next_method", "next_kwargs", "retry_delay_override",
                              "retry_reason", "external_executor_id"},
    "xcom": {"dag_run_id"},
    "dag_run_note": {"dag_run_id"},
    "task_instance_note": {"ti_id"},
    "variable": {"team_id", "team_name"},
    "connection": {"team_id", "team_name"},
    "slot_pool": {"team_id", "team_name"},
    "log": set(),
    "job": {"latest_heartbeat"},
}  # fmt: skip

# A row whose value cannot be carried over: reported, never silently dropped.
NOT_MIGRATABLE = "<not migratable>"

_RUN_TYPES = {"dataset_triggered": "asset_triggered"}

# Columns whose canonical value canonical_value() decodes or renames: only Python can compare them. Every other
# column's canonical value is the database's own (timestamps in UTC), which SQL can print and hash itself.
DECODED_COLUMNS: dict[str, frozenset[str]] = {
    "dag_run": frozenset({"conf", "run_type"}),
    "xcom": frozenset({"value"}),
}


def canonical_name(table: str, column: str) -> str:
    return RENAMED_COLUMNS.get(table, {}).get(column, column)


def version_name(table: str, canonical: str, columns: set[str]) -> str | None:
    """The column a table of some version stores `canonical` in, or None when it has none."""
    if canonical in columns:
        return canonical
    for old, new in RENAMED_COLUMNS.get(table, {}).items():
        if new == canonical and old in columns:
            return old
    return None


def is_local(table: str, canonical: str) -> bool:
    return canonical in _LOCAL_EVERYWHERE or canonical in LOCAL_COLUMNS.get(table, set())


def canonical_row(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The version-neutral meaning of a row (local columns included: parity drops them, import rewrites them)."""
    result: dict[str, Any] = {}
    for column, value in row.items():
        name = canonical_name(table, column)
        result[name] = canonical_value(table, name, value)
    return result


def canonical_value(table: str, column: str, value: Any) -> Any:
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if table == "dag_run" and column == "conf":
        return _conf(value)
    if table == "dag_run" and column == "run_type":
        return _RUN_TYPES.get(value, value)
    if table == "xcom" and column == "value":
        return _xcom_value(value)
    return value


def _conf(value: Any) -> Any:
    """2.x pickles conf; 3.x stores JSON, and an empty conf as NULL."""
    if isinstance(value, bytes):
        try:
            value = pickles.load_plain(value)
        except pickles.NotMigratable:
            return NOT_MIGRATABLE
    return value or None


def _xcom_value(value: Any) -> Any:
    """2.x stores JSON text as bytes (or a pickle with enable_xcom_pickling); 3.x a JSON column."""
    if isinstance(value, bytes):
        if pickles.is_pickle(value):
            return NOT_MIGRATABLE
        try:
            return json.loads(value.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return NOT_MIGRATABLE
    return value


def stored_value(table: str, column: str, value: Any, binary: bool) -> Any:
    """A canonical value as a target column stores it: `binary` for the 2.x bytea columns."""
    if not binary or value is None:
        return value
    if table == "dag_run" and column == "conf":
        return pickle.dumps(value or {})
    if table == "xcom" and column == "value":
        return json.dumps(value).encode("utf-8")
    return value
