"""Task logs the target's own Airflow can show. The old environment's CloudWatch group (moto) holds the logs of
task instances that ran 1 hour, 3 days and 20 days ago; the target is a real Airflow 3 with the Amazon provider,
remote logging to its own CloudWatch group, and task instance rows with those start and end dates. After
`copy-logs`, its CloudwatchTaskHandler shows the 1-hour and 3-day logs; the 20-day one is reported as not copyable
(or archived in S3), and the log suite says exactly that. A copy that stamps the events with the time of the
copy is caught as shifted in time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from aws_double import ACCOUNT, REGION, AwsDouble, describe

from conftest import junit_outcomes
from mwaa_verify.airflow.log_paths import TaskLogKey, stream_name
from mwaa_verify.cli import main
from mwaa_verify.config import EphemeralConfig
from mwaa_verify.environments.base import LogEvent
from mwaa_verify.environments.cloudwatch import CloudWatchTaskLogs
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import local_config_toml
from mwaa_verify.verification import run_verification

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(microsecond=0)
AGES = {"hour": timedelta(hours=1), "days3": timedelta(days=3), "days20": timedelta(days=20)}
LOGICAL_DATES = {"hour": "2024-03-01", "days3": "2024-03-02", "days20": "2024-03-03"}
DAG = """
from datetime import datetime
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("nightly_load", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="load")
"""


@pytest.fixture(scope="module")
def aws_env(aws: AwsDouble) -> Iterator[AwsDouble]:
    """The double for this process and every Airflow process it starts (AWS_ENDPOINT_URL)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", aws.url)
        yield aws


@pytest.fixture(scope="module")
def target(
    aws_env: AwsDouble, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EphemeralEnvironment]:
    dags = tmp_path_factory.mktemp("dags")
    (dags / "nightly_load.py").write_text(DAG)
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-new-Task"
    config = EphemeralConfig(
        name="new",
        airflow_version="3.3.1",
        dags_folder=dags,
        requirements=("apache-airflow-providers-amazon",),
        airflow_config={
            "logging.remote_logging": "True",
            "logging.remote_base_log_folder": f"cloudwatch://{group_arn}",
            "logging.remote_log_conn_id": "aws_default",
        },
    )
    with EphemeralEnvironment(config, cache_dir) as environment:
        environment.parse_dags()
        for logical_date in LOGICAL_DATES.values():  # real runs, their logs kept out of CloudWatch
            environment.run(["-m", "airflow", "dags", "test", "nightly_load", logical_date], 600, "dags test",
                            extra_env={"AIRFLOW__LOGGING__REMOTE_LOGGING": "False"})  # fmt: skip
        engine = sa.create_engine(environment.sql_alchemy_conn)
        with engine.begin() as connection:  # the task instances ran 1 hour, 3 days and 20 days ago
            for name, logical_date in LOGICAL_DATES.items():
                end = NOW - AGES[name]
                connection.execute(
                    sa.text(
                        "UPDATE task_instance SET start_date = :start, end_date = :end FROM dag_run "
                        "WHERE dag_run.run_id = task_instance.run_id AND dag_run.dag_id = task_instance.dag_id "
                        "AND CAST(dag_run.logical_date AS DATE) = :day"
                    ),
                    {"start": end - timedelta(minutes=2), "end": end, "day": logical_date},
                )
        engine.dispose()
        yield environment


def run_ids(target: EphemeralEnvironment) -> dict[str, str]:
    rows = {str(row["logical_date"])[:10]: row["run_id"] for row in target.rows("dag_run")}
    return {name: rows[day] for name, day in LOGICAL_DATES.items()}


@pytest.fixture(scope="module")
def old_group(aws_env: AwsDouble, target: EphemeralEnvironment) -> CloudWatchTaskLogs:
    """The old MWAA environment's task log group: each attempt's lines at the times its task logged them."""
    client = boto3.session.Session().client("logs", endpoint_url=aws_env.url, region_name=REGION)
    group = CloudWatchTaskLogs(client, "airflow-old-Task")
    for name, run_id in run_ids(target).items():
        end = NOW - AGES[name]
        key = TaskLogKey("nightly_load", run_id, "load", -1, 1)
        events = [
            LogEvent(int((end - timedelta(seconds=100 - i)).timestamp() * 1000), f"{name}: line {i}") for i in range(5)
        ]
        # written as MWAA wrote them at the time: moto takes events of any age through its own backend
        from moto.logs.models import logs_backends

        backend = logs_backends[ACCOUNT][REGION]
        if "airflow-old-Task" not in backend.groups:
            backend.create_log_group("airflow-old-Task", {})
        backend.create_log_stream("airflow-old-Task", stream_name(key.default_name))
        backend.groups["airflow-old-Task"].put_log_events(
            stream_name(key.default_name), [{"timestamp": e.timestamp, "message": e.message} for e in events]
        )
    aws_env.mwaa.environments["old"] = describe("old", "old-role", "old-dags", "2.10.5")
    return group


def write_config(aws: AwsDouble, target: EphemeralEnvironment, path: Path) -> Path:
    path.write_text(
        f'[environments.old]\nkind = "mwaa"\nenvironment_name = "old"\nregion = "{REGION}"\n'
        f'endpoint_url = "{aws.url}"\n\n' + local_config_toml(target)
    )
    return path


def test_copied_logs_show_in_the_targets_own_handler_and_old_ones_are_reported(
    aws_env: AwsDouble, target: EphemeralEnvironment, old_group: CloudWatchTaskLogs, tmp_path: Path, cache_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    s3 = boto3.session.Session().client("s3", endpoint_url=aws_env.url, region_name=REGION)
    s3.create_bucket(Bucket="log-archive", CreateBucketConfiguration={"LocationConstraint": REGION})
    config = write_config(aws_env, target, tmp_path / "mwaa-verify.toml")
    runs = run_ids(target)

    code = main(["-q", "--mwaa-config", str(config), "copy-logs", "old", "new", "--archive", "s3://log-archive/old"])

    printed = capsys.readouterr().out
    assert code == 0
    archived = (
        f"s3://log-archive/old/{stream_name(TaskLogKey('nightly_load', runs['days20'], 'load', -1, 1).default_name)}"
    )
    assert f"not copied: nightly_load / {runs['days20']} / load try 1: 5 of 5 line(s) were logged before" in printed
    assert printed.rstrip().endswith(f"CloudWatch accepts no event older than 14 days; archived to {archived}")
    keys = [TaskLogKey("nightly_load", runs[name], "load", -1, 1) for name in AGES]
    shown = {key.run_id: answer for key, answer in zip(keys, target.task_log_views(keys), strict=True)}
    assert shown[runs["hour"]]["handler"] == "FileTaskHandler + CloudWatchRemoteLogIO"  # Airflow 3's remote IO
    assert shown[runs["hour"]]["lines"] == [f"hour: line {i}" for i in range(5)]
    assert shown[runs["days3"]]["lines"] == [f"days3: line {i}" for i in range(5)]

    outcome = run_verification("old", "new", tmp_path / "reports", config, cache_dir, ("log_copy",),
                               ("--logs-archive", "s3://log-archive/old"))  # fmt: skip

    assert junit_outcomes(tmp_path / "reports" / "junit.xml") == {
        "test_task_logs_copied_completely[nightly_load]": None
    }
    output = (outcome.run_dir / "pytest-output.txt").read_text()  # each run keeps its own output
    assert f"not copyable: logged from {(NOW - AGES['days20'] - timedelta(seconds=100)).isoformat()}" in output
    assert f"CloudWatch accepts no event older than 14 days; archived at {archived}" in output
    assert outcome.exit_code == 0

    # the same lines stamped with the time of the copy: stored, but outside the task instance's window
    new_group = target.remote_task_logs
    assert new_group is not None
    new_group.write_task_log(keys[0].default_name, "".join(f"hour: line {i}\n" for i in range(5)).encode())

    again = run_verification("old", "new", tmp_path / "again", config, cache_dir, ("log_copy",))

    [failure] = [text for text in junit_outcomes(tmp_path / "again" / "junit.xml").values() if text]
    assert (
        "nightly_load: 3 source log(s): 0 log(s) missing on the target, 0 truncated, 0 log differs, "
        "1 shifted in time, 0 unreadable, 1 not copyable" in failure
    )
    assert (
        f"shifted in time: {stream_name(keys[0].default_name)}: stored whole, but the target's reader shows 0 of 5 "
        "line(s)" in failure
    )
    assert again.exit_code == 1
