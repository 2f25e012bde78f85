"""A second opinion on the local evaluator: IAM's own SimulatePrincipalPolicy for the same requests.

It needs AWS credentials allowed iam:SimulatePrincipalPolicy on the role. Where the two disagree, the
verification says so rather than trusting either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mwaa_verify.errors import MwaaVerifyError, aws_problem
from mwaa_verify.iam.requirements import NOTHING_AROUND, Need, Surroundings


@dataclass(frozen=True)
class Disagreement:
    need: Need
    local_allowed: bool
    simulated: str  # IAM's EvalDecision: allowed, explicitDeny, implicitDeny

    def __str__(self) -> str:
        local = "allowed" if self.local_allowed else "denied"
        return f"{self.need}: the local evaluator says {local}, IAM SimulatePrincipalPolicy says {self.simulated}"


def simulated_decision(iam: Any, role_arn: str, need: Need, around: Surroundings = NOTHING_AROUND) -> str:
    arguments: dict[str, Any] = {"PolicySourceArn": role_arn, "ActionNames": [need.action]}
    if not need.any_resource:
        arguments["ResourceArns"] = [need.resource]
    resource_policy = around.resource_policy(need.resource)
    if resource_policy is not None:
        # the bucket or key policy the local evaluator applied, so that both judge the same request
        arguments["ResourcePolicy"] = json.dumps(resource_policy.document)
        arguments["ResourceOwner"] = f"arn:{role_arn.split(':')[1]}:iam::{role_arn.split(':')[4]}:root"
    if need.context:
        arguments["ContextEntries"] = [
            {
                "ContextKeyName": key,
                "ContextKeyValues": list(value) if isinstance(value, tuple) else [value],
                "ContextKeyType": "string",
            }
            for key, value in need.context.items()
        ]
    try:
        results = iam.simulate_principal_policy(**arguments)["EvaluationResults"]
    except (BotoCoreError, ClientError) as exc:
        raise MwaaVerifyError(
            f"IAM SimulatePrincipalPolicy for {role_arn} failed: {aws_problem(exc)}; the caller needs "
            f"iam:SimulatePrincipalPolicy on the role, or leave out --iam-simulate"
        ) from None
    return results[0]["EvalDecision"]


def disagreements(
    iam: Any, role_arn: str, decided: Iterable[tuple[Need, bool]], around: Surroundings = NOTHING_AROUND
) -> list[Disagreement]:
    found = []
    for need, allowed in decided:
        simulated = simulated_decision(iam, role_arn, need, around)
        if (simulated == "allowed") != allowed:
            found.append(Disagreement(need, allowed, simulated))
    return found
