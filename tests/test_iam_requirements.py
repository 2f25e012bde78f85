"""What an MWAA environment's execution role must allow, judged against the policy AWS documents.

The documented policy satisfies every derived group; each planted defect (a statement removed, an explicit
Deny, a resource ARN too narrow) fails exactly the group that needs it, naming the action, the resource and
the deciding statement.
"""

from __future__ import annotations

import boto3
import pytest
from aws_double import ACCOUNT, REGION, describe
from botocore.stub import Stubber
from mwaa_policies import ENVIRONMENT_GROUPS, STATEMENT_GROUPS, documented_policy, narrowed, with_statement, without

from mwaa_verify.environments.base import ExecutionRole
from mwaa_verify.iam.evaluate import Policy
from mwaa_verify.iam.requirements import (
    Need,
    RequirementGroup,
    environment_needs,
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


def failing_groups(document: dict, groups: list[RequirementGroup]) -> dict[str, list[str]]:
    policies = [Policy("execution-policy", document)]
    found = {group.id: [str(s) for s in shortfalls(group, policies)] for group in groups}
    return {group: problems for group, problems in found.items() if problems}


def test_documented_policy_allows_everything_the_environment_needs() -> None:
    groups = environment_needs(ENVIRONMENT)

    assert failing_groups(documented_policy("prod-3", "prod-3-dags"), groups) == {}
    assert sorted(group.id for group in groups) == ENVIRONMENT_GROUPS


@pytest.mark.parametrize("sid", sorted(STATEMENT_GROUPS))
def test_removing_a_documented_statement_fails_the_group_that_needs_it(sid: str) -> None:
    failing = failing_groups(without(documented_policy("prod-3", "prod-3-dags"), sid), environment_needs(ENVIRONMENT))

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


def test_migration_reads_the_export_bucket_and_the_old_task_logs() -> None:
    groups = required_groups(ENVIRONMENT, [], "s3://migration-bucket/exports/2024-03", "prod-2")
    migration = {group.id: group for group in groups if group.id in {"migration-bucket", "source-task-logs"}}

    failing = failing_groups(documented_policy("prod-3", "prod-3-dags"), list(migration.values()))

    assert set(failing) == {"migration-bucket", "source-task-logs"}
    assert failing["source-task-logs"][0].startswith(
        f"logs:DescribeLogStreams on arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-prod-2-Task: implicit deny"
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
