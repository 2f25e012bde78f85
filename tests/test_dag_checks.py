"""The DAG import suite's checks on plain inputs: requirements constraints, operators in plugins, schedules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mwaa_verify.airflow.dag_shape import IntervalChange, interval_change, shape_changes
from mwaa_verify.airflow.probes import dag_probe
from mwaa_verify.airflow.requirements_check import constraint_problems, expected_constraints, operators_in_plugins
from mwaa_verify.airflow.static_checks import dag_folder_findings, data_interval_reads, source_findings
from mwaa_verify.environments.base import DagShape, FileReport, error_headline
from mwaa_verify.environments.metadata_db import read_only_url

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


def test_removed_context_keys_are_found_every_way_a_task_reaches_them(tmp_path: Path) -> None:
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "daily.sql").write_text("SELECT 1\nWHERE day = '{{ yesterday_ds }}'\n")
    (tmp_path / "etl.py").write_text(
        "from functools import partial\n"
        "from airflow.decorators import task\n"
        "from airflow.operators.python import PythonVirtualenvOperator, get_current_context\n"
        "def pick(conf, **kw):\n"  # 4: a callable parameter, and **kwargs of a callable
        "    return kw.get('next_execution_date')\n"
        "def alert(ctx):\n"  # 6: a callback gets the context as its one argument
        "    return ctx['prev_ds_nodash']\n"
        "class Load(PythonVirtualenvOperator):\n"
        "    def execute(self, the_context):\n"
        "        return the_context['tomorrow_ds']\n"  # 10
        "@task.external_python(python='/usr/bin/python3')\n"
        "def remote(triggering_dataset_events=None):\n"  # 12
        "    current = get_current_context()\n"
        "    return current['prev_execution_date']\n"  # 14
        "Load(task_id='l', python_callable=partial(pick, 1), on_failure_callback=alert,\n"
        "     op_kwargs={'when': '{{ ti.execution_date }}', 'day': '{{ next_ds_nodash }}'})\n"  # 16
        "SQL = 'sql/daily.sql'\n"  # 17: a template file the file names
        "def helper(conf):\n"  # 18: not a task callable: its parameter is no context key
        "    return conf\n"
    )

    found = sorted((item.line, item.message) for item in source_findings(tmp_path))

    assert found == [
        (4, "context key 'conf' was removed in Airflow 3 (parameter of task callable pick()); "
            "use `from airflow.configuration import conf` in the task's code"),
        (5, "context key 'next_execution_date' was removed in Airflow 3 (kw.get('next_execution_date')); "
            "use data_interval_end"),
        (7, "context key 'prev_ds_nodash' was removed in Airflow 3 (ctx['prev_ds_nodash']); "
            "use {{ prev_data_interval_start_success | ds_nodash }}"),
        (10, "context key 'tomorrow_ds' was removed in Airflow 3 (the_context['tomorrow_ds']); "
             "use {{ macros.ds_add(ds, 1) }}"),
        (12, "context key 'triggering_dataset_events' was removed in Airflow 3 (parameter of task callable "
             "remote()); use triggering_asset_events"),
        (14, "context key 'prev_execution_date' was removed in Airflow 3 (current['prev_execution_date']); "
             "use prev_data_interval_start_success"),
        (16, "attribute 'execution_date' was removed in Airflow 3 (attribute in template "
             "'{{ ti.execution_date }}'); use logical_date"),
        (16, "template variable 'next_ds_nodash' was removed in Airflow 3 (template '{{ next_ds_nodash }}'); "
             "use {{ data_interval_end | ds_nodash }}"),
        (17, "template variable 'yesterday_ds' was removed in Airflow 3 (template file: template "
             "'{{ yesterday_ds }}' in sql/daily.sql:2); use {{ macros.ds_add(ds, -1) }}"),
    ]  # fmt: skip


def test_data_interval_reads_are_the_values_a_trigger_timetable_moves(tmp_path: Path) -> None:
    (tmp_path / "reads.py").write_text(
        "from airflow.operators.bash import BashOperator\n"
        "from airflow.operators.python import PythonOperator\n"
        "def load(data_interval_start, **context):\n"
        "    return context['dag_run'].logical_date\n"
        "PythonOperator(task_id='l', python_callable=load)\n"
        "BashOperator(task_id='b', bash_command='echo {{ macros.ds_add(ds, 1) }} {{ data_interval_end | ds }}')\n"
    )
    (tmp_path / "end_only.py").write_text(
        "from airflow.operators.bash import BashOperator\n"
        "BashOperator(task_id='b', bash_command='echo {{ data_interval_end }} {{ dag_run.conf }} {{ params.ds }}')\n"
    )

    reads = data_interval_reads(tmp_path)

    assert list(reads) == ["reads.py"]  # data_interval_end keeps its meaning; `| ds` is a filter, params.ds a param
    assert [str(item) for item in reads["reads.py"]] == [
        "reads.py:3: data_interval_start (parameter of task callable load())",
        "reads.py:4: logical_date (attribute context['dag_run'].logical_date)",
        "reads.py:6: ds (template '{{ macros.ds_add(ds, 1) }}')",
    ]


def test_headline_is_the_exception_type_and_the_first_line_of_its_message() -> None:
    timeout = (
        'Traceback (most recent call last):\n  File "/dags/slow.py", line 3, in <module>\n    time.sleep(99)\n'
        "airflow.exceptions.AirflowTaskTimeout: DagBag import timeout for /dags/slow.py after 30.0s.\n"
        "Please take a look at these docs to improve your DAG import time:\n* https://airflow.apache.org/docs/\n"
        ", PID: 4242\n"
    )
    kwargs_dump = (
        'Traceback (most recent call last):\n  File "/dags/t.py", line 9, in <module>\n'
        "TypeError: Invalid arguments were passed to PythonOperator (task_id: report). Invalid arguments were:\n"
        "**kwargs: {'provide_context': True}\n"
    )
    chained = (
        "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nKeyError: 'x'\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        'Traceback (most recent call last):\n  File "a.py", line 3, in <module>\n    raise ValueError(msg)\n'
        "ValueError: no warehouse\n  see the runbook\n"
    )
    timed_out = FileReport("slow.py", (), timeout, (), 30.02)

    assert timed_out.error_summary == "parse took longer than dagbag_import_timeout = 30 s"
    assert timed_out.parse_time_text == "> 30 s"
    assert error_headline(kwargs_dump) == (
        "TypeError: Invalid arguments were passed to PythonOperator (task_id: report). Invalid arguments were:"
    )
    assert error_headline(chained) == "ValueError: no warehouse"
    assert error_headline("Broken DAG: no module named x\nmore") == "Broken DAG: no module named x"


def test_a_probe_failure_on_a_file_is_the_tools_never_the_dags(tmp_path: Path) -> None:
    """The probe runs only the standard library until it imports Airflow, so its per-file machinery runs here
    with a DagBag stand-in that rejects its arguments, as 3.0.6's DagBag rejected bundle_name."""

    def dagbag_of_another_version(**kwargs: object) -> None:
        raise TypeError("DagBag.__init__() got an unexpected keyword argument 'bundle_name'")

    def dagbag_running_a_file_that_exits(**kwargs: object) -> None:
        exec(compile("raise SystemExit(3)", str(dag), "exec"))

    dag = tmp_path / "dag.py"
    dag.write_text("raise SystemExit(3)\n")
    parsing = dag_probe.Parsing(dagbag_of_another_version, {"dag_folder"}, object, None, None)
    users = dag_probe.Parsing(dagbag_running_a_file_that_exits, {"dag_folder"}, object, None, None)

    (tool,) = (result["file"] for result in dag_probe._parse_all([str(dag)], str(tmp_path), parsing, 5.0, 1))
    (user,) = (result["file"] for result in dag_probe._parse_all([str(dag)], str(tmp_path), users, 5.0, 1))

    assert tool["import_error"] is None and tool["parse_seconds"] is None
    assert "unexpected keyword argument 'bundle_name'" in tool["tool_error"]
    assert user["tool_error"] is None and error_headline(user["import_error"]) == "SystemExit: 3"


def test_dag_files_are_parsed_through_a_connection_that_refuses_writes() -> None:
    assert read_only_url("postgresql+psycopg2://airflow:s3cret@127.0.0.1:5432/airflow") == (
        "postgresql+psycopg2://airflow:s3cret@127.0.0.1:5432/airflow?options=-c+default_transaction_read_only%3Don"
    )
    assert read_only_url("postgresql://a@db/airflow?options=-c%20search_path%3Dx").endswith(
        "?options=-c+search_path%3Dx+-c+default_transaction_read_only%3Don"
    )
    assert read_only_url("mysql+mysqldb://a@db/airflow").endswith("?init_command=SET+SESSION+TRANSACTION+READ+ONLY")
    assert (
        read_only_url("sqlite:////srv/airflow/airflow.db") == "sqlite:///file:/srv/airflow/airflow.db?mode=ro&uri=true"
    )


def test_reads_and_findings_in_the_folders_helper_modules_count_for_the_dag_files_importing_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "__init__.py").write_text("")
    (tmp_path / "common" / "loads.py").write_text(
        "from .windows import window\ndef load(**context):\n    return window(context['prev_ds'])\n"
    )
    (tmp_path / "common" / "windows.py").write_text("def window(ds):\n    return ds\nQUERY = '{{ ts }}'\n")
    (tmp_path / "etl.py").write_text(
        "from airflow.operators.python import PythonOperator\nfrom common.loads import load\n"
        "PythonOperator(task_id='l', python_callable=load)\n"
    )

    reads = data_interval_reads(tmp_path)
    findings = dag_folder_findings(tmp_path)

    assert [str(item) for item in reads["etl.py"]] == [
        "common/loads.py:3: prev_ds (context['prev_ds'])",
        "common/windows.py:3: ts (template '{{ ts }}')",
    ]
    assert [(item.path, item.line, item.code) for item in findings["etl.py"]] == [
        ("common/loads.py", 3, "CTX3"),
        ("etl.py", 3, "AIR312"),
    ]


def test_an_airflow_whose_parser_the_probe_cannot_drive_is_a_tool_failure_naming_the_fix(tmp_path: Path) -> None:
    """An Airflow without any DagBag the probe knows (a future release that moved it): the probe stops before
    any DAG file runs and says that mwaa-verify failed, not the DAGs."""
    fake = tmp_path / "site" / "airflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '9.0.0'\n")
    (fake / "configuration.py").write_text(
        "class _Conf:\n"
        "    def getboolean(self, *args, fallback=None): return fallback\n"
        "    def getfloat(self, *args, fallback=None): return fallback\n"
        "conf = _Conf()\n"
    )
    (tmp_path / "dags").mkdir()
    probe = Path(dag_probe.__file__)
    completed = subprocess.run(
        [sys.executable, str(probe), "--dags-folder", str(tmp_path / "dags"), "--out", str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
    )  # fmt: skip

    assert completed.returncode == 3
    assert completed.stderr.strip().splitlines()[-1] == (
        "mwaa-verify's DAG probe cannot drive the parser of Airflow 9.0.0 (RuntimeError: no DagBag class in "
        "airflow.dag_processing.dagbag or airflow.models.dagbag): a failure of mwaa-verify, not of your DAGs; "
        "report it to mwaa-verify's maintainers with this output, or use an Airflow version it supports"
    )
    assert not (tmp_path / "out.json").exists()


def test_only_airflows_own_modules_are_imported_before_a_file_is_forked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe resolves a file's `from airflow... import` names in the parent (as the dag-processor does); a
    module of the DAGs folder whose name merely starts with "airflow" is the user's and runs only in the child,
    under the file's timeout and the ORM block."""
    marker = tmp_path / "imported"
    (tmp_path / "airflow_common.py").write_text(f"open({str(marker)!r}, 'w').close()\nhelper = 1\n")
    dag = tmp_path / "etl.py"
    dag.write_text("from airflow_common import helper\nfrom airflow.models import DAG\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    dag_probe._resolve_imported_names(str(dag))

    assert not marker.exists(), "the parent imported the DAGs folder's own module"
    assert dag_probe._is_airflows("airflow") and dag_probe._is_airflows("airflow.providers.amazon")
    assert not dag_probe._is_airflows("airflow_common")
