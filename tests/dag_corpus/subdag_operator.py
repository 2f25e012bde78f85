"""Breaks on 3.x: SubDAGs were removed (ruff AIR301)."""

# expect-3x: import: No module named 'airflow.operators.subdag'
from datetime import datetime

from airflow import DAG
from airflow.operators.subdag import SubDagOperator  # noqa: F401

with DAG("subdag_operator", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False):
    pass
