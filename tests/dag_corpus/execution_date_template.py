"""Imports on 3.x, fails at run time: {{ execution_date }} is undefined (ruff misses it)."""

# expect-3x: findings: execution_date
# expect-3x: shape: this DAG reads those values
from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("execution_date_template", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False):
    BashOperator(task_id="stamp", bash_command="echo {{ execution_date }} {{ next_ds }}")
