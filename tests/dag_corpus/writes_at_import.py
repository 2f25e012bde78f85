"""Source safety: top-level code that writes to the metadata database while the file is parsed, through Airflow's
ORM and through a raw SQLAlchemy engine built from the configured connection. Parsing must leave the database
as it was, on every version; the DAG itself is clean (each write's failure is swallowed, as careless code does)."""

import contextlib
from datetime import datetime

import sqlalchemy
from airflow import DAG
from airflow.configuration import conf
from airflow.models import Variable
from airflow.operators.empty import EmptyOperator

with contextlib.suppress(Exception):
    Variable.set("written_at_import_through_the_orm", "1")
with contextlib.suppress(Exception):
    engine = sqlalchemy.create_engine(conf.get("database", "sql_alchemy_conn"))
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO variable (key, val, is_encrypted) VALUES ('written_at_import_through_sqlalchemy', '1', false)"
            )
        )

with DAG("writes_at_import", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="nothing")
