"""The caller's own permissions, for what the tool does with the caller's credentials: `mwaa-verify copy-logs`
reads the old environment's task logs as the caller, not as any execution role.

IAM SimulatePrincipalPolicy judges the caller's identity (from sts GetCallerIdentity) where it can: an IAM
user or role. An assumed-role session cannot be simulated as itself (session policies and the role's path are
not in its ARN), and a caller may not be allowed to simulate: then one cheap read per action (a single stream,
a single event) tells, and an AccessDenied becomes the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mwaa_verify.environments.base import Environment
from mwaa_verify.iam.requirements import Need, source_task_log_group_arn, source_task_log_reads

_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


def task_log_read_problem(source: Environment) -> str | None:
    """One line saying what the caller may not read of `source`'s task log group, or None when it may read it
    all (or the source keeps its task logs somewhere other than CloudWatch Logs)."""
    description = source.mwaa_description()
    if not description:
        return None
    group_arn = source_task_log_group_arn(description)
    group = group_arn.split(":log-group:", 1)[1]
    needs = source_task_log_reads(description)
    try:
        caller = source.aws_client("sts").get_caller_identity()["Arn"]
    except (BotoCoreError, ClientError):
        caller = None  # the reads below tell what matters
    denied = _simulated_denials(source.aws_client("iam"), caller, needs) if caller and _simulable(caller) else None
    how = "IAM SimulatePrincipalPolicy"
    if denied is None:
        denied, how = _refused_reads(source.aws_client("logs"), group, needs), "AWS refused a read"
    if not denied:
        return None
    who = f"the caller {caller}" if caller else "the caller"
    return (
        f"cannot copy task logs from {source.name!r}: {who} may not read its task log group {group} "
        f"({', '.join(denied)}: {how}); nothing was copied. Grant {', '.join(n.action for n in needs)} on "
        f"{group_arn} and its streams to the identity that runs copy-logs"
    )


def _simulable(arn: str) -> bool:
    """IAM users and roles can be simulated by their ARN; sts assumed-role sessions and federated users not."""
    return arn.split(":")[2:3] == ["iam"] and (":user/" in arn or ":role/" in arn)


def _simulated_denials(iam: Any, caller: str, needs: Sequence[Need]) -> list[str] | None:
    """`action (decision)` for each need IAM's simulator denies; None when the caller may not simulate."""
    denied = []
    for need in needs:
        try:
            result = iam.simulate_principal_policy(
                PolicySourceArn=caller, ActionNames=[need.action], ResourceArns=[need.resource]
            )["EvaluationResults"][0]
        except (BotoCoreError, ClientError):
            return None
        if result["EvalDecision"] != "allowed":
            denied.append(f"{need.action} {result['EvalDecision']}")
    return denied


def _refused_reads(logs: Any, group: str, needs: Sequence[Need]) -> list[str]:
    """The actions AWS refuses when each is tried once on the smallest thing it reads."""
    actions = {need.action for need in needs}
    refused = []
    stream = None
    if "logs:DescribeLogStreams" in actions:
        try:
            streams = logs.describe_log_streams(logGroupName=group, limit=1).get("logStreams") or []
            stream = streams[0]["logStreamName"] if streams else None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _DENIED:
                refused.append("logs:DescribeLogStreams denied")
    calls = {
        "logs:FilterLogEvents": lambda: logs.filter_log_events(logGroupName=group, limit=1),
        "logs:GetLogEvents": (
            (lambda: logs.get_log_events(logGroupName=group, logStreamName=stream, limit=1)) if stream else None
        ),
    }
    for action, call in calls.items():
        if action not in actions or call is None:
            continue
        try:
            call()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _DENIED:
                refused.append(f"{action} denied")
    return refused
