"""Breaks on 3.x: DAG(schedule_interval=...) (ruff AIR301)."""

# expect-3x: import: unexpected keyword argument 'schedule_interval'
# expect-3x: findings: AIR301 `schedule_interval` is removed in Airflow 3.0
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("schedule_interval", schedule_interval="@hourly", start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="nothing")
