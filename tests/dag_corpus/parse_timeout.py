"""Fails on every version: top-level code slower than dagbag_import_timeout (the corpus environments set it to
10 s); its headline names the timeout, and its parse time reads "> 10 s", not a measured 10 s."""

# expect-all: import: parse took longer than dagbag_import_timeout = 10 s
import time
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

time.sleep(120)

with DAG("parse_timeout", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="never")
