"""Breaks on 3.x: airflow.operators.dummy is gone (ruff AIR302)."""

# expect-3x: import: No module named 'airflow.operators.dummy'
# expect-3x: findings: AIR302 `airflow.operators.dummy.DummyOperator` is moved into `standard` provider
from datetime import datetime

from airflow import DAG
from airflow.operators.dummy import DummyOperator

with DAG("dummy_operator", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False):
    DummyOperator(task_id="nothing")
