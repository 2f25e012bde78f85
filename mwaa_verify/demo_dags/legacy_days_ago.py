"""`airflow.utils.dates.days_ago` was removed in 3.0 (ruff AIR301)."""

from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.utils.dates import days_ago

with DAG(
    dag_id="legacy_days_ago",
    schedule=None,
    start_date=days_ago(2),
    tags=["legacy"],
) as dag:
    EmptyOperator(task_id="noop")
