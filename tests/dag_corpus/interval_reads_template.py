"""Harmful on 3.x: a cron DAG whose template reads {{ ds }}; on a CronTriggerTimetable ds is the run's day, not the
day the data interval starts, so each run processes the wrong day (unless create_cron_data_intervals is set)."""

# expect-3x: shape: this DAG reads those values (interval_reads_template.py:13: ds
from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("interval_reads_template", schedule="0 6 * * *", start_date=datetime(2024, 1, 1), catchup=False):
    BashOperator(
        task_id="export",
        bash_command="echo exporting {{ ds }}",
    )
