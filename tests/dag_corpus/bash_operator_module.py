"""Breaks on 3.x: airflow.operators.bash_operator is gone (ruff AIR302)."""

# expect-3x: import: No module named 'airflow.operators.bash_operator'
# expect-3x: findings: AIR302 `airflow.operators.bash_operator.BashOperator` is moved into `standard` provider
from datetime import datetime

from airflow import DAG
from airflow.operators.bash_operator import BashOperator

with DAG("bash_operator_module", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False):
    BashOperator(task_id="hello", bash_command="echo hello")
