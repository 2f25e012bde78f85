"""A 2.10 -> 3.3 migration between two MWAA environments, verified as a user runs it: `mwaa-verify copy-logs`
and `mwaa-verify run` over environments of kind `mwaa` in mwaa-verify.toml. Behind them: S3, IAM and CloudWatch
Logs in moto, and InvokeRestApi answered by real Airflow web servers (2.10 webserver, 3.3 api-server) whose
dag-processors parsed the demo DAGs."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from aws_double import REGION, AirflowRestApi, AwsDouble, describe
from mwaa_policies import documented_policy, trust_policy, with_statement

from mwaa_verify.cli import main
from mwaa_verify.config import MwaaConfig
from mwaa_verify.demo import DEMO_DAGS
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.mwaa import MwaaEnvironment
from mwaa_verify.migrate.logs import copy_task_logs

pytestmark = pytest.mark.slow

OPTIONS = {"core.default_task_retries": "1", "core.dag_file_processor_timeout": "120"}
TARGET_OPTIONS = {"core.default_task_retries": "1", "dag_processor.dag_file_processor_timeout": "120"}
LOG_READS = {
    "Sid": "ReadOldTaskLogs",
    "Effect": "Allow",
    "Action": ["logs:DescribeLogStreams", "logs:GetLogEvents"],
    "Resource": f"arn:aws:logs:{REGION}:*:log-group:airflow-old-env-Task*",
}


def add_environment(
    aws: AwsDouble, name: str, airflow: EphemeralEnvironment, api: AirflowRestApi, options: dict[str, str], policy: dict
) -> None:
    s3 = boto3.client("s3", endpoint_url=aws.url, region_name=REGION)
    s3.create_bucket(Bucket=f"{name}-dags", CreateBucketConfiguration={"LocationConstraint": REGION})
    for path in sorted(DEMO_DAGS.glob("*.py")):
        s3.put_object(Bucket=f"{name}-dags", Key=f"dags/{path.name}", Body=path.read_bytes())
    iam = boto3.client("iam", endpoint_url=aws.url, region_name=REGION)
    trust = trust_policy()
    iam.create_role(RoleName=f"{name}-role", Path="/service-role/", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=f"{name}-role", PolicyName="execution", PolicyDocument=json.dumps(policy))
    aws.mwaa.environments[name] = describe(
        name, f"{name}-role", f"{name}-dags", str(airflow.version), AirflowConfigurationOptions=options
    )
    aws.mwaa.rest_backends[name] = api


def test_migration_between_two_mwaa_environments(
    aws: AwsDouble,
    airflow2: EphemeralEnvironment,
    airflow3: EphemeralEnvironment,
    airflow2_rest: AirflowRestApi,
    airflow3_rest: AirflowRestApi,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_environment(aws, "old-env", airflow2, airflow2_rest, OPTIONS, documented_policy("old-env", "old-env-dags"))
    add_environment(
        aws,
        "new-env",
        airflow3,
        airflow3_rest,
        TARGET_OPTIONS,
        with_statement(documented_policy("new-env", "new-env-dags"), LOG_READS),
    )
    with MwaaEnvironment(MwaaConfig("old", "old-env", region=REGION, endpoint_url=aws.url)) as old:
        copy_task_logs(airflow2, old)  # the old environment's history, in its CloudWatch log group
    config = tmp_path / "mwaa-verify.toml"
    config.write_text(
        "".join(
            f'[environments.{key}]\nkind = "mwaa"\nenvironment_name = "{name}"\nregion = "{REGION}"\n'
            f'endpoint_url = "{aws.url}"\n\n'
            for key, name in (("old", "old-env"), ("new", "new-env"))
        )
    )
    common = ["-q", "--mwaa-config", str(config)]

    assert main([*common, "copy-logs", "old", "new"]) == 0
    code = main(
        [
            *common,
            "run",
            "--source",
            "old",
            "--target",
            "new",
            "--reports",
            str(tmp_path / "reports"),
            "--suite",
            "dag_import",
            "--suite",
            "log_copy",
            "--suite",
            "environment_config",
            "--suite",
            "iam_policy",
        ]
    )

    assert code == 1
    summary = (tmp_path / "reports" / "summary.md").read_text()
    failed = [line for line in summary.splitlines() if line.startswith("| ") and "| failed |" in line]
    # what fails is exactly what breaks on Airflow 3: the four legacy DAG files and their DAGs
    assert len(failed) == 12 and all("legacy_" in line for line in failed), "\n".join(failed)
    passed = [line for line in summary.splitlines() if "| passed |" in line]
    assert any(line.startswith("| test_task_logs_copied_completely | demo_etl |") for line in passed)
    assert any(line.startswith("| test_dag_keeps_its_shape_on_the_target | demo_etl |") for line in passed)
    assert any(line.startswith("| test_configuration_section_matches | core |") for line in passed)
    assert any(line.startswith("| test_configuration_section_matches | dag_processor |") for line in passed)
    assert any(line.startswith("| test_platform_settings_match |") for line in passed)
    # copy-logs read the old log group with the caller's credentials: the new role is not asked to (logs_copied_by)
    assert not any("source-task-logs" in line for line in summary.splitlines())
    assert any(line.startswith("| test_target_role_keeps_source_permissions |") for line in passed)
    budget = next(line for line in summary.splitlines() if line.startswith("| test_parse_time_within_the_targets"))
    assert "not applicable: the target reports no parse times (MWAA's REST API)" in budget
    assert "- source: old (kind mwaa; running Airflow 2.10.5, Python 3.11)" in summary
    assert "NOT READY FOR CUTOVER" in capsys.readouterr().out
