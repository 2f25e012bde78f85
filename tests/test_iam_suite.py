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
from aws_double import ACCOUNT, REGION, AwsDouble, ScriptedRestApi, describe, partition_of
from mwaa_policies import (
    ENVIRONMENT_GROUPS,
    cloudformation_sample_policy,
    customer_managed_key_policy,
    documented_policy,
    key_policy,
    logs_key_policy_statement,
    narrowed,
    trust_policy,
    with_statement,
    without,
)

from conftest import junit_outcomes
from mwaa_verify.cli import main
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.local import local_config_toml
from mwaa_verify.environments.mwaa import exact_endpoint

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
    "Action": ["logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:GetLogEvents"],
    "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-prod-2-Task*",
}
GROUPS = [*ENVIRONMENT_GROUPS, "operator-GlueJobOperator"]
OTHERS = {
    "test_account_policies_were_evaluated": None,
    "test_key_policy_lets_cloudwatch_logs_use_the_key": "SKIPPED",
    "test_execution_role_trusts_mwaa": None,
    "test_target_role_keeps_source_permissions": None,
}
IN_ENVIRONMENT = '[verify]\nlogs_copied_by = "environment"\n'


@pytest.fixture(scope="module", autouse=True)
def old_environment(aws: AwsDouble) -> None:
    """The environment migrated from, with the role the AWS documentation gives."""
    add_environment(aws, "prod-2", documented_policy("prod-2", "prod-2-dags"), airflow_version="2.10.3")


def add_environment(
    aws: AwsDouble,
    name: str,
    policy: dict[str, Any] | None,
    airflow_version: str = "3.3.1",
    trust: dict | None = None,
    region: str = REGION,
    **fields: Any,
) -> dict[str, Any]:
    """An MWAA environment in `region` (and its partition): its execution role in IAM, its DAG bucket in S3."""
    trust = trust or trust_policy()
    iam = boto3.client("iam", endpoint_url=aws.url, region_name=region)
    iam.create_role(RoleName=f"{name}-role", Path="/service-role/", AssumeRolePolicyDocument=json.dumps(trust))
    if policy is not None:
        iam.put_role_policy(RoleName=f"{name}-role", PolicyName="execution", PolicyDocument=json.dumps(policy))
    s3 = boto3.client("s3", endpoint_url=aws.url, region_name=region)
    s3.create_bucket(Bucket=f"{name}-dags", CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_object(Bucket=f"{name}-dags", Key="dags/dag_000.py", Body=b"# the nightly Glue job\n")
    description = describe(name, f"{name}-role", f"{name}-dags", airflow_version, region=region, **fields)
    aws.mwaa.environments[name] = description
    aws.mwaa.rest_backends[name] = ScriptedRestApi(1, operator=GLUE)
    return description


def run_suite(
    pytester: pytest.Pytester, aws: AwsDouble, target: str, *options: str, region: str = REGION, verify: str = ""
) -> dict[str, str | None]:
    sections = [
        f'[environments.{name}]\nkind = "mwaa"\nenvironment_name = "{name}"\n'
        f'region = "{REGION if name == "prod-2" else region}"\nendpoint_url = "{aws.url}"\n'
        for name in ("prod-2", target)
    ]
    pytester.makefile(".toml", **{"mwaa-verify": "\n".join([verify, *sections])})
    report = pytester.path / "junit.xml"
    pytester.runpytest_subprocess(
        str(SUITE), "--source", "prod-2", "--target", target, f"--junitxml={report}", "-p", "no:cacheprovider", *options
    )
    return {name.removeprefix("test_execution_role_allows"): text for name, text in junit_outcomes(report).items()}


def failed(outcomes: dict[str, str | None]) -> dict[str, str]:
    return {name: text for name, text in outcomes.items() if text and text != "SKIPPED"}


def warnings_of(results: Path) -> list[str]:
    """The `mwaa_warning` labels of an Allure results folder: what the sign-off lists as warnings."""
    return sorted(
        label["value"]
        for path in results.glob("*-result.json")
        for label in json.loads(path.read_text())["labels"]
        if label["name"] == "mwaa_warning"
    )


def test_documented_role_passes_every_group(pytester: pytest.Pytester, aws: AwsDouble) -> None:
    add_environment(aws, "good", with_statement(documented_policy("good", "good-dags"), GLUE_GRANT))

    outcomes = run_suite(pytester, aws, "good")

    assert outcomes == {**dict.fromkeys(f"[{group}]" for group in GROUPS), **OTHERS}


def test_old_task_logs_are_the_role_s_need_only_when_the_environment_copies_them(
    pytester: pytest.Pytester, aws: AwsDouble
) -> None:
    add_environment(aws, "plain", with_statement(documented_policy("plain", "plain-dags"), GLUE_GRANT))
    add_environment(aws, "reads", with_statement(documented_policy("reads", "reads-dags"), GLUE_GRANT))
    aws_iam = boto3.client("iam", endpoint_url=aws.url, region_name=REGION)
    aws_iam.put_role_policy(RoleName="reads-role", PolicyName="migration", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [MIGRATION_READS]}))  # fmt: skip

    by_caller = failed(run_suite(pytester, aws, "plain"))
    in_environment = failed(run_suite(pytester, aws, "plain", verify=IN_ENVIRONMENT))
    granted = failed(run_suite(pytester, aws, "reads", verify=IN_ENVIRONMENT))

    assert by_caller == {}
    assert list(in_environment) == ["[source-task-logs]"]
    assert (
        "copy task logs from the old environment 'prod-2': 3 missing permission(s) in execution role plain-role: "
        f"logs:DescribeLogStreams on arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-prod-2-Task: implicit deny"
    ) in in_environment["[source-task-logs]"]
    assert granted == {}


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

    assert set(outcomes) == {"[operators]"}
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
        "test_account_policies_were_evaluated",
        "test_execution_role_allows[declared]",
        "test_execution_role_trusts_mwaa",
        "test_key_policy_lets_cloudwatch_logs_use_the_key",
        "test_target_role_keeps_source_permissions",
    ]
    assert outcomes["test_execution_role_trusts_mwaa"] == "SKIPPED"
    assert outcomes["test_account_policies_were_evaluated"] == "SKIPPED"
    assert outcomes["test_key_policy_lets_cloudwatch_logs_use_the_key"] == "SKIPPED"
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


ROLE_TESTS = "execution_role_allows"


@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1"])
def test_environments_in_china_and_govcloud_are_judged_in_their_partition(
    pytester: pytest.Pytester, aws: AwsDouble, region: str
) -> None:
    partition = partition_of(region)
    right = f"right-{partition}"
    add_environment(
        aws, right, with_statement(documented_policy(right, f"{right}-dags", region=region), GLUE_GRANT), region=region
    )
    wrong = f"wrong-{partition}"
    written_for_aws = json.loads(
        json.dumps(documented_policy(wrong, f"{wrong}-dags", region=region)).replace(f"arn:{partition}:", "arn:aws:")
    )
    written_for_aws = with_statement(written_for_aws, GLUE_GRANT)
    add_environment(aws, wrong, written_for_aws, region=region)

    passing = failed(run_suite(pytester, aws, right, "-k", ROLE_TESTS, region=region))
    failing = failed(run_suite(pytester, aws, wrong, "-k", ROLE_TESTS, region=region))

    assert passing == {}
    assert {"[dag-bucket]", "[metrics]", "[celery-queue]", "[logs-Task]"} <= set(failing)
    assert f"s3:GetObject on arn:{partition}:s3:::{wrong}-dags/dags/*: implicit deny" in failing["[dag-bucket]"]


def add_cloudformation_sample(aws: AwsDouble, stack: str) -> str:
    """The quick start template's environment `{stack}-MwaaEnvironment`, its execution role with the template's
    managed policy MwaaExecutionPolicy (EnvironmentName set to the environment's name)."""
    name = f"{stack}-MwaaEnvironment"
    add_environment(aws, name, None)
    aws.mwaa.rest_backends[name] = ScriptedRestApi(1)
    iam = boto3.client("iam", endpoint_url=aws.url, region_name=REGION)
    document = cloudformation_sample_policy(stack, name, f"{name}-dags")
    arn = iam.create_policy(PolicyName=f"{stack}-MwaaExecutionPolicy", PolicyDocument=json.dumps(document))
    iam.attach_role_policy(RoleName=f"{name}-role", PolicyArn=arn["Policy"]["Arn"])
    return name


def test_the_cloudformation_sample_role_passes_and_account_public_access_decides_its_one_need(
    pytester: pytest.Pytester, aws: AwsDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = add_cloudformation_sample(aws, "quickstart")
    s3control = boto3.client("s3control", endpoint_url=aws.url, region_name=REGION)
    exact_endpoint(s3control, aws.url)
    results, clean = pytester.path / "allure", pytester.path / "allure-unblocked"

    unblocked = failed(run_suite(pytester, aws, name, "-k", "not keeps_source", f"--alluredir={clean}"))
    s3control.put_public_access_block(
        AccountId=ACCOUNT, PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                                           "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    )  # fmt: skip
    try:
        blocked = failed(run_suite(pytester, aws, name, "-k", "dag-bucket"))
        monkeypatch.setattr(aws, "denied", {"s3:GetAccountPublicAccessBlock"})
        unknown = failed(run_suite(pytester, aws, name, "-k", "dag-bucket", f"--alluredir={results}"))
    finally:
        s3control.delete_public_access_block(AccountId=ACCOUNT)

    assert unblocked == {} and warnings_of(clean) == []
    assert list(blocked) == ["[dag-bucket]"]
    assert "s3:GetAccountPublicAccessBlock on *: implicit deny: no statement allows it" in blocked["[dag-bucket]"]
    assert unknown == {}
    (warning,) = warnings_of(results)
    assert warning.startswith(
        "dag-bucket: s3:GetAccountPublicAccessBlock on *: implicit deny: no statement allows it; needed only if the "
        f"account blocks public access, and the account's setting could not be read (s3control GetPublicAccessBlock "
        f"for account {ACCOUNT}: An error occurred (AccessDenied)"
    )
    assert warning.endswith("the caller needs s3:GetAccountPublicAccessBlock)")


def test_customer_managed_key_needs_the_logs_statement_in_its_key_policy(
    pytester: pytest.Pytester, aws: AwsDouble
) -> None:
    kms = boto3.client("kms", endpoint_url=aws.url, region_name=REGION)
    key = kms.create_key(Policy=json.dumps(key_policy(logs_key_policy_statement())))["KeyMetadata"]
    policy = with_statement(customer_managed_key_policy("cmk", "cmk-dags", key["KeyId"]), GLUE_GRANT)
    add_environment(aws, "cmk", policy, KmsKey=key["Arn"])
    checks = "kms or key_policy"

    good = run_suite(pytester, aws, "cmk", "-k", checks)
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(key_policy()))
    without_logs = failed(run_suite(pytester, aws, "cmk", "-k", checks))

    assert good == {"[kms]": None, "test_key_policy_lets_cloudwatch_logs_use_the_key": None}
    assert list(without_logs) == ["test_key_policy_lets_cloudwatch_logs_use_the_key"]
    assert (
        f"the key policy of {key['Arn']} does not let CloudWatch Logs use the key for the environment's logs: 30 "
        f"missing permission(s): kms:Encrypt on {key['Arn']} (kms:EncryptionContext:aws:logs:arn = "
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-cmk-DAGProcessing): implicit deny"
    ) in without_logs["test_key_policy_lets_cloudwatch_logs_use_the_key"]


def test_a_deny_in_the_dag_bucket_s_policy_fails_the_bucket_check(pytester: pytest.Pytester, aws: AwsDouble) -> None:
    policy = with_statement(documented_policy("fenced", "fenced-dags"), GLUE_GRANT)
    add_environment(aws, "fenced", policy, RequirementsS3Path="requirements.txt")
    role = f"arn:aws:iam::{ACCOUNT}:role/service-role/fenced-role"
    # the environment's role may not read the requirements it installs (the caller still may: moto applies
    # bucket policies to every caller)
    deny = {"Sid": "NotTheAirflowRole", "Effect": "Deny", "Principal": {"AWS": role}, "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::fenced-dags/requirements.txt"}  # fmt: skip
    s3 = boto3.client("s3", endpoint_url=aws.url, region_name=REGION)
    s3.put_bucket_policy(Bucket="fenced-dags", Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]}))

    outcomes = failed(run_suite(pytester, aws, "fenced", "-k", ROLE_TESTS))

    assert list(outcomes) == ["[dag-bucket]"]
    assert (
        "read DAGs, plugins and requirements from arn:aws:s3:::fenced-dags: 1 missing permission(s) in execution role "
        "fenced-role: s3:GetObject on arn:aws:s3:::fenced-dags/requirements.txt: explicit deny by bucket policy of "
        "fenced-dags statement NotTheAirflowRole (Deny)"
    ) in outcomes["[dag-bucket]"]


def test_an_scp_deny_fails_where_scps_are_readable_and_is_a_warning_where_not(
    pytester: pytest.Pytester, aws: AwsDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    organizations = boto3.client("organizations", endpoint_url=aws.url, region_name=REGION)
    organizations.create_organization(FeatureSet="ALL")
    member = organizations.create_account(AccountName="data", Email="data@example.com")["CreateAccountStatus"]
    member_id = member["AccountId"]
    root = organizations.list_roots()["Roots"][0]["Id"]
    unit = organizations.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    organizations.move_account(AccountId=member_id, SourceParentId=root, DestinationParentId=unit)
    no_sqs = {"Version": "2012-10-17", "Statement": [{"Sid": "NoQueues", "Effect": "Deny", "Action": "sqs:*",
                                                        "Resource": "*"}]}  # fmt: skip
    scp = organizations.create_policy(Name="NoQueues", Description="no SQS", Type="SERVICE_CONTROL_POLICY",
                                      Content=json.dumps(no_sqs))["Policy"]["PolicySummary"]["Id"]  # fmt: skip
    organizations.attach_policy(PolicyId=scp, TargetId=unit)
    policy = with_statement(documented_policy("member", "member-dags", account=member_id), GLUE_GRANT)
    add_environment(aws, "member", policy, account=member_id)
    results = pytester.path / "allure"
    checks = f"{ROLE_TESTS} or account_policies"

    readable = failed(run_suite(pytester, aws, "member", "-k", checks))
    monkeypatch.setattr(aws, "denied", {"organizations:ListPoliciesForTarget"})
    unreadable = failed(run_suite(pytester, aws, "member", "-k", checks, f"--alluredir={results}"))

    assert list(readable) == ["[celery-queue]"]
    assert (
        f"sqs:SendMessage on arn:aws:sqs:{REGION}:*:airflow-celery-*: explicit deny by service control policies of "
        f"{unit} (FullAWSAccess, NoQueues) statement NoQueues/NoQueues (Deny)"
    ) in readable["[celery-queue]"]
    assert unreadable == {}
    (warning,) = warnings_of(results)
    assert warning.startswith("service control policies were not evaluated: An error occurred (AccessDeniedException)")
    assert warning.endswith(
        "the caller needs organizations:DescribeOrganization, ListParents, ListPoliciesForTarget and DescribePolicy "
        "(from the organization's management account or a delegated administrator)"
    )
