"""Airflow metadata tables: the natural key that identifies a row in every version, and how to window them.

Surrogate ids (dag_run.id, task_instance.id, xcom.dag_run_id ...) are local to one database and are never
used to match rows between environments (../shared/research/schema_2_10_to_3.md).
"""

from __future__ import annotations

TI_KEY = ("dag_id", "task_id", "run_id", "map_index")

# What every Airflow metadata database has, whatever its version: without these, a database is not Airflow's
CORE_TABLES = ("alembic_version", "dag", "dag_run", "task_instance")

NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "dag_run": ("dag_id", "run_id"),
    "task_instance": TI_KEY,
    "task_instance_history": (*TI_KEY, "try_number"),
    "rendered_task_instance_fields": TI_KEY,
    "task_map": TI_KEY,
    "task_fail": (*TI_KEY, "start_date"),
    "xcom": ("dag_id", "run_id", "task_id", "map_index", "key"),
    "variable": ("key",),
    "slot_pool": ("pool",),
    "connection": ("conn_id",),
    "sla_miss": ("dag_id", "task_id", "execution_date"),
    "dag": ("dag_id",),
    "dag_tag": ("dag_id", "name"),
    "dag_warning": ("dag_id", "warning_type"),
    "dag_owner_attributes": ("dag_id", "owner"),
    "import_error": ("filename",),
    # append-only tables: the best available ordering; the surrogate id only breaks ties
    "log": ("dttm", "event", "dag_id", "task_id", "run_id", "map_index", "try_number"),
    "job": ("job_type", "start_date"),
}

# Tables that name their row only through another table's surrogate id: (their column, the other table,
# the natural key columns read from it). Reads join the key in, so the row means something elsewhere.
KEY_JOINS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "dag_run_note": ("dag_run_id", "dag_run", ("dag_id", "run_id")),
    "task_instance_note": ("ti_id", "task_instance", TI_KEY),  # 3.x; 2.x notes carry the key themselves
}
NATURAL_KEYS["dag_run_note"] = ("dag_id", "run_id")
NATURAL_KEYS["task_instance_note"] = TI_KEY

# Tables whose rows belong to a DAG run: windowed by the run's date.
RUN_SCOPED = {
    "task_instance",
    "task_instance_history",
    "rendered_task_instance_fields",
    "task_map",
    "task_fail",
    "xcom",
}
# Tables windowed by a timestamp column of their own.
TIME_COLUMNS = {
    "log": "dttm",
    "job": "start_date",
    "sla_miss": "execution_date",
    "import_error": "timestamp",
}
# The date a dag_run is windowed by: 2.x execution_date; 3.x run_after (logical_date may be NULL there).
DAG_RUN_DATE_COLUMNS = ("execution_date", "run_after")


def order_columns(table: str, columns: list[str], primary_key: list[str]) -> list[str]:
    """Natural key columns present in this version of the table, then the primary key to make it total."""
    natural = [column for column in NATURAL_KEYS.get(table, ()) if column in columns]
    return natural + [column for column in primary_key if column not in natural]


def dag_run_date_column(columns: list[str]) -> str:
    for column in DAG_RUN_DATE_COLUMNS:
        if column in columns:
            return column
    raise KeyError("dag_run has neither execution_date nor run_after")
