"""Breaks on 3.x: PythonOperator(provide_context=True) (ruff AIR301)."""

# expect-3x: import: TypeError: Invalid arguments were passed to PythonOperator (task_id: report)
# expect-3x: findings: AIR301 `provide_context` is removed in Airflow 3.0
from datetime import datetime

from airflow import DAG
from airflow.operators.python import PythonOperator


def report(**context):
    print(context["ds"])


with DAG("provide_context", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False):
    PythonOperator(task_id="report", python_callable=report, provide_context=True)
