"""Imports on 3.x, fails at run time: removed context keys reached through callable parameters, **kwargs lookups,
op_kwargs templates and a template file, in operators ruff does not look into."""

# expect-3x: findings: 'next_ds' was removed in Airflow 3 (parameter of task callable is_new_day()); use {{ data_interval_end | ds }}
# expect-3x: findings: 'yesterday_ds' was removed in Airflow 3 (kwargs['yesterday_ds'])
# expect-3x: findings: 'tomorrow_ds' was removed in Airflow 3 (template '{{ tomorrow_ds }}')
# expect-3x: findings: 'prev_ds' was removed in Airflow 3 (parameter of task callable choose())
# expect-3x: findings: 'prev_execution_date_success' was removed in Airflow 3 (parameter of task callable audit())
# expect-3x: findings: 'yesterday_ds_nodash' was removed in Airflow 3 (template file: template '{{ yesterday_ds_nodash }}' in scripts/cleanup.sh:2)
from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator, ShortCircuitOperator


class AuditOperator(PythonOperator):
    """A team's own subclass: still a python_callable that Airflow feeds from the context."""


def is_new_day(next_ds, **kwargs):
    return next_ds != kwargs["yesterday_ds"]


def audit(prev_execution_date_success=None):
    print(prev_execution_date_success)


def report(day):
    print(day)


with DAG("removed_key_parameters", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):

    @task.branch
    def choose(prev_ds=None):
        return "report" if prev_ds else "audit"

    gate = ShortCircuitOperator(task_id="is_new_day", python_callable=is_new_day)
    done = PythonOperator(task_id="report", python_callable=report, op_kwargs={"day": "{{ tomorrow_ds }}"})
    checked = AuditOperator(task_id="audit", python_callable=audit)
    cleanup = BashOperator(task_id="cleanup", bash_command="scripts/cleanup.sh")
    gate >> choose() >> [done, checked] >> cleanup
