"""Breaks on 3.x: DAG(default_view=...) (ruff AIR301)."""

# expect-3x: import: unexpected keyword argument 'default_view'
# expect-3x: findings: AIR301 `default_view` is removed in Airflow 3.0
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG(
    "default_view_argument", schedule="@daily", default_view="graph", start_date=datetime(2024, 1, 1), catchup=False
):
    EmptyOperator(task_id="nothing")
