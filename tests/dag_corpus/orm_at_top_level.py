"""Breaks under 3.x's dag-processor: top-level ORM access is blocked (no ruff rule)."""

# expect-3x: import: Direct database access via the ORM is not allowed
# expect-3x: findings: ORM3 database access (Session) at the top level
from datetime import datetime

from airflow import DAG, settings
from airflow.models import Variable
from airflow.operators.empty import EmptyOperator

session = settings.Session()
known = session.query(Variable).count()
session.close()

with DAG("orm_at_top_level", schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="nothing")
