"""A task that fails on its first attempt and succeeds on the retry, leaving history behind."""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.decorators import task

with DAG(
    dag_id="demo_retry",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["demo"],
) as dag:

    @task(retries=1, retry_delay=timedelta(seconds=0))
    def flaky(ti=None) -> str:
        if ti.try_number < 2:
            raise RuntimeError("transient failure on the first attempt")
        return "recovered"

    flaky()
