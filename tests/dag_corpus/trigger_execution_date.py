"""Breaks on 3.x: TriggerDagRunOperator(execution_date=...) became logical_date (ruff misses it)."""

# expect-3x: import: TypeError: Invalid arguments were passed to TriggerDagRunOperator (task_id: trigger)
# expect-3x: findings: AIR301 `execution_date` is removed in Airflow 3.0
from datetime import datetime

from airflow import DAG
from airflow.operators.trigger_dagrun import TriggerDagRunOperator

with DAG("trigger_execution_date", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False):
    TriggerDagRunOperator(task_id="trigger", trigger_dag_id="downstream", execution_date="{{ ds }}")
