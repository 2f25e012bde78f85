"""`schedule_interval=` is accepted by 2.10 (deprecated) and rejected by 3.0 (ruff AIR301)."""

from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG(
    dag_id="legacy_schedule_interval",
    schedule_interval="@hourly",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["legacy"],
) as dag:
    EmptyOperator(task_id="noop")
