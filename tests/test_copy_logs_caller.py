"""`mwaa-verify copy-logs` reads the old environment's task logs with the caller's credentials: a caller who
may not read them is told so in one line before anything is copied (IAM's simulator asked where the caller is
an IAM user or role, one cheap read per action otherwise); a caller who may read them copies."""

from __future__ import annotations

import time
from pathlib import Path

import boto3
import pytest
from aws_double import ACCOUNT, REGION, AwsDouble, describe

from mwaa_verify.cli import main

STREAM = "dag_id=etl/run_id=scheduled__2024-03-01T00:00:00+00:00/task_id=extract/attempt=1.log"
GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-old-Task"
GRANT = (
    f"Grant logs:DescribeLogStreams, logs:FilterLogEvents, logs:GetLogEvents on {GROUP_ARN} and its streams to the "
    "identity that runs copy-logs"
)


@pytest.fixture(scope="module")
def config(aws: AwsDouble, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two MWAA environments; the old one's task log group holds one task attempt's log."""
    for name, version in (("old", "2.10.3"), ("new", "3.3.1")):
        aws.mwaa.environments[name] = describe(name, f"{name}-role", f"{name}-dags", version)
    logs = boto3.client("logs", endpoint_url=aws.url, region_name=REGION)
    logs.create_log_group(logGroupName="airflow-old-Task")
    logs.create_log_stream(logGroupName="airflow-old-Task", logStreamName=STREAM)
    an_hour_ago = int((time.time() - 3600) * 1000)  # within the 14 days CloudWatch accepts events at their own time
    events = [{"timestamp": an_hour_ago + i, "message": f"line {i}"} for i in range(3)]
    logs.put_log_events(logGroupName="airflow-old-Task", logStreamName=STREAM, logEvents=events)
    path = tmp_path_factory.mktemp("copy-logs") / "mwaa-verify.toml"
    path.write_text(
        "\n".join(
            f'[environments.{name}]\nkind = "mwaa"\nenvironment_name = "{name}"\nregion = "{REGION}"\n'
            f'endpoint_url = "{aws.url}"\n'
            for name in ("old", "new")
        )
    )
    return path


def copied_streams(aws: AwsDouble) -> list[str]:
    logs = boto3.client("logs", endpoint_url=aws.url, region_name=REGION)
    try:
        return [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="airflow-new-Task")["logStreams"]]
    except logs.exceptions.ResourceNotFoundException:
        return []


def copy_logs(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["-q", "--mwaa-config", str(config), "copy-logs", "old", "new"])
    return code, capsys.readouterr().err


def test_a_caller_refused_the_reads_is_told_before_anything_is_copied(
    aws: AwsDouble, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws, "denied", {"logs:GetLogEvents", "logs:FilterLogEvents"})

    code, err = copy_logs(config, capsys)

    assert code == 2
    assert err.count("\n") == 1
    caller = boto3.client("sts", endpoint_url=aws.url, region_name=REGION).get_caller_identity()["Arn"]
    assert err == (
        f"mwaa-verify: error: cannot copy task logs from 'old': the caller {caller} may not read its task log "
        "group airflow-old-Task (logs:FilterLogEvents denied, logs:GetLogEvents denied: AWS refused a read); "
        f"nothing was copied. {GRANT}\n"
    )
    assert copied_streams(aws) == []


def test_an_iam_user_caller_is_judged_by_iam_s_simulator(
    aws: AwsDouble, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = boto3.client("iam", endpoint_url=aws.url, region_name=REGION)
    iam.create_user(UserName="copier")
    key = iam.create_access_key(UserName="copier")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    decisions = {"logs:DescribeLogStreams": "allowed", "logs:FilterLogEvents": "allowed"}
    monkeypatch.setattr(aws, "simulation", {**decisions, "logs:GetLogEvents": "implicitDeny"})

    code, err = copy_logs(config, capsys)

    assert code == 2
    assert err == (
        f"mwaa-verify: error: cannot copy task logs from 'old': the caller arn:aws:iam::{ACCOUNT}:user/copier may "
        "not read its task log group airflow-old-Task (logs:GetLogEvents implicitDeny: IAM "
        f"SimulatePrincipalPolicy); nothing was copied. {GRANT}\n"
    )
    assert copied_streams(aws) == []


def test_a_caller_who_may_read_copies(aws: AwsDouble, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = copy_logs(config, capsys)

    assert (code, err) == (0, "")
    assert copied_streams(aws) == [STREAM.replace(":", "_")]  # the stream name the Amazon provider reads
