"""Dynamic task mapping: one task instance per partition (map_index 0..2)."""

from datetime import datetime

from airflow import DAG
from airflow.decorators import task

with DAG(
    dag_id="demo_mapped",
    schedule="0 6 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["demo"],
) as dag:

    @task
    def partitions() -> list[int]:
        return [1, 2, 3]

    @task
    def process(partition: int) -> int:
        print(f"processing partition {partition}")
        return partition * 10

    process.expand(partition=partitions())
