"""Harmful on 3.x: a timedelta DAG whose callable asks for data_interval_start through its parameters; on a
DeltaTriggerTimetable it is the run time, not the start of the six hours the run covers."""

# expect-3x: shape: DeltaTriggerTimetable (Airflow 3's default [scheduler] create_delta_data_intervals = False)
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.python import PythonOperator


def load(data_interval_start, data_interval_end):
    print(f"loading {data_interval_start} .. {data_interval_end}")


with DAG("interval_reads_callable", schedule=timedelta(hours=6), start_date=datetime(2024, 1, 1), catchup=False):
    PythonOperator(task_id="load", python_callable=load)
