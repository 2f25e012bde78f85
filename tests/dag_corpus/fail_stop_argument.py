"""Breaks on 3.x: DAG(fail_stop=...) became fail_fast (ruff AIR301)."""

# expect-3x: import: unexpected keyword argument 'fail_stop'
# expect-3x: findings: AIR301 `fail_stop` is removed in Airflow 3.0
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("fail_stop_argument", schedule="@daily", fail_stop=True, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="nothing")
