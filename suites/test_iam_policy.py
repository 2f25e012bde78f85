"""IAM sufficiency: the target's execution role allows everything the environment and its DAGs need.

One test per group of permissions (the DAG bucket, each enabled log group, the Celery queue, KMS, metrics, the
secrets backend, the migration's reads, each AWS operator the DAGs use, what mwaa-verify.toml declares),
judged by a local evaluator that follows AWS's evaluation logic: an explicit Deny wins (in the role, its
permissions boundary, the organization's SCPs, the DAG bucket's bucket policy or the key policy), the
boundary and every level of SCPs must allow too, and anything no statement allows is denied. A failure names
each missing action and resource and the statement that denies it. What could not be read (SCPs the caller
may not list, the account's Block Public Access setting) is a warning on the sign-off, never silently passed.
With --iam-simulate, IAM's own SimulatePrincipalPolicy judges the same requests and any disagreement fails.
"""

from __future__ import annotations

import warnings

import allure
import pytest

from mwaa_verify.environments.base import Environment
from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.iam.account import RoleSurroundings
from mwaa_verify.iam.requirements import (
    NOTHING_AROUND,
    RequirementGroup,
    decisions,
    key_policy_shortfalls,
    trust_shortfalls,
)
from mwaa_verify.iam.role_diff import environment_renames, lost_permissions
from mwaa_verify.iam.simulate import disagreements
from mwaa_verify.report.allure_results import attach_table


class IamWarning(UserWarning):
    """Something the sign-off should show: a need that may not apply, or a policy that could not be read."""


def _warn(line: str) -> None:
    allure.dynamic.label("mwaa_warning", line)
    warnings.warn(line, IamWarning, stacklevel=2)


def test_execution_role_allows(
    iam_requirement: str,
    iam_requirement_groups: dict[str, RequirementGroup],
    iam_surroundings: RoleSurroundings | None,
    target_env: Environment,
    pytestconfig: pytest.Config,
) -> None:
    group = iam_requirement_groups[iam_requirement]
    if group.unavailable:
        pytest.fail(group.unavailable, pytrace=False)
    role = target_env.execution_role()
    if role is None:
        pytest.skip(f"not applicable: {target_env.name!r} has no execution role (set policy_file for a local one)")
    around = iam_surroundings.around if iam_surroundings else NOTHING_AROUND

    decided = decisions(group, role.policies, role.permissions_boundary, around)

    for need, decision in decided:
        if not decision.allowed and need.advisory:
            _warn(f"{group.id}: {need}: {decision}; {need.advisory}")
    missing = [(need, decision) for need, decision in decided if not decision.allowed and not need.advisory]
    if missing:
        attach_table(
            f"{group.id}: missing permissions",
            ("action", "resource", "decision"),
            [(need.action, need.resource, str(decision)) for need, decision in missing],
        )
    assert not missing, (
        f"{group.purpose}: {len(missing)} missing permission(s) in execution role {role.name}: "
        + "; ".join(f"{need}: {decision}" for need, decision in missing)
    )
    if pytestconfig.getoption("iam_simulate"):
        iam = target_env.aws_client("iam")
        if iam is None or role.arn is None:
            # the local evaluator's verdict above stands; only the second opinion cannot be had
            _warn(
                f"--iam-simulate is not applicable to {target_env.name!r}: its role is a policy file, not an IAM "
                f"role IAM could simulate; this check passed on the local evaluator alone"
            )
            return
        try:
            disagreeing = disagreements(iam, role.arn, [(need, decision.allowed) for need, decision in decided], around)
        except MwaaVerifyError as exc:
            pytest.fail(str(exc), pytrace=False)
        assert not disagreeing, f"{group.purpose}: " + "; ".join(map(str, disagreeing))


def test_account_policies_were_evaluated(iam_surroundings: RoleSurroundings | None, target_env: Environment) -> None:
    """The organization's SCPs and the DAG bucket's and key's resource policies were read and applied to the
    role's checks; what the caller may not read is a warning naming what was not evaluated and the fix."""
    if iam_surroundings is None or not target_env.mwaa_description():
        pytest.skip(f"not applicable: {target_env.name!r} is not an MWAA environment with an execution role")
    for line in iam_surroundings.warnings:
        _warn(line)


def test_key_policy_lets_cloudwatch_logs_use_the_key(
    iam_surroundings: RoleSurroundings | None, target_env: Environment
) -> None:
    """A customer managed key's policy lets CloudWatch Logs (logs.<region>.amazonaws.com) encrypt the
    environment's log groups with it (the MWAA guide's key policy statement); without it MWAA writes no logs."""
    description = target_env.mwaa_description()
    if not description or not description.get("KmsKey") or iam_surroundings is None:
        pytest.skip(f"not applicable: {target_env.name!r} does not encrypt with a customer managed key")
    if iam_surroundings.key_policy is None:
        pytest.fail(
            f"cannot check the key policy of {iam_surroundings.key_arn}: {iam_surroundings.key_policy_unread}",
            pytrace=False,
        )

    missing = key_policy_shortfalls(description, iam_surroundings.key_policy)

    assert not missing, (
        f"the key policy of {iam_surroundings.key_arn} does not let CloudWatch Logs use the key for the "
        f"environment's logs: {len(missing)} missing permission(s): "
        + "; ".join(map(str, missing[:6]))
        + ("; ..." if len(missing) > 6 else "")
        + "; add the MWAA guide's statement: Principal Service logs.<region>.amazonaws.com, kms:Encrypt*, "
        "kms:Decrypt*, kms:ReEncrypt*, kms:GenerateDataKey*, kms:Describe*, Condition ArnLike "
        "kms:EncryptionContext:aws:logs:arn arn:<partition>:logs:<region>:<account>:*"
    )


def test_execution_role_trusts_mwaa(target_env: Environment) -> None:
    """MWAA's services (airflow.amazonaws.com, airflow-env.amazonaws.com) may assume the execution role."""
    role = target_env.execution_role()
    if role is None or role.trust_policy is None or role.arn is None:
        pytest.skip(f"not applicable: {target_env.name!r} has no IAM role whose trust policy could be read")

    missing = trust_shortfalls(role.arn, role.trust_policy)

    assert not missing, (
        f"execution role {role.name} cannot be assumed by MWAA: {len(missing)} missing permission(s): "
        + "; ".join(map(str, missing))
        + "; add both services as Principal.Service of an sts:AssumeRole statement in its trust policy"
    )


def test_target_role_keeps_source_permissions(source_env: Environment, target_env: Environment) -> None:
    """Everything the old environment's role was allowed, the new one is allowed too (names mapped)."""
    source_role, target_role = source_env.execution_role(), target_env.execution_role()
    if source_role is None or target_role is None:
        pytest.skip("not applicable: both environments need an execution role to compare them")

    lost = lost_permissions(
        source_role, target_role, environment_renames(source_env.mwaa_description(), target_env.mwaa_description())
    )

    if lost:
        attach_table(
            "permissions the target's role lacks",
            ("action", "resource", "decision"),
            [(item.need.action, item.need.resource, str(item.decision)) for item in lost],
        )
    assert not lost, (
        f"execution role {target_role.name} is missing {len(lost)} permission(s) that {source_role.name} has: "
        + "; ".join(map(str, lost))
    )
