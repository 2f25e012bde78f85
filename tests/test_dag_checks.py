"""The DAG import suite's checks on plain inputs: requirements constraints, operators in plugins, schedules."""

from __future__ import annotations

from pathlib import Path

from mwaa_verify.airflow.dag_shape import IntervalChange, interval_change, shape_changes
from mwaa_verify.airflow.requirements_check import constraint_problems, expected_constraints, operators_in_plugins
from mwaa_verify.airflow.static_checks import source_findings
from mwaa_verify.environments.base import DagShape

URL = "https://raw.githubusercontent.com/apache/airflow/constraints-{}/constraints-{}.txt"


def requirements(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return path


def test_constraints_of_the_targets_versions_pass(tmp_path: Path) -> None:
    path = requirements(tmp_path, f'--constraint "{URL.format("3.3.1", "3.11")}"\napache-airflow-providers-amazon\n')

    assert constraint_problems(path, "3.3.1", "3.11.7") == []


def test_constraints_of_the_source_version_are_named_with_the_right_url(tmp_path: Path) -> None:
    path = requirements(tmp_path, f"-c {URL.format('2.10.3', '3.11')}\nboto3\n")

    assert constraint_problems(path, "3.3.1", "3.12.4") == [
        "requirements.txt:1: constraints for Airflow 2.10.3 / Python 3.11, but the target runs Airflow 3.3.1 / "
        f"Python 3.12; use {URL.format('3.3.1', '3.12')}"
    ]


def test_requirements_without_constraints_say_which_line_to_add(tmp_path: Path) -> None:
    path = requirements(tmp_path, "apache-airflow-providers-snowflake==6.1.0\n")

    (problem,) = constraint_problems(path, "3.2.1", "3.11")

    expected = expected_constraints("3.2.1", "3.11")
    assert problem == f'requirements.txt has no --constraint line; add `--constraint "{expected}"` as its first line'


def test_operators_sensors_and_hooks_in_plugins_are_listed(tmp_path: Path) -> None:
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "ops.py").write_text(
        "from airflow.models import BaseOperator\nfrom airflow.sensors.base import BaseSensorOperator\n"
        "class Load(BaseOperator):\n    pass\n\nclass Wait(BaseSensorOperator):\n    pass\n\nclass Helper:\n    pass\n"
    )
    (tmp_path / "menu.py").write_text(
        "from airflow.plugins_manager import AirflowPlugin\nclass Menu(AirflowPlugin):\n  pass\n"
    )

    assert [str(item) for item in operators_in_plugins(tmp_path)] == ["custom/ops.py:3: Load", "custom/ops.py:6: Wait"]


def shape(**changes: object) -> DagShape:
    values = {
        "dag_id": "etl", "fileloc": "etl.py", "task_ids": ("extract", "load"), "edges": (("extract", "load"),),
        "operators": {}, "retries": {}, "tags": (), "catchup": False,
        "schedule": {"kind": "cron", "expression": "0 0 * * *", "timezone": "UTC", "data_interval": True,
                     "timetable": "airflow.timetables.interval.CronDataIntervalTimetable", "summary": "@daily"},
    }  # fmt: skip
    values.update(changes)
    return DagShape(**values)  # type: ignore[arg-type]


def test_same_shape_has_no_changes() -> None:
    assert shape_changes(shape(), shape()) == []


def test_removed_task_and_dependency_are_named() -> None:
    assert shape_changes(shape(), shape(task_ids=("extract",), edges=())) == [
        "tasks missing on the target: load",
        "dependencies missing on the target: extract >> load",
    ]


def test_airflow3_silent_changes_are_named_with_their_fix() -> None:
    trigger = {**shape().schedule, "data_interval": False,
               "timetable": "airflow.sdk.definitions.timetables.trigger.CronTriggerTimetable"}  # fmt: skip
    daily = {
        "kind": "delta",
        "expression": 86400.0,
        "timezone": None,
        "data_interval": True,
        "timetable": "",
        "summary": "",
    }
    none = {"kind": "none", "expression": None, "timezone": None, "data_interval": None, "timetable": "", "summary": ""}

    change = interval_change(shape(), shape(schedule=trigger))
    (unscheduled,) = shape_changes(shape(schedule=daily), shape(schedule=none))
    (catchup,) = shape_changes(shape(catchup=True), shape(catchup=False))

    assert shape_changes(shape(), shape(schedule=trigger)) == []  # harmful only to DAGs reading data intervals
    assert change == IntervalChange("etl", "0 0 * * *", "CronTriggerTimetable", "create_cron_data_intervals")
    problem = change.problem(["etl.py:9: ds (template '{{ ds }}')"])
    assert problem.startswith("schedule '0 0 * * *' is now a CronTriggerTimetable")
    assert "etl.py:9: ds (template '{{ ds }}')" in problem and "create_cron_data_intervals = True" in problem
    assert unscheduled.startswith("schedule changed from every day to None")
    assert catchup.startswith("catchup changed True -> False")


def test_top_level_variable_get_is_a_warning_and_orm_access_breaks(tmp_path: Path) -> None:
    (tmp_path / "dag.py").write_text(
        "from airflow import settings\nfrom airflow.models import Variable\n"
        "schema = Variable.get('schema')\nsession = settings.Session()\n"
        "def task_body():\n    return Variable.get('inside a task is fine')\n"
    )

    found = sorted((item.line, item.code, item.breaking) for item in source_findings(tmp_path))

    assert found == [(3, "TOP3", False), (4, "ORM3", True)]


def test_mwaa_platform_settings_compare_what_a_migration_must_keep() -> None:
    from mwaa_verify.environments.mwaa_settings import platform_settings, settings_differences

    def environment(**changes: object) -> dict:
        base = {
            "Name": "prod-2", "Arn": "arn:aws:airflow:eu-west-1:111122223333:environment/prod-2",
            "AirflowVersion": "2.10.3", "EnvironmentClass": "mw1.medium", "MaxWorkers": 10, "MinWorkers": 1,
            "Schedulers": 2, "KmsKey": "arn:aws:kms:eu-west-1:111122223333:key/abc", "Tags": {"team": "data"},
            "SourceBucketArn": "arn:aws:s3:::prod-2-dags", "DagS3Path": "dags", "PluginsS3ObjectVersion": "v1",
            "NetworkConfiguration": {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]},
            "LoggingConfiguration": {"TaskLogs": {"Enabled": True, "LogLevel": "INFO",
                                                  "CloudWatchLogGroupArn": "arn:aws:logs:...:airflow-prod-2-Task"}},
        }  # fmt: skip
        return {**base, **changes}

    source = platform_settings(environment())
    quieter = {"TaskLogs": {"Enabled": True, "LogLevel": "WARNING"}}
    target = platform_settings(
        environment(Name="prod-3", AirflowVersion="3.3.1", MaxWorkers=5, LoggingConfiguration=quieter,
                    SourceBucketArn="arn:aws:s3:::prod-3-dags", PluginsS3ObjectVersion="v9", DagS3Path="airflow/dags")
    )  # fmt: skip

    assert settings_differences(source, target, set()) == [
        "mwaa.DagS3Path: 'dags' on the source, 'airflow/dags' on the target",
        "mwaa.Logging.TaskLogs.LogLevel: 'INFO' on the source, 'WARNING' on the target",
        "mwaa.MaxWorkers: '10' on the source, '5' on the target",
    ]
    intended = {"mwaa.MaxWorkers", "mwaa.Logging.TaskLogs.LogLevel", "mwaa.DagS3Path"}
    assert settings_differences(source, target, intended) == []
