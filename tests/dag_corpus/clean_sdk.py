"""Clean on both: the 3.x-ready way, still importable on 2.10."""

from datetime import datetime

from airflow import DAG
from airflow.decorators import task

with DAG("clean_sdk", schedule="@once", start_date=datetime(2024, 1, 1), catchup=False, tags=["clean"]):

    @task
    def extract() -> int:
        return 42

    @task
    def load(rows: int) -> None:
        print(rows)

    load(extract())
