"""Silent change: catchup defaulted to True on 2.x and to False on 3.x."""

# expect-3x: shape: catchup
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("catchup_default", schedule="@daily", start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="nothing")
