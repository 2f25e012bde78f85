"""Reads the metadata database while the file is parsed.

Airflow 2.10 allows it. Airflow 3's dag-processor blocks ORM access, so this file fails to import there,
although an in-process DagBag (and `airflow dags reserialize`) would still accept it. No ruff rule sees it.
"""

from datetime import datetime

from airflow import DAG, settings
from airflow.models import Variable
from airflow.operators.empty import EmptyOperator

session = settings.Session()
KNOWN_VARIABLES = session.query(Variable.key).count()
session.close()

with DAG(
    dag_id="legacy_orm_top_level",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    tags=["legacy"],
) as dag:
    EmptyOperator(task_id="noop")
