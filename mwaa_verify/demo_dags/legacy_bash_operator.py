"""Airflow 1.x-style import path: works on 2.10, removed in 3.0 (ruff AIR302)."""

from datetime import datetime

from airflow import DAG
from airflow.operators.bash_operator import BashOperator

with DAG(
    dag_id="legacy_bash_operator",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["legacy"],
) as dag:
    BashOperator(task_id="say_hello", bash_command="echo hello")
