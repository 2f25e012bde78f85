"""IAM policy evaluation for one request, the way AWS documents it (policy evaluation logic):

an explicit Deny in any policy wins; otherwise the request needs an Allow from an identity policy (or, in the
same account, the resource policy), and, where they apply, an Allow from the permissions boundary and from
every SCP; anything else is an implicit deny. Each decision names the statements that made it.

Supported: Action/NotAction (case-insensitive, `*` and `?`), Resource/NotResource (case-sensitive), policy
variables (`${aws:username}`, `${*}`, `${?}`, `${$}`), and the common condition operators with `IfExists` and
the `ForAnyValue:` / `ForAllValues:` set qualifiers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ContextValue = str | bool | int | float | Sequence[str]


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal: str | None = None  # for resource policies
    # The resource is not known before the code runs (the job an operator starts, the bucket it reads):
    # an Allow on any resource grants it, and only a Deny on every resource ("*") refuses it.
    any_resource: bool = False


@dataclass(frozen=True)
class Policy:
    name: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class StatementRef:
    policy: str
    index: int
    sid: str | None
    effect: str

    def __str__(self) -> str:
        return f"{self.policy} statement {self.sid or f'#{self.index}'} ({self.effect})"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "allowed", "explicit deny", "implicit deny", "not allowed by the permissions boundary", ...
    statements: tuple[StatementRef, ...] = ()

    def __str__(self) -> str:
        by = f" by {', '.join(map(str, self.statements))}" if self.statements else ""
        return f"{self.reason}{by}"


def evaluate(
    request: Request,
    identity: Iterable[Policy],
    boundary: Policy | None = None,
    scps: Iterable[Policy] = (),
    resource_policy: Policy | None = None,
) -> Decision:
    identity, scps = list(identity), list(scps)
    every = [*identity, *([boundary] if boundary else []), *scps, *([resource_policy] if resource_policy else [])]
    denies = [ref for policy in every for ref in _matching(policy, request, "Deny")]
    if denies:
        return Decision(False, "explicit deny", tuple(denies))
    for scp in scps:
        if not _matching(scp, request, "Allow"):
            return Decision(False, f"not allowed by the service control policy {scp.name}")
    allows = [ref for policy in identity for ref in _matching(policy, request, "Allow")]
    resource_allows = _matching(resource_policy, request, "Allow") if resource_policy else []
    if not allows and not resource_allows:
        return Decision(False, "implicit deny: no statement allows it")
    if boundary is not None and not allows and resource_allows:
        return Decision(True, "allowed by the resource policy", tuple(resource_allows))
    if boundary is not None:
        bounded = _matching(boundary, request, "Allow")
        if not bounded:
            return Decision(False, "not allowed by the permissions boundary", tuple(allows))
        return Decision(True, "allowed", tuple(allows + bounded))
    return Decision(True, "allowed", tuple(allows + resource_allows))


def _matching(policy: Policy | None, request: Request, effect: str) -> list[StatementRef]:
    if policy is None:
        return []
    found = []
    for index, statement in enumerate(statements_of(policy.document)):
        if statement.get("Effect") != effect:
            continue
        if policy_applies(statement, request):
            found.append(StatementRef(policy.name, index, statement.get("Sid"), effect))
    return found


def statements_of(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A policy's statements, whether written as one object or a list."""
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def as_list(value: Any) -> list[Any]:
    """A policy element that may be one value or a list of them, as a list."""
    return list(value) if isinstance(value, list | tuple) else [value]


def policy_applies(statement: Mapping[str, Any], request: Request) -> bool:
    def resources(key: str) -> bool:
        return any(resource_matches(_substitute(p, request.context), request.resource) for p in as_list(statement[key]))

    if "Action" in statement and not any(action_matches(p, request.action) for p in as_list(statement["Action"])):
        return False
    if "NotAction" in statement and any(action_matches(p, request.action) for p in as_list(statement["NotAction"])):
        return False
    if not _resource_applies(statement, request, resources):
        return False
    if "Principal" in statement and not _principal_matches(statement["Principal"], request.principal):
        return False
    return conditions_hold(statement.get("Condition", {}), request.context)


def _resource_applies(statement: Mapping[str, Any], request: Request, resources: Any) -> bool:
    if request.any_resource:
        # the resource is unknown: an Allow that grants some resource applies; a Deny only if it covers them all
        if "NotResource" in statement:
            return statement.get("Effect") != "Deny" and any(p != "*" for p in as_list(statement["NotResource"]))
        if "Resource" in statement and statement.get("Effect") == "Deny":
            return "*" in as_list(statement["Resource"])
        return True
    if "Resource" in statement and not resources("Resource"):
        return False
    return not ("NotResource" in statement and resources("NotResource"))


def action_matches(pattern: str, action: str) -> bool:
    return _wildcard(pattern.lower()).fullmatch(action.lower()) is not None


def resource_matches(pattern: str, resource: str) -> bool:
    return _wildcard(pattern).fullmatch(resource) is not None


@lru_cache(maxsize=4096)
def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_LITERALS = {"*": "*", "?": "?", "$": "$"}


def _substitute(pattern: str, context: Mapping[str, ContextValue]) -> str:
    """Policy variables; an unknown variable makes the pattern match nothing (AWS treats it as no match)."""
    lowered = {key.lower(): value for key, value in context.items()}

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _LITERALS:
            return _LITERALS[name]
        name, _, default = name.partition(", ")
        found = lowered.get(name.strip().lower())
        if found is None:
            return default.strip("'") if default else "\x00unresolved\x00"
        return str(found)

    return _VARIABLE.sub(value, pattern)


def _principal_matches(principal: Any, caller: str | None) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        candidates = [v for values in principal.values() for v in as_list(values)]
        return "*" in candidates or (caller is not None and any(resource_matches(c, caller) for c in candidates))
    return False


# -- conditions ------------------------------------------------------------------------------------------


def conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, ContextValue]) -> bool:
    """Every operator and every key must hold (AND); any of a key's values may match (OR)."""
    lowered = {key.lower(): value for key, value in context.items()}
    for operator, keys in conditions.items():
        for key, expected in keys.items():
            if not _condition(operator, lowered.get(key.lower()), [str(v) for v in as_list(expected)], lowered):
                return False
    return True


def _condition(operator: str, actual: ContextValue | None, expected: list[str], context: Mapping[str, Any]) -> bool:
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if name == "Null":
        return (actual is None) == (expected[0].lower() == "true")
    if qualifier in {"ForAnyValue", "ForAllValues"}:
        values = [] if actual is None else [str(v) for v in as_list(actual)]
        test = _OPERATORS[name]
        expected = [_substitute(e, context) for e in expected]
        if qualifier == "ForAllValues":
            return all(test(value, expected) for value in values)  # true for an empty or absent set
        return any(test(value, expected) for value in values)
    if actual is None:
        return if_exists or name in _NEGATED
    values = [str(v).lower() if isinstance(v, bool) else str(v) for v in as_list(actual)]
    expected = [_substitute(e, context) for e in expected]
    return any(_OPERATORS[name](value, expected) for value in values)


def _string_like(value: str, patterns: list[str]) -> bool:
    return any(_wildcard(p).fullmatch(value) for p in patterns)


def _numbers(value: str, patterns: list[str], compare) -> bool:
    try:
        return any(compare(float(value), float(p)) for p in patterns)
    except ValueError:
        return False


def _ip(value: str, patterns: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(value)
        return any(address in ipaddress.ip_network(p, strict=False) for p in patterns)
    except ValueError:
        return False


_OPERATORS = {
    "StringEquals": lambda v, ps: v in ps,
    "StringNotEquals": lambda v, ps: v not in ps,
    "StringEqualsIgnoreCase": lambda v, ps: v.lower() in {p.lower() for p in ps},
    "StringNotEqualsIgnoreCase": lambda v, ps: v.lower() not in {p.lower() for p in ps},
    "StringLike": _string_like,
    "StringNotLike": lambda v, ps: not _string_like(v, ps),
    "ArnEquals": _string_like,
    "ArnLike": _string_like,
    "ArnNotEquals": lambda v, ps: not _string_like(v, ps),
    "ArnNotLike": lambda v, ps: not _string_like(v, ps),
    "Bool": lambda v, ps: v.lower() in {p.lower() for p in ps},
    "IpAddress": _ip,
    "NotIpAddress": lambda v, ps: not _ip(v, ps),
    "NumericEquals": lambda v, ps: _numbers(v, ps, lambda a, b: a == b),
    "NumericNotEquals": lambda v, ps: not _numbers(v, ps, lambda a, b: a == b),
    "NumericLessThan": lambda v, ps: _numbers(v, ps, lambda a, b: a < b),
    "NumericLessThanEquals": lambda v, ps: _numbers(v, ps, lambda a, b: a <= b),
    "NumericGreaterThan": lambda v, ps: _numbers(v, ps, lambda a, b: a > b),
    "NumericGreaterThanEquals": lambda v, ps: _numbers(v, ps, lambda a, b: a >= b),
}
# With the key absent from the request, a negated operator holds (there is nothing to be equal to).
_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike",
            "NotIpAddress", "NumericNotEquals"}  # fmt: skip
