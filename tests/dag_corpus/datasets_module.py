"""Breaks on 3.2+: airflow.datasets was removed (ruff AIR311); 3.0 and 3.1 still import it through a shim."""

# expect-3.2+: import: No module named 'airflow.datasets'
from datetime import datetime

from airflow import DAG
from airflow.datasets import Dataset
from airflow.operators.empty import EmptyOperator

with DAG("datasets_module", schedule=[Dataset("s3://bucket/raw")], start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="nothing")
