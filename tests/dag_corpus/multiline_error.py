"""Fails on every version with an exception whose message spans lines: the headline is its type and first line."""

# expect-all: import: ValueError: the warehouse connection is not configured
from airflow import DAG  # noqa: F401  (what makes the dag-processor parse this file)

raise ValueError(
    "the warehouse connection is not configured\n"
    "  checked: AIRFLOW_CONN_WAREHOUSE, the secrets backend\n"
    "  see the runbook"
)
