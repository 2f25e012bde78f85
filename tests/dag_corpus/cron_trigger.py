"""Silent change: a cron string makes a CronTriggerTimetable on 3.x (logical_date = run time), unless
[scheduler] create_cron_data_intervals is set; this DAG reads no data-interval value, so it is a warning only."""

# expect-3x: warning: cron_trigger
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("cron_trigger", schedule="30 2 * * *", start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="nothing")
