"""Silent change: no `schedule` ran daily on 2.x and never on 3.x (ruff AIR002)."""

# expect-3x: shape: schedule
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("no_schedule", start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="nothing")
