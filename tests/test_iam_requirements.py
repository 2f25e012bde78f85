"""What an MWAA environment's execution role must allow, judged against the policies AWS documents.

The documented policies (the guide's samples for an AWS owned and a customer managed key, the quick start's
CloudFormation role) satisfy every derived group, in every partition; each planted defect (a statement
removed, an explicit Deny in the role, the bucket policy or an SCP, a resource ARN too narrow or in the wrong
partition, a key policy without the CloudWatch Logs statement) fails exactly the group that needs it, naming
the action, the resource and the deciding statement.
"""

from __future__ import annotations

import json

import boto3
import pytest
from aws_double import ACCOUNT, REGION, describe
from botocore.stub import Stubber
from mwaa_policies import (
    ENVIRONMENT_GROUPS,
    STATEMENT_GROUPS,
    cloudformation_sample_policy,
    customer_managed_key_policy,
    documented_policy,
    key_policy,
    logs_key_policy_statement,
    narrowed,
    with_statement,
    without,
)

from mwaa_verify.environments.base import ExecutionRole
from mwaa_verify.iam.evaluate import Policy
from mwaa_verify.iam.requirements import (
    NOTHING_AROUND,
    AccountSetting,
    Need,
    RequirementGroup,
    Surroundings,
    advisories,
    environment_needs,
    key_policy_shortfalls,
    operator_needs,
    required_groups,
    shortfalls,
)
from mwaa_verify.iam.role_diff import environment_renames, lost_permissions
from mwaa_verify.iam.simulate import disagreements

ENVIRONMENT = describe(
    "prod-3",
    role="prod-3-role",
    bucket="prod-3-dags",
    PluginsS3Path="plugins.zip",
    RequirementsS3Path="requirements.txt",
    RequirementsS3ObjectVersion="v7",
)


BLOCKS_PUBLIC_ACCESS = AccountSetting(True)
NO_ACCOUNT_BLOCK = AccountSetting(False)
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def failing_groups(
    document: dict, groups: list[RequirementGroup], around: Surroundings = NOTHING_AROUND
) -> dict[str, list[str]]:
    policies = [Policy("execution-policy", document)]
    found = {group.id: [str(s) for s in shortfalls(group, policies, around=around)] for group in groups}
    return {group: problems for group, problems in found.items() if problems}


def test_documented_policy_allows_everything_the_environment_needs() -> None:
    groups = environment_needs(ENVIRONMENT, BLOCKS_PUBLIC_ACCESS)

    assert failing_groups(documented_policy("prod-3", "prod-3-dags"), groups) == {}
    assert sorted(group.id for group in groups) == ENVIRONMENT_GROUPS


@pytest.mark.parametrize("sid", sorted(STATEMENT_GROUPS))
def test_removing_a_documented_statement_fails_the_group_that_needs_it(sid: str) -> None:
    failing = failing_groups(
        without(documented_policy("prod-3", "prod-3-dags"), sid), environment_needs(ENVIRONMENT, BLOCKS_PUBLIC_ACCESS)
    )

    assert set(failing) == STATEMENT_GROUPS[sid]
    assert all("implicit deny: no statement allows it" in problem for group in failing.values() for problem in group)


def test_explicit_deny_is_caught_and_named() -> None:
    deny = {
        "Sid": "FreezeDags",
        "Effect": "Deny",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::prod-3-dags/dags/*",
    }

    failing = failing_groups(
        with_statement(documented_policy("prod-3", "prod-3-dags"), deny), environment_needs(ENVIRONMENT)
    )

    assert failing == {
        "dag-bucket": [
            "s3:GetObject on arn:aws:s3:::prod-3-dags/dags/*: explicit deny by execution-policy statement "
            "FreezeDags (Deny)"
        ]
    }


def test_too_narrow_resource_is_caught() -> None:
    document = narrowed(
        documented_policy("prod-3", "prod-3-dags"),
        "WriteLogs",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-prod-3-Task*",
    )

    failing = failing_groups(document, environment_needs(ENVIRONMENT))

    assert set(failing) == {"logs-DAGProcessing", "logs-Scheduler", "logs-WebServer", "logs-Worker"}
    assert failing["logs-Worker"][0] == (
        f"logs:CreateLogGroup on arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-prod-3-Worker: "
        "implicit deny: no statement allows it"
    )


def test_policy_written_for_the_old_environment_fails_the_new_one() -> None:
    failing = failing_groups(documented_policy("prod-2", "prod-2-dags"), environment_needs(ENVIRONMENT))

    assert {"dag-bucket", "metrics", "logs-Task"} <= set(failing)
    assert "celery-queue" not in failing and "kms" not in failing


def test_customer_managed_key_needs_the_key_through_sqs_and_s3() -> None:
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    grant = {
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
        "Resource": key,
        "Condition": {"StringLike": {"kms:ViaService": [f"sqs.{REGION}.amazonaws.com"]}},
    }
    kms = next(group for group in environment_needs({**ENVIRONMENT, "KmsKey": key}) if group.id == "kms")

    problems = [str(s) for s in shortfalls(kms, [Policy("p", {"Statement": [grant]})])]

    assert problems == [
        f"kms:{action} on {key} (kms:ViaService = s3.{REGION}.amazonaws.com): implicit deny: no statement allows it"
        for action in ("Decrypt", "DescribeKey", "GenerateDataKey", "Encrypt")
    ]


def test_secrets_manager_backend_needs_its_prefixes() -> None:
    options = {
        "secrets.backend": "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
        "secrets.backend_kwargs": '{"connections_prefix": "prod/conn", "variables_prefix": null}',
    }

    groups = environment_needs({**ENVIRONMENT, "AirflowConfigurationOptions": options})

    secrets = next(group for group in groups if group.id == "secrets-backend")
    assert [str(need) for need in secrets.needs] == [
        f"secretsmanager:GetSecretValue on arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/conn/*"
    ]


def test_operators_found_in_dags_need_their_service_on_some_resource() -> None:
    groups = operator_needs(
        [
            "airflow.providers.amazon.aws.operators.glue.GlueJobOperator",
            "airflow.providers.standard.operators.bash.BashOperator",
        ]
    )
    glue_job = {
        "Effect": "Allow",
        "Action": ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJob"],
        "Resource": f"arn:aws:glue:{REGION}:{ACCOUNT}:job/nightly-etl",
    }
    deny_all_glue = {"Sid": "NoGlue", "Effect": "Deny", "Action": "glue:*", "Resource": "*"}

    assert [group.id for group in groups] == ["operator-GlueJobOperator"]
    assert shortfalls(groups[0], [Policy("p", {"Statement": [glue_job]})]) == []
    denied = shortfalls(groups[0], [Policy("p", {"Statement": [glue_job, deny_all_glue]})])
    assert str(denied[0]) == "glue:StartJobRun on its resources: explicit deny by p statement NoGlue (Deny)"


def test_migration_reads_the_export_bucket_and_the_old_task_logs_when_the_environment_copies() -> None:
    old = describe("prod-2", role="prod-2-role", bucket="prod-2-dags")
    groups = required_groups(ENVIRONMENT, [], "s3://migration-bucket/exports/2024-03", old)
    migration = {group.id: group for group in groups if group.id in {"migration-bucket", "source-task-logs"}}

    failing = failing_groups(documented_policy("prod-3", "prod-3-dags"), list(migration.values()))

    assert set(failing) == {"migration-bucket", "source-task-logs"}
    assert failing["source-task-logs"] == [
        f"logs:{action} on arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-prod-2-Task{stream}: implicit deny: "
        "no statement allows it"
        for action, stream in (("DescribeLogStreams", ""), ("FilterLogEvents", ""), ("GetLogEvents", ":log-stream:*"))
    ]


def test_a_copy_by_the_caller_asks_nothing_of_the_execution_role() -> None:
    groups = required_groups(ENVIRONMENT, [], None, None)

    assert "source-task-logs" not in {group.id for group in groups}


@pytest.mark.parametrize(
    ("region", "partition"), [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_every_arn_is_in_the_environment_s_partition(region: str, partition: str) -> None:
    environment = describe("prod-3", "prod-3-role", "prod-3-dags", region=region, KmsKey=KEY_ID)
    groups = environment_needs(environment, BLOCKS_PUBLIC_ACCESS)

    resources = {need.resource for group in groups for need in group.needs if need.resource != "*"}

    assert resources and all(resource.startswith(f"arn:{partition}:") for resource in resources), resources
    key = customer_managed_key_policy("prod-3", "prod-3-dags", KEY_ID, region=region)
    assert failing_groups(key, groups) == {}


def test_a_role_written_for_the_aws_partition_fails_a_china_environment() -> None:
    environment = describe("prod-3", "prod-3-role", "prod-3-dags", region="cn-north-1")
    aws_partition_policy = documented_policy("prod-3", "prod-3-dags", region="cn-north-1")
    for statement in aws_partition_policy["Statement"]:
        for key in ("Resource", "NotResource"):
            if key in statement:
                statement[key] = json.loads(json.dumps(statement[key]).replace("arn:aws-cn:", "arn:aws:"))

    failing = failing_groups(aws_partition_policy, environment_needs(environment, BLOCKS_PUBLIC_ACCESS))

    assert {"dag-bucket", "metrics", "logs-Task", "celery-queue"} <= set(failing)
    assert (
        "s3:GetObject on arn:aws-cn:s3:::prod-3-dags/dags/*: implicit deny: no statement allows it"
        in failing["dag-bucket"]
    )


def test_the_cloudformation_sample_role_passes_unless_the_account_blocks_public_access() -> None:
    stack = "mwaa-environment-public-network"
    name = f"{stack}-MwaaEnvironment"
    environment = describe(name, "MwaaExecutionRole", "cfn-bucket")
    role = cloudformation_sample_policy(stack, name, "cfn-bucket")

    assert failing_groups(role, environment_needs(environment, NO_ACCOUNT_BLOCK)) == {}
    assert failing_groups(role, environment_needs(environment, BLOCKS_PUBLIC_ACCESS)) == {
        "dag-bucket": ["s3:GetAccountPublicAccessBlock on *: implicit deny: no statement allows it"]
    }
    unknown = environment_needs(environment, AccountSetting(None, "AccessDenied"))
    assert failing_groups(role, unknown) == {}
    (advisory,) = [s for g in unknown for s in advisories(g, [Policy("cfn", role)])]
    assert advisory.need.advisory == (
        "needed only if the account blocks public access, and the account's setting could not be read (AccessDenied)"
    )


def test_key_policy_must_let_cloudwatch_logs_use_the_key() -> None:
    environment = {**ENVIRONMENT, "KmsKey": KEY_ID}

    assert key_policy_shortfalls(environment, Policy("key", key_policy(logs_key_policy_statement()))) == []
    missing = key_policy_shortfalls(environment, Policy("key policy of k", key_policy()))
    assert len(missing) == 5 * 6  # every action, for each of the five log groups
    assert str(missing[0]) == (
        f"kms:Encrypt on arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID} (kms:EncryptionContext:aws:logs:arn = "
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-prod-3-DAGProcessing): implicit deny: no statement "
        "allows it"
    )
    other_account = logs_key_policy_statement(account="210987654321")
    assert len(key_policy_shortfalls(environment, Policy("key", key_policy(other_account)))) == 30


def test_a_key_policy_that_does_not_enable_iam_policies_makes_the_role_s_grant_void() -> None:
    environment = {**ENVIRONMENT, "KmsKey": KEY_ID}
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
    role = customer_managed_key_policy("prod-3", "prod-3-dags", KEY_ID)
    (kms,) = [group for group in environment_needs(environment) if group.id == "kms"]
    logs_only = Policy("key policy of k", {"Statement": [logs_key_policy_statement()]})
    enabled = Policy("key policy of k", key_policy(logs_key_policy_statement()))

    assert failing_groups(role, [kms], Surroundings(key_policies={key_arn: enabled})) == {}
    failing = failing_groups(role, [kms], Surroundings(key_policies={key_arn: logs_only}))
    assert failing["kms"][0] == (
        f"kms:Decrypt on {key_arn} (kms:ViaService = sqs.{REGION}.amazonaws.com): not allowed by the key policy: "
        f"it neither names the role nor lets IAM policies grant access (no statement allows "
        f"arn:aws:iam::{ACCOUNT}:root)"
    )


def test_the_role_s_kms_via_service_conditions_are_checked() -> None:
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
    role = customer_managed_key_policy("prod-3", "prod-3-dags", KEY_ID)
    for statement in role["Statement"]:
        if statement.get("Sid") == "CustomerManagedKey":
            statement["Condition"] = {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}
    (kms,) = [group for group in environment_needs({**ENVIRONMENT, "KmsKey": key_arn}) if group.id == "kms"]

    failing = failing_groups(role, [kms])

    assert len(failing["kms"]) == 8  # four actions, through SQS and through S3


def test_a_bucket_policy_deny_fails_the_dag_bucket() -> None:
    bucket_arn = "arn:aws:s3:::prod-3-dags"
    deny = {
        "Sid": "OnlyFromVpce",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"{bucket_arn}/*",
        "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},
    }
    around = Surroundings(
        principal=f"arn:aws:iam::{ACCOUNT}:role/service-role/prod-3-role",
        bucket_policies={bucket_arn: Policy("bucket policy of prod-3-dags", {"Statement": [deny]})},
    )

    failing = failing_groups(documented_policy("prod-3", "prod-3-dags"), environment_needs(ENVIRONMENT), around)

    assert failing == {
        "dag-bucket": [
            f"s3:GetObject on {bucket_arn}/{path}: explicit deny by bucket policy of prod-3-dags statement "
            "OnlyFromVpce (Deny)"
            for path in ("dags/*", "plugins.zip", "requirements.txt")
        ]
    }


def test_an_scp_deny_fails_what_it_denies_and_every_level_must_allow() -> None:
    full = Policy("service control policies of r-root (FullAWSAccess)",
                  {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})  # fmt: skip
    no_sqs = Policy(
        "service control policies of ou-1 (FullAWSAccess, NoSqs)",
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                       {"Sid": "NoSqs/Deny", "Effect": "Deny", "Action": "sqs:*", "Resource": "*"}]},
    )  # fmt: skip
    only_s3 = Policy("service control policies of 123456789012 (OnlyS3)",
                      {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})  # fmt: skip
    groups = environment_needs(ENVIRONMENT, BLOCKS_PUBLIC_ACCESS)
    role = documented_policy("prod-3", "prod-3-dags")

    denied = failing_groups(role, groups, Surroundings(scps=(no_sqs, full)))
    narrowed_account = failing_groups(role, groups, Surroundings(scps=(only_s3, full)))

    assert set(denied) == {"celery-queue"}
    assert denied["celery-queue"][0].endswith(
        "explicit deny by service control policies of ou-1 (FullAWSAccess, NoSqs) statement NoSqs/Deny (Deny)"
    )
    assert "dag-bucket" not in narrowed_account and "metrics" in narrowed_account
    assert narrowed_account["metrics"][0].endswith(
        "not allowed by the service control policy service control policies of 123456789012 (OnlyS3)"
    )


def test_unreadable_dags_make_an_operators_group_that_says_why() -> None:
    groups = required_groups(ENVIRONMENT, "cannot read the target's DAGs: boom")

    assert [g.unavailable for g in groups if g.id == "operators"] == ["cannot read the target's DAGs: boom"]


def test_role_diff_maps_names_and_lists_what_the_new_role_lacks() -> None:
    source_env = describe("prod-2", role="prod-2-role", bucket="prod-2-dags")
    extra = {
        "Sid": "Glue",
        "Effect": "Allow",
        "Action": "glue:StartJobRun",
        "Resource": f"arn:aws:glue:{REGION}:{ACCOUNT}:job/nightly-etl",
    }
    source = ExecutionRole(
        "prod-2-role", (Policy("p2", with_statement(documented_policy("prod-2", "prod-2-dags"), extra)),)
    )
    target = ExecutionRole("prod-3-role", (Policy("p3", documented_policy("prod-3", "prod-3-dags")),))

    lost = lost_permissions(source, target, environment_renames(source_env, ENVIRONMENT))

    assert [str(item) for item in lost] == [
        f"glue:StartJobRun on arn:aws:glue:{REGION}:{ACCOUNT}:job/nightly-etl: implicit deny: no statement allows it"
    ]


def test_simulation_disagreements_are_reported_with_both_answers() -> None:
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    role = f"arn:aws:iam::{ACCOUNT}:role/service-role/prod-3-role"
    queue = Need("sqs:SendMessage", f"arn:aws:sqs:{REGION}:*:airflow-celery-*")
    kms = Need("kms:Decrypt", f"arn:aws:kms:{REGION}:*:key/*", {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"})
    with Stubber(iam) as stub:
        for need, decision in ((queue, "allowed"), (kms, "explicitDeny")):
            expected = {"PolicySourceArn": role, "ActionNames": [need.action], "ResourceArns": [need.resource]}
            if need.context:
                expected["ContextEntries"] = [{"ContextKeyName": "kms:ViaService", "ContextKeyType": "string",
                                               "ContextKeyValues": [f"sqs.{REGION}.amazonaws.com"]}]  # fmt: skip
            answer = {"EvaluationResults": [{"EvalActionName": need.action, "EvalDecision": decision}]}
            stub.add_response("simulate_principal_policy", answer, expected)

        found = disagreements(iam, role, [(queue, True), (kms, True)])

    assert [str(item) for item in found] == [
        f"kms:Decrypt on arn:aws:kms:{REGION}:*:key/* (kms:ViaService = sqs.{REGION}.amazonaws.com): the local "
        "evaluator says allowed, IAM SimulatePrincipalPolicy says explicitDeny"
    ]


def test_a_bucket_policy_that_only_refuses_plain_http_does_not_fail_the_role() -> None:
    bucket_arn = "arn:aws:s3:::prod-3-dags"
    tls_only = {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"BoolIfExists": {"aws:SecureTransport": "false"}},
    }
    around = Surroundings(
        principal=f"arn:aws:iam::{ACCOUNT}:role/service-role/prod-3-role",
        bucket_policies={bucket_arn: Policy("bucket policy of prod-3-dags", {"Statement": [tls_only]})},
    )

    failing = failing_groups(documented_policy("prod-3", "prod-3-dags"), environment_needs(ENVIRONMENT), around)

    assert failing == {}


def test_simulation_is_given_the_bucket_policy_the_local_evaluator_applied() -> None:
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    role = f"arn:aws:iam::{ACCOUNT}:role/service-role/prod-3-role"
    bucket_policy = {"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                                    "Resource": "arn:aws:s3:::prod-3-dags/*"}]}  # fmt: skip
    around = Surroundings(principal=role, bucket_policies={"arn:aws:s3:::prod-3-dags": Policy("b", bucket_policy)})
    need = Need("s3:GetObject", "arn:aws:s3:::prod-3-dags/dags/*")
    with Stubber(iam) as stub:
        expected = {
            "PolicySourceArn": role,
            "ActionNames": ["s3:GetObject"],
            "ResourceArns": [need.resource],
            "ResourcePolicy": json.dumps(bucket_policy),
            "ResourceOwner": f"arn:aws:iam::{ACCOUNT}:root",
        }
        answer = {"EvaluationResults": [{"EvalActionName": need.action, "EvalDecision": "explicitDeny"}]}
        stub.add_response("simulate_principal_policy", answer, expected)

        found = disagreements(iam, role, [(need, False)], around)

    assert found == []
