"""Breaks on 3.x: DAG(concurrency=...) (ruff AIR301)."""

# expect-3x: import: unexpected keyword argument 'concurrency'
# expect-3x: findings: AIR301 `concurrency` is removed in Airflow 3.0
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("concurrency_argument", schedule="@daily", concurrency=4, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="nothing")
