"""What the old execution role allowed that the new one does not: the permissions a migration can lose.

Every Allow statement of the source role is unfolded into (action, resource) pairs, with the old environment's
names (its log groups, its ARN, its bucket) replaced by the new one's, and asked of the target role with the
conditions the statement itself required. Statements written as NotAction/NotResource name what they exclude,
not what they grant, and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mwaa_verify.environments.base import ExecutionRole
from mwaa_verify.iam.evaluate import as_list, evaluate, statements_of
from mwaa_verify.iam.requirements import Need, Shortfall

# operators whose values, taken as the request's context, satisfy the condition they appear in
_SATISFIABLE = {"StringEquals", "StringLike", "ArnEquals", "ArnLike", "Bool", "StringEqualsIgnoreCase"}


def lost_permissions(source: ExecutionRole, target: ExecutionRole, renames: Mapping[str, str]) -> list[Shortfall]:
    lost: dict[str, Shortfall] = {}
    for need in _granted(source):
        if not evaluate(need.request(), source.policies, boundary=source.permissions_boundary).allowed:
            continue  # the source never had it either (a Deny or its boundary took it away)
        renamed = Need(need.action, _rename(need.resource, renames), need.context)
        decision = evaluate(renamed.request(), target.policies, boundary=target.permissions_boundary)
        if not decision.allowed:
            lost.setdefault(str(renamed), Shortfall(renamed, decision))
    return [lost[key] for key in sorted(lost)]


def _granted(role: ExecutionRole) -> list[Need]:
    needs = []
    for policy in role.policies:
        for statement in statements_of(policy.document):
            if statement.get("Effect") != "Allow" or "Action" not in statement or "Resource" not in statement:
                continue
            context = _context(statement.get("Condition") or {})
            needs += [
                Need(action, resource, context)
                for action in as_list(statement["Action"])
                for resource in as_list(statement["Resource"])
            ]
    return needs


def _context(conditions: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    context = {}
    for operator, keys in conditions.items():
        if operator.removesuffix("IfExists") in _SATISFIABLE:
            for key, value in keys.items():
                context[key] = str(as_list(value)[0])
    return context


def _rename(resource: str, renames: Mapping[str, str]) -> str:
    for old, new in renames.items():
        resource = resource.replace(old, new)
    return resource


def environment_renames(source: Mapping[str, Any] | None, target: Mapping[str, Any] | None) -> dict[str, str]:
    """Old name -> new name for what two MWAA environments call differently: ARN, bucket, log groups."""
    if not source or not target:
        return {}
    pairs = {
        source["Arn"]: target["Arn"],
        source["SourceBucketArn"]: target["SourceBucketArn"],
        f"airflow-{source['Name']}-": f"airflow-{target['Name']}-",
    }
    return {old: new for old, new in pairs.items() if old != new}
