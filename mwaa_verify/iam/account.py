"""What decides the execution role's requests besides the role itself, read from the environment's account:
the account's S3 Block Public Access setting, the DAG bucket's bucket policy, a customer managed key's key
policy, and the organization's service control policies.

Each read may be refused to the caller. A refusal is never silent: what could not be read is returned as a
warning line saying what was therefore not evaluated and which permission the caller needs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mwaa_verify.environments.base import Environment, ExecutionRole
from mwaa_verify.errors import aws_problem
from mwaa_verify.iam.evaluate import Policy, statements_of
from mwaa_verify.iam.requirements import (
    UNREAD,
    AccountSetting,
    EnvironmentArn,
    Surroundings,
    bucket_name,
    key_arn_of,
)

_AWS_ERRORS = (BotoCoreError, ClientError)


@dataclass(frozen=True)
class RoleSurroundings:
    """Everything around the role that the IAM suite judges it with, and what could not be read."""

    around: Surroundings = field(default_factory=Surroundings)
    key_arn: str | None = None  # the customer managed key, if the environment has one
    key_policy: Policy | None = None
    key_policy_unread: str | None = None  # why the key policy could not be read
    warnings: tuple[str, ...] = ()


def _code(exc: Exception) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


def account_blocks_public_access(environment: Environment) -> AccountSetting:
    """Whether the environment's account blocks public access (any of the four S3 Block Public Access settings
    on), from s3control GetPublicAccessBlock; unknown, with the reason, when the caller may not read it."""
    description = environment.mwaa_description()
    if not description:
        return UNREAD
    account = EnvironmentArn.parse(description["Arn"]).account
    try:
        s3control = environment.aws_client("s3control")
        found = s3control.get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"]
    except _AWS_ERRORS as exc:
        if _code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return AccountSetting(False)
        return AccountSetting(
            None,
            f"s3control GetPublicAccessBlock for account {account}: {aws_problem(exc)}; the caller needs "
            f"s3:GetAccountPublicAccessBlock",
        )
    return AccountSetting(any(bool(value) for value in found.values()))


def read_surroundings(environment: Environment, role: ExecutionRole) -> RoleSurroundings:
    """The SCPs, bucket policy and key policy that apply to `role`, as far as the caller may read them."""
    description = environment.mwaa_description()
    if not description:
        return RoleSurroundings(Surroundings(principal=role.arn))
    arn = EnvironmentArn.parse(description["Arn"])
    warnings: list[str] = []
    bucket_arn = description["SourceBucketArn"]
    bucket_policies = {}
    policy = _bucket_policy(environment, bucket_name(bucket_arn), warnings)
    if policy is not None:
        bucket_policies[bucket_arn] = policy
    key_arn = key_arn_of(description["KmsKey"], arn) if description.get("KmsKey") else None
    key_policy, key_unread = _key_policy(environment, key_arn) if key_arn else (None, None)
    if key_unread:
        warnings.append(f"the key policy of {key_arn} was not evaluated for the role's KMS use: {key_unread}")
    scps = _service_control_policies(environment, arn, warnings)
    around = Surroundings(
        principal=role.arn,
        scps=scps,
        bucket_policies=bucket_policies,
        key_policies={key_arn: key_policy} if key_arn and key_policy else {},
    )
    return RoleSurroundings(around, key_arn, key_policy, key_unread, tuple(warnings))


def _document(text: str | Mapping[str, Any]) -> Mapping[str, Any]:
    return json.loads(text) if isinstance(text, str) else text


def _bucket_policy(environment: Environment, bucket: str, warnings: list[str]) -> Policy | None:
    try:
        text = environment.aws_client("s3").get_bucket_policy(Bucket=bucket)["Policy"]
    except _AWS_ERRORS as exc:
        if _code(exc) != "NoSuchBucketPolicy":
            warnings.append(
                f"the bucket policy of {bucket} was not evaluated: {aws_problem(exc)}; the caller needs "
                f"s3:GetBucketPolicy on it"
            )
        return None
    return Policy(f"bucket policy of {bucket}", _document(text))


def _key_policy(environment: Environment, key_arn: str) -> tuple[Policy | None, str | None]:
    try:
        text = environment.aws_client("kms").get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
    except _AWS_ERRORS as exc:
        return None, f"kms GetKeyPolicy: {aws_problem(exc)}; the caller needs kms:GetKeyPolicy on the key"
    return Policy(f"key policy of {key_arn.rsplit('/', 1)[-1]}", _document(text)), None


_SCP_READS = "organizations:DescribeOrganization, ListParents, ListPoliciesForTarget and DescribePolicy"


def _service_control_policies(environment: Environment, arn: EnvironmentArn, warnings: list[str]) -> tuple[Policy, ...]:
    """One policy per level the account inherits SCPs from (the account, each OU above it, the root): every
    level must allow a request. None for an account outside an organization or the management account (SCPs
    do not restrict it)."""
    try:
        organizations = environment.aws_client("organizations")
        try:
            organization = organizations.describe_organization()["Organization"]
        except _AWS_ERRORS as exc:
            if _code(exc) == "AWSOrganizationsNotInUseException":
                return ()
            raise
        if organization.get("MasterAccountId") == arn.account:
            return ()
        levels = []
        target = arn.account
        while True:
            levels.append(_level_policy(organizations, target))
            parents = organizations.list_parents(ChildId=target)["Parents"]
            if not parents:
                break
            target = parents[0]["Id"]
            if parents[0]["Type"] == "ROOT":
                levels.append(_level_policy(organizations, target))
                break
    except _AWS_ERRORS as exc:
        warnings.append(
            f"service control policies were not evaluated: {aws_problem(exc)}; the caller needs {_SCP_READS} "
            f"(from the organization's management account or a delegated administrator)"
        )
        return ()
    return tuple(levels)


def _level_policy(organizations: Any, target: str) -> Policy:
    names, statements = [], []
    pages = organizations.get_paginator("list_policies_for_target").paginate(
        TargetId=target, Filter="SERVICE_CONTROL_POLICY"
    )
    for page in pages:
        for summary in page["Policies"]:
            policy = organizations.describe_policy(PolicyId=summary["Id"])["Policy"]
            names.append(summary.get("Name") or summary["Id"])
            name = summary.get("Name") or summary["Id"]
            for index, statement in enumerate(statements_of(_document(policy["Content"]))):
                # the SCP's name in the statement's label: "explicit deny by ... statement DenyGlue/NoGlue"
                statements.append({**statement, "Sid": f"{name}/{statement.get('Sid') or f'#{index}'}"})
    return Policy(f"service control policies of {target} ({', '.join(names) or 'none attached'})",
                  {"Statement": statements})  # fmt: skip
