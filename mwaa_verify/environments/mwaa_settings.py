"""An MWAA environment's own settings (what `mwaa.get_environment` returns beyond Airflow's options), flattened
to comparable "mwaa.<Field>" entries: environment class, workers, schedulers, logging levels, network, KMS,
tags, access mode, maintenance window. Identity fields (name, ARNs, timestamps, status, URLs, the bucket and
the object versions in it) and the Airflow version are left out: they differ between two environments by
definition. AirflowConfigurationOptions are Airflow options and are compared with those.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

_IDENTITY = {
    "Arn", "Name", "CreatedAt", "LastUpdate", "Status", "WebserverUrl", "WebserverVpcEndpointService",
    "DatabaseVpcEndpointService", "ServiceRoleArn", "ExecutionRoleArn", "AirflowVersion", "CeleryExecutorQueue",
    "AirflowConfigurationOptions", "ResponseMetadata",
    # each environment's own bucket and the object versions in it; what is in them is verified by the suites
    "SourceBucketArn", "PluginsS3ObjectVersion", "RequirementsS3ObjectVersion", "StartupScriptS3ObjectVersion",
}  # fmt: skip


def platform_settings(environment: Mapping[str, Any]) -> dict[str, str]:
    """`get_environment()["Environment"]` as flat, comparable settings."""
    settings: dict[str, str] = {}
    for field, value in environment.items():
        if field in _IDENTITY:
            continue
        if field == "NetworkConfiguration":
            settings["mwaa.NetworkConfiguration.SubnetCount"] = str(len(value.get("SubnetIds", [])))
            settings["mwaa.NetworkConfiguration.SecurityGroupIds"] = ",".join(sorted(value.get("SecurityGroupIds", [])))
        elif field == "LoggingConfiguration":
            for kind, logging in sorted(value.items()):
                settings[f"mwaa.Logging.{kind}.Enabled"] = str(logging.get("Enabled"))
                settings[f"mwaa.Logging.{kind}.LogLevel"] = str(logging.get("LogLevel"))
        elif field == "Tags":
            for key, tag in sorted(value.items()):
                settings[f"mwaa.Tags.{key}"] = str(tag)
        elif isinstance(value, Mapping):
            for key, item in sorted(value.items()):
                settings[f"mwaa.{field}.{key}"] = str(item)
        else:
            settings[f"mwaa.{field}"] = str(value)
    return settings


def settings_differences(source: Mapping[str, str], target: Mapping[str, str], intended: set[str]) -> list[str]:
    return [
        f"{name}: {source.get(name, '(not set)')!r} on the source, {target.get(name, '(not set)')!r} on the target"
        for name in sorted({*source, *target})
        if name not in intended and source.get(name) != target.get(name)
    ]


@cache
def create_environment_shape() -> Any:
    """boto3's model of a CreateEnvironment request: which settings it takes and the rules each follows."""
    import botocore.session  # only where an MWAA setting is checked: importing botocore costs a moment

    return botocore.session.get_session().get_service_model("mwaa").operation_model("CreateEnvironment").input_shape


def setting_problem(field: str, value: str) -> str | None:
    """Why `value` breaks MWAA's rule for the CreateEnvironment field `field` (Name, ExecutionRoleArn, ...)."""
    shape = create_environment_shape().members[field]
    pattern, low, high = shape.metadata.get("pattern"), shape.metadata.get("min", 1), shape.metadata.get("max")
    if low <= len(value) <= (high or len(value)) and not (pattern and not re.fullmatch(pattern, value)):
        return None
    return f"{field} {value!r} is not valid for MWAA: it must match {pattern} ({low}-{high} characters)"
