"""The local IAM evaluator against AWS's documented evaluation logic, and properties of its wildcards."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mwaa_verify.iam.evaluate import Policy, Request, action_matches, evaluate, resource_matches

BUCKET = "arn:aws:s3:::airflow-dags-prod"


def allow(*statements: dict, name: str = "identity") -> Policy:
    return Policy(name, {"Version": "2012-10-17", "Statement": list(statements)})


def statement(effect: str = "Allow", **fields: object) -> dict:
    return {"Effect": effect, **fields}


@pytest.mark.parametrize(
    ("case", "policies", "request_", "allowed", "reason"),
    [
        ("allow by action and resource",
         [allow(statement(Action="s3:GetObject", Resource=f"{BUCKET}/*"))],
         Request("s3:GetObject", f"{BUCKET}/dags/etl.py"), True, "allowed"),
        ("nothing allows: implicit deny",
         [allow(statement(Action="s3:GetObject", Resource=f"{BUCKET}/*"))],
         Request("s3:PutObject", f"{BUCKET}/dags/etl.py"), False, "implicit deny: no statement allows it"),
        ("explicit deny beats allow",
         [allow(statement(Action="s3:*", Resource="*"), statement("Deny", Sid="NoDelete", Action="s3:Delete*", Resource="*"))],
         Request("s3:DeleteObject", f"{BUCKET}/dags/etl.py"), False, "explicit deny"),
        ("actions are case-insensitive",
         [allow(statement(Action="S3:getobject", Resource="*"))],
         Request("s3:GetObject", f"{BUCKET}/x"), True, "allowed"),
        ("resources are case-sensitive",
         [allow(statement(Action="s3:GetObject", Resource=f"{BUCKET.upper()}/*"))],
         Request("s3:GetObject", f"{BUCKET}/x"), False, "implicit deny: no statement allows it"),
        ("NotAction allows everything else",
         [allow(statement(NotAction="iam:*", Resource="*"))],
         Request("logs:PutLogEvents", "arn:aws:logs:eu-west-1:1:log-group:airflow-prod-Task:*"), True, "allowed"),
        ("NotAction excludes what it names",
         [allow(statement(NotAction="iam:*", Resource="*"))],
         Request("iam:PassRole", "arn:aws:iam::1:role/x"), False, "implicit deny: no statement allows it"),
        ("NotResource with Deny protects all but one bucket",
         [allow(statement(Action="s3:*", Resource="*"), statement("Deny", Action="s3:*", NotResource=[BUCKET, f"{BUCKET}/*"]))],
         Request("s3:GetObject", "arn:aws:s3:::other-bucket/key"), False, "explicit deny"),
        ("question mark matches one character",
         [allow(statement(Action="sqs:SendMessage", Resource="arn:aws:sqs:eu-west-1:?:airflow-celery-*"))],
         Request("sqs:SendMessage", "arn:aws:sqs:eu-west-1:1:airflow-celery-abc"), True, "allowed"),
        ("condition StringEquals holds",
         [allow(statement(Action="kms:Decrypt", Resource="*", Condition={"StringLike": {"kms:ViaService": "sqs.*.amazonaws.com"}}))],
         Request("kms:Decrypt", "arn:aws:kms:eu-west-1:1:key/k", {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}), True, "allowed"),
        ("condition key missing: positive operator fails",
         [allow(statement(Action="kms:Decrypt", Resource="*", Condition={"StringLike": {"kms:ViaService": "sqs.*"}}))],
         Request("kms:Decrypt", "arn:aws:kms:eu-west-1:1:key/k"), False, "implicit deny: no statement allows it"),
        ("condition key missing: IfExists holds",
         [allow(statement(Action="kms:Decrypt", Resource="*", Condition={"StringLikeIfExists": {"kms:ViaService": "sqs.*"}}))],
         Request("kms:Decrypt", "arn:aws:kms:eu-west-1:1:key/k"), True, "allowed"),
        ("Bool aws:SecureTransport false denies",
         [allow(statement(Action="s3:*", Resource="*"), statement("Deny", Action="s3:*", Resource="*", Condition={"Bool": {"aws:SecureTransport": "false"}}))],
         Request("s3:GetObject", f"{BUCKET}/x", {"aws:SecureTransport": False}), False, "explicit deny"),
        ("IpAddress outside the range is not allowed",
         [allow(statement(Action="airflow:*", Resource="*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/16"}}))],
         Request("airflow:PublishMetrics", "arn:aws:airflow:eu-west-1:1:environment/prod", {"aws:SourceIp": "192.168.1.4"}), False, "implicit deny: no statement allows it"),
        ("Null: key must be present",
         [allow(statement(Action="s3:GetObject", Resource="*", Condition={"Null": {"aws:PrincipalTag/team": "false"}}))],
         Request("s3:GetObject", f"{BUCKET}/x", {"aws:PrincipalTag/team": "data"}), True, "allowed"),
        ("ForAllValues holds for an absent key",
         [allow(statement(Action="s3:GetObject", Resource="*", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}))],
         Request("s3:GetObject", f"{BUCKET}/x"), True, "allowed"),
        ("ForAnyValue fails for an absent key",
         [allow(statement(Action="s3:GetObject", Resource="*", Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}))],
         Request("s3:GetObject", f"{BUCKET}/x"), False, "implicit deny: no statement allows it"),
        ("policy variable scopes a resource to the caller",
         [allow(statement(Action="s3:GetObject", Resource=BUCKET + "/home/${aws:username}/*"))],
         Request("s3:GetObject", f"{BUCKET}/home/alice/notes", {"aws:username": "alice"}), True, "allowed"),
        ("policy variable does not reach another caller's prefix",
         [allow(statement(Action="s3:GetObject", Resource=BUCKET + "/home/${aws:username}/*"))],
         Request("s3:GetObject", f"{BUCKET}/home/bob/notes", {"aws:username": "alice"}), False, "implicit deny: no statement allows it"),
    ],
)  # fmt: skip
def test_documented_evaluation(
    case: str, policies: list[Policy], request_: Request, allowed: bool, reason: str
) -> None:
    decision = evaluate(request_, policies)

    assert (decision.allowed, decision.reason) == (allowed, reason), case


def test_deny_names_the_statement_that_decided() -> None:
    policy = allow(
        statement(Action="s3:*", Resource="*"), statement("Deny", Sid="NoDelete", Action="s3:Delete*", Resource="*")
    )

    decision = evaluate(Request("s3:DeleteObject", f"{BUCKET}/x"), [policy])

    assert str(decision) == "explicit deny by identity statement NoDelete (Deny)"


def test_permissions_boundary_caps_what_identity_allows() -> None:
    identity = allow(statement(Action="*", Resource="*"))
    boundary = allow(statement(Action=["s3:*", "logs:*"], Resource="*"), name="boundary")

    assert evaluate(Request("s3:GetObject", f"{BUCKET}/x"), [identity], boundary=boundary).allowed
    capped = evaluate(Request("sqs:SendMessage", "arn:aws:sqs:eu-west-1:1:q"), [identity], boundary=boundary)
    assert (capped.allowed, capped.reason) == (False, "not allowed by the permissions boundary")


def test_scp_must_allow_too_and_its_deny_wins() -> None:
    identity = allow(statement(Action="*", Resource="*"))
    scp = allow(
        statement(Action="*", Resource="*"),
        statement("Deny", Action="kms:ScheduleKeyDeletion", Resource="*"),
        name="org",
    )

    assert evaluate(Request("kms:Decrypt", "arn:aws:kms:eu-west-1:1:key/k"), [identity], scps=[scp]).allowed
    assert evaluate(Request("kms:ScheduleKeyDeletion", "k"), [identity], scps=[scp]).reason == "explicit deny"


def test_same_account_resource_policy_allows_alone() -> None:
    bucket_policy = Policy(
        "bucket",
        {
            "Statement": [
                statement(Principal={"AWS": "arn:aws:iam::1:role/mwaa"}, Action="s3:GetObject", Resource=f"{BUCKET}/*")
            ]
        },
    )

    decision = evaluate(
        Request("s3:GetObject", f"{BUCKET}/x", principal="arn:aws:iam::1:role/mwaa"), [], resource_policy=bucket_policy
    )

    assert decision.allowed


text = st.text(alphabet="abcXYZ:/-_.019", min_size=0, max_size=20)


@given(text)
def test_star_matches_everything(value: str) -> None:
    assert action_matches("*", value) and resource_matches("*", value)


@given(text)
def test_a_pattern_without_wildcards_matches_only_itself(value: str) -> None:
    assert resource_matches(value, value)
    assert not resource_matches(value, value + "x")


@given(text, st.data())
def test_wildcarded_pattern_matches_its_source(value: str, data: st.DataObject) -> None:
    """Replace any characters by `?` and any runs by `*`: the pattern still matches the string it came from."""
    pattern = "".join(data.draw(st.sampled_from([c, "?", "*"])) if c else c for c in value)

    assert resource_matches(pattern, value)
    assert action_matches(pattern.upper(), value.lower())
    assert bool(re.fullmatch(re.escape(value), value))


resources = st.sampled_from(["*", "arn:aws:glue:eu-west-1:123456789012:job/etl", "arn:aws:glue:*:*:job/*",
                             "arn:aws:s3:::lake/*"])  # fmt: skip
statements = st.builds(
    lambda effect, action, element, patterns: {"Effect": effect, "Action": action, element: patterns},
    st.sampled_from(["Allow", "Deny"]),
    st.sampled_from(["glue:StartJobRun", "glue:*", "s3:GetObject", "*"]),
    st.sampled_from(["Resource", "NotResource"]),
    st.lists(resources, min_size=1, max_size=2),
)


@given(st.lists(statements, min_size=1, max_size=4), resources.filter(lambda r: r != "*"))
def test_allowed_on_a_resource_means_allowed_on_some_resource(statement_list: list, resource: str) -> None:
    """A need whose resource is only known at run time is granted wherever a concrete request would be, and an
    explicit Deny on every resource refuses it."""
    policies = [Policy("p", {"Statement": statement_list})]
    concrete = evaluate(Request("glue:StartJobRun", resource), policies)
    anywhere = evaluate(Request("glue:StartJobRun", "*", any_resource=True), policies)

    if concrete.allowed:
        assert anywhere.allowed
    denies_everything = any(
        s["Effect"] == "Deny" and s["Action"] in {"glue:StartJobRun", "glue:*", "*"} and "*" in s.get("Resource", [])
        for s in statement_list
    )
    assert not (anywhere.allowed and denies_everything)
