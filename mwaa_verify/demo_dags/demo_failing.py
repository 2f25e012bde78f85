"""A task that always fails: its failed task instance and log must survive the migration too."""

from datetime import datetime

from airflow import DAG
from airflow.decorators import task

with DAG(
    dag_id="demo_failing",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["demo"],
) as dag:

    @task(retries=0)
    def broken() -> None:
        raise ValueError("the upstream file was malformed")

    broken()
