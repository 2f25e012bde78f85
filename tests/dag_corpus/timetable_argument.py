"""Breaks on 3.x: DAG(timetable=...) (ruff AIR301)."""

# expect-3x: import: unexpected keyword argument 'timetable'
# expect-3x: findings: AIR301 `timetable` is removed in Airflow 3.0
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.timetables.trigger import CronTriggerTimetable

with DAG(
    "timetable_argument",
    timetable=CronTriggerTimetable("0 1 * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1),
    catchup=False,
):
    EmptyOperator(task_id="nothing")
