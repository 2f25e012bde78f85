"""The execution-role policy the Amazon MWAA User Guide documents ("Amazon MWAA execution role", sample policy
for an AWS owned key), with its placeholders filled in; and planted defects derived from it."""

from __future__ import annotations

import copy
from typing import Any

from aws_double import ACCOUNT, REGION


def documented_policy(environment: str, bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublishMetrics",
                "Effect": "Allow",
                "Action": "airflow:PublishMetrics",
                "Resource": f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/{environment}",
            },
            {
                "Sid": "NoBucketListing",
                "Effect": "Deny",
                "Action": "s3:ListAllMyBuckets",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            },
            {
                "Sid": "ReadBucket",
                "Effect": "Allow",
                "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
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
                "Resource": [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-{environment}-*"],
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
                "Resource": f"arn:aws:sqs:{REGION}:*:airflow-celery-*",
            },
            {
                "Sid": "AwsOwnedKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
                "NotResource": f"arn:aws:kms:*:{ACCOUNT}:key/*",
                "Condition": {"StringLike": {"kms:ViaService": [f"sqs.{REGION}.amazonaws.com"]}},
            },
        ],
    }


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
