"""The IAM suite as a user runs it: `pytest suites/test_iam_policy.py --source prod-2 --target <env>` with
environments of kind `mwaa` in mwaa-verify.toml, their execution roles in (moto's) IAM. The documented role
passes; each planted defect fails the test for the group it breaks, naming the missing action, the resource
and the deciding statement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_double import ACCOUNT, REGION, AwsDouble, ScriptedRestApi, describe
from mwaa_policies import ENVIRONMENT_GROUPS, documented_policy, narrowed, trust_policy, with_statement, without

from conftest import junit_outcomes
from mwaa_verify.cli import main
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import local_config_toml

SUITE = Path(__file__).resolve().parent.parent / "suites" / "test_iam_policy.py"
GLUE = "airflow.providers.amazon.aws.operators.glue.GlueJobOperator"
GLUE_GRANT = {
    "Sid": "NightlyGlueJob",
    "Effect": "Allow",
    "Action": ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJob"],
    "Resource": f"arn:aws:glue:{REGION}:{ACCOUNT}:job/nightly-etl",
}
MIGRATION_READS = {
    "Sid": "MigrationReads",
    "Effect": "Allow",
    "Action": ["logs:DescribeLogStreams", "logs:GetLogEvents"],
    "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-prod-2-Task*",
}
GROUPS = [*ENVIRONMENT_GROUPS, "operator-GlueJobOperator", "source-task-logs"]


@pytest.fixture(scope="module", autouse=True)
def old_environment(aws: AwsDouble) -> None:
    """The environment migrated from, with the role the AWS documentation gives."""
    add_environment(aws, "prod-2", documented_policy("prod-2", "prod-2-dags"), airflow_version="2.10.3")


def add_environment(
    aws: AwsDouble, name: str, policy: dict[str, Any], airflow_version: str = "3.3.1", trust: dict | None = None
) -> None:
    trust = trust or trust_policy()
    iam = boto3.client("iam", endpoint_url=aws.url, region_name=REGION)
    iam.create_role(RoleName=f"{name}-role", Path="/service-role/", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=f"{name}-role", PolicyName="execution", PolicyDocument=json.dumps(policy))
    s3 = boto3.client("s3", endpoint_url=aws.url, region_name=REGION)
    s3.create_bucket(Bucket=f"{name}-dags", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=f"{name}-dags", Key="dags/dag_000.py", Body=b"# the nightly Glue job\n")
    aws.mwaa.environments[name] = describe(name, f"{name}-role", f"{name}-dags", airflow_version)
    aws.mwaa.rest_backends[name] = ScriptedRestApi(1, operator=GLUE)


def run_suite(pytester: pytest.Pytester, aws: AwsDouble, target: str, *options: str) -> dict[str, str | None]:
    sections = [
        f'[environments.{name}]\nkind = "mwaa"\nenvironment_name = "{name}"\nregion = "{REGION}"\n'
        f'endpoint_url = "{aws.url}"\n'
        for name in ("prod-2", target)
    ]
    pytester.makefile(".toml", **{"mwaa-verify": "\n".join(sections)})
    report = pytester.path / "junit.xml"
    pytester.runpytest_subprocess(
        str(SUITE), "--source", "prod-2", "--target", target, f"--junitxml={report}", "-p", "no:cacheprovider", *options
    )
    return {name.removeprefix("test_execution_role_allows"): text for name, text in junit_outcomes(report).items()}


def failed(outcomes: dict[str, str | None]) -> dict[str, str]:
    return {name: text for name, text in outcomes.items() if text and text != "SKIPPED"}


def test_documented_role_with_the_migration_reads_passes_every_group(pytester: pytest.Pytester, aws: AwsDouble) -> None:
    add_environment(
        aws, "good", with_statement(with_statement(documented_policy("good", "good-dags"), GLUE_GRANT), MIGRATION_READS)
    )

    outcomes = run_suite(pytester, aws, "good")

    others = ["test_execution_role_trusts_mwaa", "test_target_role_keeps_source_permissions"]
    assert outcomes == dict.fromkeys([f"[{group}]" for group in GROUPS] + others)


def test_documented_role_alone_cannot_read_the_old_task_logs(pytester: pytest.Pytester, aws: AwsDouble) -> None:
    add_environment(aws, "plain", with_statement(documented_policy("plain", "plain-dags"), GLUE_GRANT))

    outcomes = failed(run_suite(pytester, aws, "plain"))

    assert list(outcomes) == ["[source-task-logs]"]
    assert (
        "copy task logs from the old environment 'prod-2': 2 missing permission(s) in execution role plain-role: "
        f"logs:DescribeLogStreams on arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-prod-2-Task: implicit deny"
    ) in outcomes["[source-task-logs]"]


def test_each_planted_defect_fails_its_group(pytester: pytest.Pytester, aws: AwsDouble) -> None:
    base = with_statement(documented_policy("defects", "defects-dags"), GLUE_GRANT)
    deny = {
        "Sid": "FreezeDags",
        "Effect": "Deny",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::defects-dags/dags/*",
    }
    narrow = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-defects-Task*"
    policy = narrowed(with_statement(without(base, "CeleryQueue"), deny), "WriteLogs", narrow)
    add_environment(aws, "defects", policy, trust=trust_policy("airflow.amazonaws.com"))

    outcomes = failed(run_suite(pytester, aws, "defects"))

    assert set(outcomes) == {
        "[celery-queue]",
        "[dag-bucket]",
        "[logs-DAGProcessing]",
        "[logs-Scheduler]",
        "[logs-WebServer]",
        "[logs-Worker]",
        "[source-task-logs]",
        "test_execution_role_trusts_mwaa",
        "test_target_role_keeps_source_permissions",
    }
    assert (
        "read DAGs, plugins and requirements from arn:aws:s3:::defects-dags: 1 missing permission(s) in execution "
        "role defects-role: s3:GetObject on arn:aws:s3:::defects-dags/dags/*: explicit deny by inline policy "
        "execution statement FreezeDags (Deny)"
    ) in outcomes["[dag-bucket]"]
    assert (
        f"sqs:SendMessage on arn:aws:sqs:{REGION}:*:airflow-celery-*: implicit deny: no statement allows it"
        in outcomes["[celery-queue]"]
    )
    assert (
        f"logs:PutLogEvents on arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-defects-Worker:log-stream:*: "
        "implicit deny" in outcomes["[logs-Worker]"]
    )
    assert "sqs:ReceiveMessage on" in outcomes["test_target_role_keeps_source_permissions"]
    assert (
        f"execution role defects-role cannot be assumed by MWAA: 1 missing permission(s): sts:AssumeRole on "
        f"arn:aws:iam::{ACCOUNT}:role/service-role/defects-role by airflow-env.amazonaws.com: implicit deny"
    ) in outcomes["test_execution_role_trusts_mwaa"]


def test_operator_without_its_grant_fails(pytester: pytest.Pytester, aws: AwsDouble) -> None:
    add_environment(aws, "noglue", documented_policy("noglue", "noglue-dags"))

    outcomes = failed(run_suite(pytester, aws, "noglue", "-k", "GlueJobOperator"))

    assert list(outcomes) == ["[operator-GlueJobOperator]"]
    assert (
        "glue:StartJobRun on its resources: implicit deny: no statement allows it"
        in (outcomes["[operator-GlueJobOperator]"])
    )


def test_unreadable_dags_fail_the_operators_check_only(pytester: pytest.Pytester, aws: AwsDouble) -> None:
    add_environment(aws, "norest", with_statement(documented_policy("norest", "norest-dags"), GLUE_GRANT))
    del aws.mwaa.rest_backends["norest"]

    outcomes = failed(run_suite(pytester, aws, "norest"))

    assert set(outcomes) == {"[operators]", "[source-task-logs]"}
    assert "cannot read the target's DAGs to find the AWS operators they use" in outcomes["[operators]"]


def test_simulation_iam_refuses_fails_with_the_fix(pytester: pytest.Pytester, aws: AwsDouble) -> None:
    add_environment(aws, "simulated", with_statement(documented_policy("simulated", "simulated-dags"), GLUE_GRANT))

    outcomes = failed(run_suite(pytester, aws, "simulated", "--iam-simulate", "-k", "metrics"))

    # the double answers as IAM does a caller without iam:SimulatePrincipalPolicy (moto lacks the action)
    assert list(outcomes) == ["[metrics]"]
    assert outcomes["[metrics]"].startswith(
        f"Failed: IAM SimulatePrincipalPolicy for arn:aws:iam::{ACCOUNT}:role/service-role/simulated-role failed: "
        "An error occurred (AccessDenied)"
    )
    assert (
        "the caller needs iam:SimulatePrincipalPolicy on the role, or leave out --iam-simulate"
        in (outcomes["[metrics]"])
    )


@pytest.mark.slow
def test_local_target_is_judged_by_its_policy_file_and_declared_needs(
    pytester: pytest.Pytester, airflow3: EphemeralEnvironment
) -> None:
    section = local_config_toml(airflow3)
    pytester.makefile(".toml", **{"mwaa-verify": section})
    report = pytester.path / "junit.xml"
    # the environment verified against itself: the role diff has nothing to find, the requirements do
    args = [str(SUITE), "--source", airflow3.name, "--target", airflow3.name, f"--junitxml={report}", "-rs"]

    result = pytester.runpytest_subprocess(*args)

    result.stdout.fnmatch_lines(["SKIPPED*not applicable: the target is not an MWAA environment, its DAGs use no AWS*"])
    policy = pytester.path / "policy.json"
    policy.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    declared = (
        '[verify]\nrequired_permissions = [{ action = "s3:GetObject", resource = "arn:aws:s3:::lake/raw/*" },\n'
        '                        { action = "s3:PutObject", resource = "arn:aws:s3:::lake/curated/*" }]\n'
    )
    pytester.makefile(".toml", **{"mwaa-verify": declared + section + f'policy_file = "{policy}"\n'})

    pytester.runpytest_subprocess(*args)

    outcomes = junit_outcomes(report)
    assert sorted(outcomes) == [
        "test_execution_role_allows[declared]",
        "test_execution_role_trusts_mwaa",
        "test_target_role_keeps_source_permissions",
    ]
    assert outcomes["test_execution_role_trusts_mwaa"] == "SKIPPED"
    assert outcomes["test_target_role_keeps_source_permissions"] is None
    assert (
        "the permissions declared in mwaa-verify.toml: 1 missing permission(s) in execution role policy.json: "
        "s3:PutObject on arn:aws:s3:::lake/curated/*: implicit deny" in outcomes["test_execution_role_allows[declared]"]
    )


def test_run_reports_missing_permissions_in_the_sign_off_summary(
    aws: AwsDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = without(with_statement(documented_policy("signoff", "signoff-dags"), GLUE_GRANT), "CeleryQueue")
    add_environment(aws, "signoff", with_statement(policy, MIGRATION_READS))
    config = tmp_path / "mwaa-verify.toml"
    config.write_text(
        "\n".join(
            f'[environments.{name}]\nkind = "mwaa"\nenvironment_name = "{name}"\nregion = "{REGION}"\n'
            f'endpoint_url = "{aws.url}"\n'
            for name in ("prod-2", "signoff")
        )
    )

    code = main(
        [
            "-q",
            "--mwaa-config",
            str(config),
            "run",
            "--source",
            "prod-2",
            "--target",
            "signoff",
            "--suite",
            "iam_policy",
            "--reports",
            str(tmp_path / "reports"),
        ]
    )

    assert code == 1
    summary = (tmp_path / "reports" / "summary.md").read_text()
    assert "**NOT READY FOR CUTOVER: 2 check(s) failed" in summary
    celery = next(line for line in summary.splitlines() if "| celery-queue |" in line)
    assert "Permission missing: hand tasks to workers through the environment's Celery queue: 6 missing" in celery
    diff = next(line for line in summary.splitlines() if line.startswith("| test_target_role_keeps_source_permissions"))
    assert "Permission missing: execution role signoff-role is missing 6 permission(s) that prod-2-role has" in diff
    assert "NOT READY FOR CUTOVER" in capsys.readouterr().out
