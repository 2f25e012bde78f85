"""The execution-role policies AWS documents, with their placeholders filled in, and planted defects derived
from them:

- the Amazon MWAA User Guide's "Amazon MWAA execution role" samples: for an AWS owned key (documented_policy)
  and for a customer managed key (customer_managed_key_policy, with the statement the guide has you add to the
  key's own policy so that CloudWatch Logs may use it: logs_key_policy_statement);
- the execution role of the guide's quick start CloudFormation template (mwaa_public_network.yml,
  MwaaExecutionPolicy: cloudformation_sample_policy), which has no s3:GetAccountPublicAccessBlock.

Every ARN is built in the region's partition (aws, aws-cn, aws-us-gov), as the placeholders would be filled
in there.
"""

from __future__ import annotations

import copy
from typing import Any

from aws_double import ACCOUNT, REGION, partition_of


def documented_policy(environment: str, bucket: str, region: str = REGION, account: str = ACCOUNT) -> dict[str, Any]:
    """The guide's sample policy for an AWS owned key (and s3:GetAccountPublicAccessBlock, which its current
    version adds)."""
    p = partition_of(region)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublishMetrics",
                "Effect": "Allow",
                "Action": "airflow:PublishMetrics",
                "Resource": f"arn:{p}:airflow:{region}:{account}:environment/{environment}",
            },
            {
                "Sid": "NoBucketListing",
                "Effect": "Deny",
                "Action": "s3:ListAllMyBuckets",
                "Resource": [f"arn:{p}:s3:::{bucket}", f"arn:{p}:s3:::{bucket}/*"],
            },
            {
                "Sid": "ReadBucket",
                "Effect": "Allow",
                "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
                "Resource": [f"arn:{p}:s3:::{bucket}", f"arn:{p}:s3:::{bucket}/*"],
            },
            {
                "Sid": "WriteLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogStream",
                    "logs:CreateLogGroup",
                    "logs:PutLogEvents",
                    "logs:GetLogEvents",
                    "logs:GetLogRecord",
                    "logs:GetLogGroupFields",
                    "logs:GetQueryResults",
                ],
                "Resource": [f"arn:{p}:logs:{region}:{account}:log-group:airflow-{environment}-*"],
            },
            {"Sid": "DescribeLogGroups", "Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": ["*"]},
            {
                "Sid": "PublicAccessBlock",
                "Effect": "Allow",
                "Action": ["s3:GetAccountPublicAccessBlock"],
                "Resource": ["*"],
            },
            {"Sid": "PutMetricData", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"},
            {
                "Sid": "CeleryQueue",
                "Effect": "Allow",
                "Action": [
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage",
                    "sqs:SendMessage",
                ],
                "Resource": f"arn:{p}:sqs:{region}:*:airflow-celery-*",
            },
            {
                "Sid": "AwsOwnedKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
                "NotResource": f"arn:{p}:kms:*:{account}:key/*",
                "Condition": {"StringLike": {"kms:ViaService": [f"sqs.{region}.amazonaws.com"]}},
            },
        ],
    }


def customer_managed_key_policy(
    environment: str, bucket: str, key_id: str, region: str = REGION, account: str = ACCOUNT
) -> dict[str, Any]:
    """The guide's sample policy for a customer managed key: the same statements, with the key used through
    SQS and S3 in place of any AWS owned key."""
    p = partition_of(region)
    policy = without(documented_policy(environment, bucket, region, account), "AwsOwnedKey")
    return with_statement(
        policy,
        {
            "Sid": "CustomerManagedKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
            "Resource": f"arn:{p}:kms:{region}:{account}:key/{key_id}",
            "Condition": {
                "StringLike": {"kms:ViaService": [f"sqs.{region}.amazonaws.com", f"s3.{region}.amazonaws.com"]}
            },
        },
    )


def logs_key_policy_statement(region: str = REGION, account: str = ACCOUNT) -> dict[str, Any]:
    """The statement the guide has you attach to a customer managed key's policy: CloudWatch Logs may use the
    key for the account's log groups."""
    return {
        "Sid": "Allow logs access",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        "Resource": "*",
        "Condition": {
            "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{partition_of(region)}:logs:{region}:{account}:*"}
        },
    }


def key_policy(*statements: dict[str, Any], region: str = REGION, account: str = ACCOUNT) -> dict[str, Any]:
    """A key policy: KMS's default statement (the account's IAM policies may grant use of the key) and
    `statements`."""
    root = {
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition_of(region)}:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    return {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [root, *statements]}


def cloudformation_sample_policy(
    stack: str, environment_parameter: str, bucket: str, region: str = REGION, account: str = ACCOUNT
) -> dict[str, Any]:
    """MwaaExecutionPolicy of the guide's quick start template (mwaa_public_network.yml), as CloudFormation
    renders it for stack `stack`: the environment is named `{stack}-MwaaEnvironment`; PublishMetrics names
    `environment/${EnvironmentName}` (the template's parameter, `environment_parameter` here); the log groups
    are `airflow-${AWS::StackName}*`. It has no s3:GetAccountPublicAccessBlock."""
    p = partition_of(region)
    bucket_arn = f"arn:{p}:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "airflow:PublishMetrics",
             "Resource": [f"arn:{p}:airflow:{region}:{account}:environment/{environment_parameter}"]},
            {"Effect": "Deny", "Action": "s3:ListAllMyBuckets", "Resource": [bucket_arn, f"{bucket_arn}/*"]},
            {"Effect": "Allow", "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
             "Resource": [bucket_arn, f"{bucket_arn}/*"]},
            {"Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": "*"},
            {"Effect": "Allow",
             "Action": ["logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents",
                        "logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults",
                        "logs:DescribeLogGroups"],
             "Resource": [f"arn:{p}:logs:{region}:{account}:log-group:airflow-{stack}*"]},
            {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"},
            {"Effect": "Allow",
             "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"],
             "Resource": [f"arn:{p}:sqs:{region}:*:airflow-celery-*"]},
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
             "NotResource": f"arn:{p}:kms:*:{account}:key/*",
             "Condition": {"StringLike": {"kms:ViaService": [f"sqs.{region}.amazonaws.com"]}}},
        ],
    }  # fmt: skip


def trust_policy(*services: str) -> dict[str, Any]:
    """The trust policy the MWAA User Guide gives an execution role (both services, unless told otherwise)."""
    principals = list(services or ("airflow.amazonaws.com", "airflow-env.amazonaws.com"))
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": principals}, "Action": "sts:AssumeRole"}]}  # fmt: skip


def without(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    changed = copy.deepcopy(policy)
    changed["Statement"] = [s for s in changed["Statement"] if s.get("Sid") != sid]
    assert len(changed["Statement"]) == len(policy["Statement"]) - 1, sid
    return changed


def with_statement(policy: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(policy)
    changed["Statement"].append(statement)
    return changed


def narrowed(policy: dict[str, Any], sid: str, resource: str) -> dict[str, Any]:
    changed = copy.deepcopy(policy)
    for statement in changed["Statement"]:
        if statement.get("Sid") == sid:
            statement["Resource"] = resource
    return changed


# Which test (requirement group) each documented statement exists for: removing it must fail exactly these.
STATEMENT_GROUPS = {
    "PublishMetrics": {"metrics"},
    "ReadBucket": {"dag-bucket"},
    "WriteLogs": {"logs-DAGProcessing", "logs-Scheduler", "logs-Task", "logs-WebServer", "logs-Worker"},
    "DescribeLogGroups": {"logs-DAGProcessing", "logs-Scheduler", "logs-Task", "logs-WebServer", "logs-Worker"},
    "PublicAccessBlock": {"dag-bucket"},
    "PutMetricData": {"metrics"},
    "CeleryQueue": {"celery-queue"},
    "AwsOwnedKey": {"kms"},
}


# The groups environment_needs() derives from an environment that logs everything, on an AWS owned key.
ENVIRONMENT_GROUPS = ["celery-queue", "dag-bucket", "kms", "logs-DAGProcessing", "logs-Scheduler", "logs-Task",
                      "logs-WebServer", "logs-Worker", "metrics"]  # fmt: skip
