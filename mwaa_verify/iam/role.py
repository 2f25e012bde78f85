"""An IAM role as its policies: inline, attached (their default version) and the permissions boundary."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from mwaa_verify.environments.base import ExecutionRole
from mwaa_verify.iam.evaluate import Policy


def role_name(role_arn: str) -> str:
    """`arn:aws:iam::123456789012:role/service-role/name` -> `name`."""
    return role_arn.rsplit("/", 1)[-1]


def read_role(iam: Any, role_arn: str) -> ExecutionRole:
    name = role_name(role_arn)
    role = iam.get_role(RoleName=name)["Role"]
    policies = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
        for policy_name in page["PolicyNames"]:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
            policies.append(Policy(f"inline policy {policy_name}", _document(document)))
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        for attached in page["AttachedPolicies"]:
            policies.append(Policy(f"managed policy {attached['PolicyName']}", _managed(iam, attached["PolicyArn"])))
    boundary = None
    if role.get("PermissionsBoundary"):
        boundary_arn = role["PermissionsBoundary"]["PermissionsBoundaryArn"]
        boundary = Policy(f"permissions boundary {boundary_arn.rsplit('/', 1)[-1]}", _managed(iam, boundary_arn))
    trust = Policy(f"trust policy of {name}", _document(role["AssumeRolePolicyDocument"]))
    return ExecutionRole(
        name=name, policies=tuple(policies), permissions_boundary=boundary, arn=role["Arn"], trust_policy=trust
    )


def _managed(iam: Any, policy_arn: str) -> dict[str, Any]:
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
    return _document(document)


def _document(document: Any) -> dict[str, Any]:
    """boto3 decodes policy documents to dicts; some endpoints hand back the URL-encoded JSON text."""
    if isinstance(document, str):
        return json.loads(unquote(document))
    return document
