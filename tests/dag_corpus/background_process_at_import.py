"""Clean on both, but starts background processes whenever it is imported: one that keeps the parser's
stdout and stderr open, one in a session of its own. Whatever parses it must neither wait for them nor leave
them running."""

import subprocess
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

subprocess.Popen(["sleep", "3600"])
subprocess.Popen(["sleep", "3600"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

with DAG("background_process_at_import", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="start")
