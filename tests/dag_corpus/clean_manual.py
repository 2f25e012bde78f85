"""Clean on both: manually triggered, explicit schedule=None."""

from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("clean_manual", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="start") >> EmptyOperator(task_id="end")
