"""A daily extract-transform-load DAG that imports and runs on Airflow 2.10 and 3.x alike."""

from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.operators.bash import BashOperator

with DAG(
    dag_id="demo_etl",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["demo", "etl"],
    default_args={"retries": 2},
) as dag:

    @task
    def extract() -> dict:
        return {"rows": 42, "source": "sales"}

    @task
    def transform(batch: dict) -> dict:
        return {"rows": batch["rows"] * 2, "source": batch["source"]}

    load = BashOperator(task_id="load", bash_command="echo loading rows into the warehouse")

    transform(extract()) >> load
