"""Imports on 3.x, fails at run time: context["execution_date"] and friends are gone (ruff misses these)."""

# expect-3x: findings: prev_execution_date
# expect-3x: shape: this DAG reads those values
from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.operators.python import get_current_context

with DAG("removed_context_keys", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False):

    @task
    def when(**context):
        print(context["execution_date"], get_current_context()["prev_execution_date"])

    when()
