"""Clean on both; the tests delete its `audit` task from the target's copy, which shape parity must catch."""

# expect-3x: shape: tasks missing on the target: audit
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("task_removed", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="load") >> EmptyOperator(task_id="audit")
