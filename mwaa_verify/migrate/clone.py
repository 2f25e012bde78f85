"""Step one of the MWAA migration guide: a new environment like the old one, on a newer Airflow.

The plan is the CreateEnvironment request built from the old environment's description: every setting
CreateEnvironment accepts is carried over (shaped by boto3's own model of the request, so read-only fields
such as log group ARNs, status and URLs fall away), with the new name, Airflow version and execution role,
Airflow options renamed where Airflow 3 moved them or dropped where it removed them, and secrets backends
named by the class path the new version knows. Nothing is created unless asked: the plan is the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mwaa_verify.airflow.config_map import MOVED_IN_3, REMOVED_IN_3, is_sensitive
from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.environments.mwaa_settings import create_environment_shape, setting_problem
from mwaa_verify.errors import MwaaVerifyError, aws_problem
from mwaa_verify.iam.requirements import (
    UNREAD,
    AccountSetting,
    EnvironmentArn,
    Shortfall,
    advisories,
    environment_needs,
    shortfalls,
    trust_shortfalls,
)
from mwaa_verify.iam.role import read_role

# Secrets backends under the names older Airflow used, and where the Amazon provider keeps them now.
SECRETS_BACKENDS = {
    "airflow.contrib.secrets.aws_secrets_manager.SecretsManagerBackend":
        "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
    "airflow.contrib.secrets.aws_systems_manager.SystemsManagerParameterStoreBackend":
        "airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend",
}  # fmt: skip


class CloneError(MwaaVerifyError):
    """A clone that cannot be planned or created as asked."""


@dataclass(frozen=True)
class ClonePlan:
    source: str
    request: Mapping[str, Any]  # the CreateEnvironment arguments
    changes: tuple[str, ...]  # each way the new environment differs from the old, and why

    def shown(self) -> dict[str, Any]:
        """The request as it may be printed: values of options that can hold secrets replaced."""
        options = self.request.get("AirflowConfigurationOptions")
        if not options:
            return dict(self.request)
        hidden = {name: "<redacted>" if is_sensitive(name) else value for name, value in options.items()}
        return {**self.request, "AirflowConfigurationOptions": hidden}


def _fit(value: Any, shape: Any) -> Any:
    """`value` with only what `shape` (a CreateEnvironment input shape) accepts."""
    if shape.type_name == "structure":
        return {key: _fit(item, shape.members[key]) for key, item in value.items() if key in shape.members}
    return value


def _check(field: str, value: str) -> None:
    problem = setting_problem(field, value)
    if problem:
        raise CloneError(problem)


def check_clone_arguments(name: str, airflow_version: str, execution_role_arn: str | None) -> AirflowVersion:
    """What can be judged without the source, checked before any AWS call; the new Airflow version."""
    _check("Name", name)
    try:
        new = AirflowVersion.parse(airflow_version)
    except ValueError as exc:
        raise CloneError(f"{exc}; write the Airflow version as X.Y.Z, e.g. 3.3.1") from None
    if execution_role_arn is not None:
        _check("ExecutionRoleArn", execution_role_arn)
    return new


def plan_clone(
    source: Mapping[str, Any], name: str, airflow_version: str, execution_role_arn: str | None = None
) -> ClonePlan:
    """The CreateEnvironment request for a copy of `source` (a `get_environment()["Environment"]`)."""
    new = check_clone_arguments(name, airflow_version, execution_role_arn)
    if name == source["Name"]:
        raise CloneError(f"the new environment needs a name of its own; {name!r} is the environment cloned")
    try:
        old = AirflowVersion.parse(source["AirflowVersion"])
    except ValueError as exc:
        raise CloneError(f"{exc}; write the Airflow version as X.Y.Z, e.g. 3.3.1") from None
    if new < old:
        raise CloneError(f"Airflow {new} is older than the source's {old}; MWAA migrates to the same or a newer one")
    if not new.is_provisionable:
        raise CloneError(f"MWAA runs Airflow {', '.join(AirflowVersion.PROVISIONABLE_LINES)}.x; {new} is not one")
    role = execution_role_arn or source["ExecutionRoleArn"]
    _check("ExecutionRoleArn", role)

    request = _fit(source, create_environment_shape())
    changes = [f"Name: {source['Name']} -> {name}"]
    request["Name"] = name
    if new != old:
        request["AirflowVersion"] = str(new)
        changes.append(f"AirflowVersion: {old} -> {new}")
    if role != source["ExecutionRoleArn"]:
        request["ExecutionRoleArn"] = role
        changes.append(f"ExecutionRoleArn: {source['ExecutionRoleArn']} -> {role}")
    if any("CloudWatchLogGroupArn" in item for item in (source.get("LoggingConfiguration") or {}).values()):
        changes.append(f"LoggingConfiguration: new log groups airflow-{name}-*, not the old environment's")
    options, option_changes = _options(source.get("AirflowConfigurationOptions") or {}, old, new)
    if options or "AirflowConfigurationOptions" in request:
        request["AirflowConfigurationOptions"] = options
    return ClonePlan(source=source["Name"], request=request, changes=tuple(changes + option_changes))


def _options(options: Mapping[str, str], old: AirflowVersion, new: AirflowVersion) -> tuple[dict[str, str], list[str]]:
    kept: dict[str, str] = {}
    changes = []
    crossing = not old.is_airflow3 and new.is_airflow3
    for option, value in sorted(options.items()):
        if crossing and option in REMOVED_IN_3:
            changes.append(f"AirflowConfigurationOptions: {option} dropped ({REMOVED_IN_3[option]} in Airflow 3)")
            continue
        renamed = MOVED_IN_3.get(option, option) if crossing else option
        if renamed != option:
            changes.append(f"AirflowConfigurationOptions: {option} -> {renamed} (moved in Airflow 3)")
        if option == "secrets.backend" and value in SECRETS_BACKENDS:
            changes.append(f"AirflowConfigurationOptions: secrets.backend {value} -> {SECRETS_BACKENDS[value]}")
            value = SECRETS_BACKENDS[value]
        kept[renamed] = value
    return kept, changes


@dataclass(frozen=True)
class RoleCheck:
    missing: list[Shortfall]  # what the role lacks: the new environment would fail
    warnings: list[Shortfall]  # what it lacks that may not be needed (Need.advisory says why)


def check_role(iam: Any, plan: ClonePlan, source_arn: str, blocks_public_access: AccountSetting = UNREAD) -> RoleCheck:
    """What the planned environment's execution role would lack, judged as the IAM suite will judge it (in the
    old environment's partition, region and account)."""
    old = EnvironmentArn.parse(source_arn)
    name, role_arn = plan.request["Name"], plan.request["ExecutionRoleArn"]
    planned = {**plan.request, "Arn": old.arn("airflow", f"environment/{name}")}
    try:
        role = read_role(iam, role_arn)
    except iam.exceptions.NoSuchEntityException:
        raise CloneError(
            f"execution role {role_arn} does not exist; create it first, or name another with --execution-role-arn"
        ) from None
    except (BotoCoreError, ClientError) as exc:
        raise CloneError(f"cannot read execution role {role_arn}: {aws_problem(exc)}") from None
    groups = environment_needs(planned, blocks_public_access)
    missing = [found for group in groups for found in shortfalls(group, role.policies, role.permissions_boundary)]
    trust = trust_shortfalls(role_arn, role.trust_policy) if role.trust_policy else []
    warnings = [found for group in groups for found in advisories(group, role.policies, role.permissions_boundary)]
    return RoleCheck(missing + trust, warnings)


def role_shortfalls(
    iam: Any, plan: ClonePlan, source_arn: str, blocks_public_access: AccountSetting = UNREAD
) -> list[Shortfall]:
    """What the planned environment's execution role would lack (check_role's failures)."""
    return check_role(iam, plan, source_arn, blocks_public_access).missing


def create_environment(mwaa: Any, plan: ClonePlan) -> str:
    """Create the planned environment; refuses to touch one that already exists. Returns its ARN."""
    name = plan.request["Name"]
    try:
        mwaa.get_environment(Name=name)
    except mwaa.exceptions.ResourceNotFoundException:
        pass
    except (BotoCoreError, ClientError) as exc:
        raise CloneError(f"cannot check whether environment {name!r} exists: {aws_problem(exc)}") from None
    else:
        raise CloneError(f"environment {name!r} already exists; pick another name or delete it first")
    try:
        return mwaa.create_environment(**plan.request)["Arn"]
    except (BotoCoreError, ClientError) as exc:
        raise CloneError(f"MWAA refused to create {name!r}: {aws_problem(exc)}") from None
