"""Silent change: catchup defaulted to True on 2.x and to False on 3.x."""

# expect-3x: shape: catchup
# expect-3x: warning: catchup_default
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("catchup_default", schedule="@daily", start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="nothing")
