"""Cloning an MWAA environment for a newer Airflow (step one of the migration guide): the plan is the
CreateEnvironment request boto3 would send, nothing is created without --apply, and bad input is refused
in one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from aws_double import ACCOUNT, REGION, AwsDouble, aws_for_tests, describe
from mwaa_policies import documented_policy, trust_policy, with_statement, without

from mwaa_verify.cli import main
from mwaa_verify.migrate.clone import CloneError, plan_clone

NEW_ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/prod-3-role"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRETS = {
    "Sid": "Secrets",
    "Effect": "Allow",
    "Action": "secretsmanager:GetSecretValue",
    "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:*",
}
# the customer managed key statement of the documented policy, through SQS and S3
CUSTOMER_KEY = {
    "Sid": "CustomerKey",
    "Effect": "Allow",
    "Resource": KEY,
    "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
    "Condition": {"StringLike": {"kms:ViaService": [f"sqs.{REGION}.amazonaws.com", f"s3.{REGION}.amazonaws.com"]}},
}
OPTIONS = {
    "core.dag_file_processor_timeout": "150",
    "core.check_slas": "False",
    "secrets.backend": "airflow.contrib.secrets.aws_secrets_manager.SecretsManagerBackend",
    "secrets.backend_kwargs": '{"connections_prefix": "prod/conn"}',
    "smtp.smtp_password": "hunter2-do-not-print",
}
SOURCE = describe(
    "prod-2",
    "prod-2-role",
    "prod-dags",
    "2.10.3",
    AirflowConfigurationOptions=OPTIONS,
    PluginsS3Path="plugins.zip",
    PluginsS3ObjectVersion="v3",
    CeleryExecutorQueue=f"arn:aws:sqs:{REGION}:999999999999:airflow-celery-abc",
    KmsKey=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    Tags={"team": "data"},
)


def test_plan_carries_every_create_setting_and_changes_only_what_it_must() -> None:
    plan = plan_clone(SOURCE, "prod-3", "3.3.1", NEW_ROLE)

    assert plan.request == {
        "Name": "prod-3",
        "AirflowVersion": "3.3.1",
        "ExecutionRoleArn": NEW_ROLE,
        "SourceBucketArn": "arn:aws:s3:::prod-dags",
        "DagS3Path": "dags",
        "PluginsS3Path": "plugins.zip",
        "PluginsS3ObjectVersion": "v3",
        "KmsKey": SOURCE["KmsKey"],
        "EnvironmentClass": "mw1.small",
        "MaxWorkers": 10,
        "MinWorkers": 1,
        "Schedulers": 2,
        "NetworkConfiguration": {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]},
        "LoggingConfiguration": {
            module: {"Enabled": True, "LogLevel": "INFO"}
            for module in ("DagProcessingLogs", "SchedulerLogs", "TaskLogs", "WebserverLogs", "WorkerLogs")
        },
        "WebserverAccessMode": "PRIVATE_ONLY",
        "WeeklyMaintenanceWindowStart": "SUN:03:30",
        "Tags": {"team": "data"},
        "AirflowConfigurationOptions": {
            "dag_processor.dag_file_processor_timeout": "150",
            "secrets.backend": "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
            "secrets.backend_kwargs": '{"connections_prefix": "prod/conn"}',
            "smtp.smtp_password": "hunter2-do-not-print",
        },
    }
    assert plan.changes == (
        "Name: prod-2 -> prod-3",
        "AirflowVersion: 2.10.3 -> 3.3.1",
        f"ExecutionRoleArn: arn:aws:iam::{ACCOUNT}:role/service-role/prod-2-role -> {NEW_ROLE}",
        "LoggingConfiguration: new log groups airflow-prod-3-*, not the old environment's",
        "AirflowConfigurationOptions: core.check_slas dropped (SLAs were removed in Airflow 3)",
        "AirflowConfigurationOptions: core.dag_file_processor_timeout -> dag_processor.dag_file_processor_timeout "
        "(moved in Airflow 3)",
        "AirflowConfigurationOptions: secrets.backend airflow.contrib.secrets.aws_secrets_manager.SecretsManagerBackend"
        " -> airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
    )


@pytest.mark.parametrize(
    ("name", "version", "role", "message"),
    [
        ("3-prod", "3.3.1", None, "Name '3-prod' is not valid for MWAA: it must match [a-zA-Z][0-9a-zA-Z-_]*"),
        ("prod-2", "3.3.1", None, "the new environment needs a name of its own; 'prod-2' is the environment cloned"),
        ("prod-3", "2.9.2", None, "Airflow 2.9.2 is older than the source's 2.10.3"),
        ("prod-3", "3.1.0", None, "MWAA runs Airflow 2.9, 2.10, 2.11, 3.0, 3.2, 3.3.x; 3.1.0 is not one"),
        ("prod-3", "three", None, "not an Airflow version: 'three'; write the Airflow version as X.Y.Z"),
        ("prod-3", "3.3.1", "prod-3-role", "ExecutionRoleArn 'prod-3-role' is not valid for MWAA"),
    ],
)
def test_bad_input_is_refused_in_one_line(name: str, version: str, role: str | None, message: str) -> None:
    with pytest.raises(CloneError) as raised:
        plan_clone(SOURCE, name, version, role)

    assert str(raised.value).startswith(message)


@pytest.fixture
def aws(no_config: Path) -> Iterator[AwsDouble]:
    """A double of its own per test: clones create environments in it."""
    with aws_for_tests() as double:
        double.mwaa.environments["prod-2"] = SOURCE
        iam = boto3.client("iam", endpoint_url=double.url, region_name=REGION)
        for name in ("prod-2", "prod-3"):
            iam.create_role(
                RoleName=f"{name}-role", Path="/service-role/", AssumeRolePolicyDocument=json.dumps(trust_policy())
            )
            policy = with_statement(with_statement(documented_policy(name, "prod-dags"), CUSTOMER_KEY), SECRETS)
            iam.put_role_policy(RoleName=f"{name}-role", PolicyName="execution", PolicyDocument=json.dumps(policy))
        (no_config / "mwaa-verify.toml").write_text(
            f'[environments.old]\nkind = "mwaa"\nenvironment_name = "prod-2"\nregion = "{REGION}"\n'
            f'endpoint_url = "{double.url}"\n'
        )
        yield double


def test_clone_prints_the_plan_and_creates_nothing(aws: AwsDouble, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["-q", "clone", "old", "--name", "prod-3", "--airflow-version", "3.3.1", "--execution-role-arn", NEW_ROLE]
    )

    out = capsys.readouterr().out
    assert code == 0
    shown = json.loads(out[out.index("{") : out.index("\nchanges from the source:")])
    assert shown == plan_clone(SOURCE, "prod-3", "3.3.1", NEW_ROLE).shown()
    assert "lacks" not in out
    assert shown["AirflowConfigurationOptions"]["smtp.smtp_password"] == "<redacted>"
    assert shown["AirflowConfigurationOptions"]["secrets.backend_kwargs"] == "<redacted>"
    assert "hunter2" not in out
    assert out.endswith("dry run: nothing was created; pass --apply to create it\n")
    assert sorted(aws.mwaa.environments) == ["prod-2"]


def test_clone_with_the_old_role_lists_what_it_lacks_and_creates_nothing(
    aws: AwsDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["-q", "clone", "old", "--name", "prod-3", "--airflow-version", "3.3.1"]

    assert main(args) == 1
    out = capsys.readouterr().out
    old_role = SOURCE["ExecutionRoleArn"]
    assert f"execution role {old_role} lacks 21 permission(s) the new environment needs:" in out
    assert (
        f"  airflow:PublishMetrics on arn:aws:airflow:{REGION}:{ACCOUNT}:environment/prod-3: implicit deny: no "
        "statement allows it"
    ) in out
    assert f"  logs:PutLogEvents on arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-prod-3-Task:log-stream:*" in out
    assert main([*args, "--apply"]) == 2
    assert capsys.readouterr().err == (
        f"mwaa-verify: error: not created: execution role {old_role} lacks 21 permission(s) listed above; grant "
        "them (or pass --skip-role-check to create it anyway)\n"
    )
    assert sorted(aws.mwaa.environments) == ["prod-2"]


def test_clone_with_a_role_that_does_not_exist(aws: AwsDouble, capsys: pytest.CaptureFixture[str]) -> None:
    missing = f"arn:aws:iam::{ACCOUNT}:role/nobody"

    code = main(
        ["-q", "clone", "old", "--name", "prod-3", "--airflow-version", "3.3.1", "--execution-role-arn", missing]
    )

    assert code == 2
    assert capsys.readouterr().err == (
        f"mwaa-verify: error: execution role {missing} does not exist; create it first, or name another with "
        "--execution-role-arn\n"
    )


def test_clone_apply_creates_the_planned_environment(aws: AwsDouble, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["-q", "clone", "old", "--name", "prod-3", "--airflow-version", "3.3.1", "--execution-role-arn", NEW_ROLE]

    code = main([*args, "--apply"])

    assert code == 0
    created = aws.mwaa.environments["prod-3"]
    assert (created["AirflowVersion"], created["ExecutionRoleArn"], created["Status"]) == (
        "3.3.1",
        NEW_ROLE,
        "CREATING",
    )
    assert created["AirflowConfigurationOptions"]["dag_processor.dag_file_processor_timeout"] == "150"
    assert created["AirflowConfigurationOptions"]["smtp.smtp_password"] == "hunter2-do-not-print"
    assert f"creating arn:aws:airflow:{REGION}:{ACCOUNT}:environment/prod-3" in capsys.readouterr().out
    # a second apply does not touch what now exists
    assert main([*args, "--apply"]) == 2
    assert capsys.readouterr().err == (
        "mwaa-verify: error: environment 'prod-3' already exists; pick another name or delete it first\n"
    )


def test_clone_of_a_kind_that_is_not_mwaa(no_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (no_config / "mwaa-verify.toml").write_text(
        '[environments.rehearsal]\nkind = "ephemeral"\nairflow_version = "3.3.1"\n'
    )

    code = main(["-q", "clone", "rehearsal", "--name", "prod-3", "--airflow-version", "3.3.1"])

    assert code == 2
    assert capsys.readouterr().err == (
        "mwaa-verify: error: environment 'rehearsal' is of kind 'ephemeral'; clone copies an MWAA environment "
        "(kind 'mwaa')\n"
    )


def test_clone_in_china_judges_the_role_in_aws_cn_and_warns_of_what_it_could_not_read(
    no_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    region = "cn-north-1"
    with aws_for_tests() as double:
        double.mwaa.environments["cn-2"] = describe("cn-2", "cn-2-role", "cn-dags", "2.10.3", region=region)
        iam = boto3.client("iam", endpoint_url=double.url, region_name=region)
        iam.create_role(
            RoleName="cn-3-role", Path="/service-role/", AssumeRolePolicyDocument=json.dumps(trust_policy())
        )
        role = without(documented_policy("cn-3", "cn-dags", region=region), "PublicAccessBlock")
        iam.put_role_policy(RoleName="cn-3-role", PolicyName="execution", PolicyDocument=json.dumps(role))
        (no_config / "mwaa-verify.toml").write_text(
            f'[environments.old]\nkind = "mwaa"\nenvironment_name = "cn-2"\nregion = "{region}"\n'
            f'endpoint_url = "{double.url}"\n'
        )
        monkeypatch.setattr(double, "denied", {"s3:GetAccountPublicAccessBlock"})
        new_role = f"arn:aws-cn:iam::{ACCOUNT}:role/service-role/cn-3-role"

        code = main(["-q", "clone", "old", "--name", "cn-3", "--airflow-version", "3.3.1",
                     "--execution-role-arn", new_role])  # fmt: skip

    out = capsys.readouterr().out
    assert code == 0, out
    assert "lacks" not in out
    (warning,) = [line for line in out.splitlines() if line.startswith("warning:")]
    assert warning.startswith(
        f"warning: execution role {new_role}: s3:GetAccountPublicAccessBlock on *: implicit deny: no statement allows "
        "it; needed only if the account blocks public access, and the account's setting could not be read"
    )
