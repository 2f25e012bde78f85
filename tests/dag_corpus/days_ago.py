"""Breaks on 3.x: airflow.utils.dates.days_ago was removed (ruff AIR301)."""

# expect-3x: import: cannot import name 'days_ago'
# expect-3x: findings: AIR301 `airflow.utils.dates.days_ago` is removed in Airflow 3.0
from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.utils.dates import days_ago

with DAG("days_ago", schedule=None, start_date=days_ago(1)):
    EmptyOperator(task_id="nothing")
