"""The permissions an MWAA environment's execution role needs, grouped by why it needs them.

Derived from the environment's own description (`mwaa.get_environment`): its DAG bucket and paths, the log
groups `airflow-{Name}-*` of the logging it enables, the Celery queue, the KMS key, metrics, and the secrets
backend its Airflow options name. Added to that: what the migration itself reads (the export bucket, the old
environment's task logs), what the operators in its DAGs call, and what the user declares. Each group is one
test in the IAM suite, so a failure reads "the DAG bucket: s3:GetObject on ... is denied by ...".
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mwaa_verify.iam.evaluate import Decision, Policy, Request, evaluate


@dataclass(frozen=True)
class Need:
    """One action on one resource (or on whatever resource the code picks at run time: any_resource)."""

    action: str
    resource: str
    context: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    any_resource: bool = False
    # why the need may not apply: when set, a role without it gets a warning that says so, not a failure
    advisory: str | None = None

    def requests(self, principal: str | None = None) -> list[Request]:
        """The request, once per spelling where a context value has alternatives (a tuple: AWS China's
        `.amazonaws.com.cn` service names next to the guide's `.amazonaws.com`); any of them allowed suffices."""
        # what AWS puts in every request of the role: TLS (MWAA's clients use it), and who the principal is
        extra: dict[str, str] = {"aws:SecureTransport": "true"}
        if principal:
            extra.update({"aws:PrincipalArn": principal, "aws:PrincipalAccount": principal.split(":")[4]})
        keys = list(self.context)
        choices = [value if isinstance(value, tuple) else (value,) for value in self.context.values()]
        return [
            Request(self.action, self.resource, {**dict(zip(keys, chosen, strict=True)), **extra},
                    principal=principal, any_resource=self.any_resource)
            for chosen in itertools.product(*choices)
        ]  # fmt: skip

    def request(self, principal: str | None = None) -> Request:
        return self.requests(principal)[0]

    def __str__(self) -> str:
        where = "its resources" if self.any_resource else self.resource
        via = "".join(
            f" ({key} = {' or '.join(value) if isinstance(value, tuple) else value})"
            for key, value in self.context.items()
        )
        return f"{self.action} on {where}{via}"


@dataclass(frozen=True)
class RequirementGroup:
    id: str  # the test id: "dag-bucket", "task-logs", "operator-GlueJobOperator", ...
    purpose: str  # why the environment needs it, in a user's words
    needs: tuple[Need, ...]
    # why the needs could not be derived (e.g. the DAGs could not be read), which is itself a failure
    unavailable: str | None = None


@dataclass(frozen=True)
class Shortfall:
    need: Need
    decision: Decision

    def __str__(self) -> str:
        return f"{self.need}: {self.decision}"


@dataclass(frozen=True)
class Surroundings:
    """What decides a request besides the role's own policies: the organization's SCPs (one policy per level,
    from the account up to the root: each level must allow), the resource policies of the DAG bucket and of a
    customer managed key, and the role's ARN (the principal those resource policies name)."""

    principal: str | None = None
    scps: tuple[Policy, ...] = ()
    bucket_policies: Mapping[str, Policy] = field(default_factory=dict)  # bucket ARN -> its policy
    key_policies: Mapping[str, Policy] = field(default_factory=dict)  # key ARN -> its key policy

    def resource_policy(self, resource: str) -> Policy | None:
        """The resource policy that governs `resource`: its key's policy, or its bucket's."""
        if resource in self.key_policies:
            return self.key_policies[resource]
        return next((policy for arn, policy in self.bucket_policies.items() if resource.split("/")[0] == arn), None)


NOTHING_AROUND = Surroundings()


def decide(need: Need, policies: Sequence[Policy], boundary: Policy | None, around: Surroundings) -> Decision:
    """The decision for one need: the role's policies and boundary, the SCPs, and the resource policy that
    governs the need's resource (a bucket policy for the bucket and its objects, a key policy for the key)."""
    resource_policy = around.resource_policy(need.resource)
    decided = []
    for request in need.requests(around.principal):
        if need.resource in around.key_policies:
            decision = _key_decision(request, policies, boundary, around, around.key_policies[need.resource])
        else:
            decision = evaluate(request, policies, boundary, around.scps, resource_policy)
        if decision.allowed:
            return decision
        decided.append(decision)
    return decided[0]


def _key_decision(
    request: Request, policies: Sequence[Policy], boundary: Policy | None, around: Surroundings, key_policy: Policy
) -> Decision:
    """KMS: IAM policies count only where the key policy lets the account's IAM grant access (a statement for
    the account's root); otherwise the key policy itself must name the role."""
    arn = request.resource.split(":")
    root = f"arn:{arn[1]}:iam::{arn[4]}:root" if len(arn) > 4 else None
    delegated = root is not None and evaluate(replace(request, principal=root), [], resource_policy=key_policy).allowed
    if delegated:
        return evaluate(request, policies, boundary, around.scps, key_policy)
    decision = evaluate(request, [], boundary, around.scps, key_policy)
    if decision.allowed or decision.reason == "explicit deny":
        return decision
    return Decision(
        False,
        f"not allowed by the key policy: it neither names the role nor lets IAM policies grant access "
        f"(no statement allows {root})",
    )


def decisions(
    group: RequirementGroup,
    policies: Iterable[Policy],
    boundary: Policy | None = None,
    around: Surroundings = NOTHING_AROUND,
) -> list[tuple[Need, Decision]]:
    """Each need of `group` with the decision the policies give it."""
    policies = list(policies)
    return [(need, decide(need, policies, boundary, around)) for need in group.needs]


def shortfalls(
    group: RequirementGroup,
    policies: Iterable[Policy],
    boundary: Policy | None = None,
    around: Surroundings = NOTHING_AROUND,
) -> list[Shortfall]:
    """The needs of `group` the policies do not allow, each with the statements (or absence) that decided it.
    Advisory needs (Need.advisory) are not among them: see advisories()."""
    decided = decisions(group, policies, boundary, around)
    return [Shortfall(need, decision) for need, decision in decided if not decision.allowed and not need.advisory]


def advisories(
    group: RequirementGroup,
    policies: Iterable[Policy],
    boundary: Policy | None = None,
    around: Surroundings = NOTHING_AROUND,
) -> list[Shortfall]:
    """The needs of `group` that may not apply and that the policies do not allow: warnings, not failures."""
    decided = decisions(group, policies, boundary, around)
    return [Shortfall(need, decision) for need, decision in decided if not decision.allowed and need.advisory]


# -- the environment's own needs ---------------------------------------------------------------------------

# LoggingConfiguration module -> the suffix of its log group `airflow-{Name}-{suffix}`
LOG_MODULES = {
    "DagProcessingLogs": "DAGProcessing",
    "SchedulerLogs": "Scheduler",
    "TaskLogs": "Task",
    "WebserverLogs": "WebServer",
    "WorkerLogs": "Worker",
}
SECRETS_MANAGER_BACKEND = "SecretsManagerBackend"
PARAMETER_STORE_BACKEND = "SystemsManagerParameterStoreBackend"
_DEFAULT_SECRET_PREFIXES = {"connections_prefix": "airflow/connections", "variables_prefix": "airflow/variables"}


@dataclass(frozen=True)
class EnvironmentArn:
    """An environment's ARN, whose partition (aws, aws-cn, aws-us-gov), region and account every other ARN
    the environment needs is built from."""

    region: str
    account: str
    name: str
    partition: str = "aws"

    @classmethod
    def parse(cls, arn: str) -> EnvironmentArn:
        parts = arn.split(":", 5)
        if (
            len(parts) != 6
            or parts[0] != "arn"
            or not parts[1].startswith("aws")
            or parts[2] != "airflow"
            or not parts[5].startswith("environment/")
        ):
            raise ValueError(f"not an MWAA environment ARN: {arn!r}")
        name = parts[5].removeprefix("environment/")
        return cls(region=parts[3], account=parts[4], name=name, partition=parts[1])

    def arn(self, service: str, resource: str, region: str | None = None, account: str | None = None) -> str:
        """An ARN in this environment's partition (its region and account unless told otherwise)."""
        region = self.region if region is None else region
        account = self.account if account is None else account
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"

    def log_group_arn(self, group: str) -> str:
        return self.arn("logs", f"log-group:{group}")

    def service_endpoint(self, service: str) -> str | tuple[str, ...]:
        """A service's regional name as kms:ViaService gives it; in AWS China both `.amazonaws.com.cn` and
        the MWAA guide's `.amazonaws.com` spelling are accepted."""
        name = f"{service}.{self.region}.amazonaws.com"
        return (name, f"{name}.cn") if self.partition == "aws-cn" else name

    def bucket_arn(self, bucket: str) -> str:
        return f"arn:{self.partition}:s3:::{bucket}"


def bucket_name(bucket_arn: str) -> str:
    """`arn:<partition>:s3:::name` -> `name` (a bare name stays as it is)."""
    return bucket_arn.split(":::", 1)[1] if bucket_arn.startswith("arn:") else bucket_arn


@dataclass(frozen=True)
class AccountSetting:
    """A yes/no setting of the account that decides whether a need applies, or why it could not be read."""

    value: bool | None
    unread_because: str = ""


UNREAD = AccountSetting(None, "it was not read")


def environment_needs(
    environment: Mapping[str, Any], blocks_public_access: AccountSetting = UNREAD
) -> list[RequirementGroup]:
    """What an MWAA environment needs to run at all, from `get_environment()["Environment"]`.
    `blocks_public_access`: the account's S3 Block Public Access setting (s3control GetPublicAccessBlock),
    which decides whether the role must be able to read it."""
    arn = EnvironmentArn.parse(environment["Arn"])
    groups = [
        RequirementGroup(
            "metrics",
            "publish Airflow and environment metrics to CloudWatch",
            (
                Need("airflow:PublishMetrics", environment["Arn"]),
                Need("cloudwatch:PutMetricData", "*"),
            ),
        ),
        _bucket_needs(environment, blocks_public_access),
        *_log_needs(environment, arn),
        _queue_needs(environment, arn),
        _kms_needs(environment, arn),
    ]
    secrets = _secrets_backend_needs(environment.get("AirflowConfigurationOptions") or {}, arn)
    return [*groups, *([secrets] if secrets else [])]


def _bucket_needs(environment: Mapping[str, Any], blocks_public_access: AccountSetting) -> RequirementGroup:
    bucket_arn = environment["SourceBucketArn"]
    dags = environment.get("DagS3Path", "dags").strip("/")
    needs = [
        Need("s3:ListBucket", bucket_arn),
        Need("s3:GetBucketPublicAccessBlock", bucket_arn),
        Need("s3:GetObject", f"{bucket_arn}/{dags}/*"),
    ]
    # MWAA reads the account's Block Public Access setting only where the account has one (AWS's own
    # CloudFormation sample role cannot read it); unknown, a role without it is a warning
    if blocks_public_access.value is None:
        advisory = (
            f"needed only if the account blocks public access, and the account's setting could not be read "
            f"({blocks_public_access.unread_because})"
        )
        needs.insert(2, Need("s3:GetAccountPublicAccessBlock", "*", advisory=advisory))
    elif blocks_public_access.value:
        needs.insert(2, Need("s3:GetAccountPublicAccessBlock", "*"))
    for key, version in (
        ("PluginsS3Path", "PluginsS3ObjectVersion"),
        ("RequirementsS3Path", "RequirementsS3ObjectVersion"),
        ("StartupScriptS3Path", "StartupScriptS3ObjectVersion"),
    ):
        if environment.get(key):
            resource = f"{bucket_arn}/{environment[key].lstrip('/')}"
            needs.append(Need("s3:GetObject", resource))
            if environment.get(version):
                needs.append(Need("s3:GetObjectVersion", resource))
    return RequirementGroup("dag-bucket", f"read DAGs, plugins and requirements from {bucket_arn}", tuple(needs))


def _log_groups(environment: Mapping[str, Any], arn: EnvironmentArn) -> dict[str, str]:
    """Enabled logging module -> its log group ARN (as MWAA reports it, or as MWAA names it)."""
    found = {}
    for module, logging in (environment.get("LoggingConfiguration") or {}).items():
        if module not in LOG_MODULES or not logging.get("Enabled"):
            continue
        reported = logging.get("CloudWatchLogGroupArn")
        found[module] = (
            reported.removesuffix(":*") if reported else arn.log_group_arn(f"airflow-{arn.name}-{LOG_MODULES[module]}")
        )
    return found


def _log_needs(environment: Mapping[str, Any], arn: EnvironmentArn) -> list[RequirementGroup]:
    groups = []
    for module, group_arn in _log_groups(environment, arn).items():
        stream = f"{group_arn}:log-stream:*"
        needs = (
            Need("logs:CreateLogGroup", group_arn),
            Need("logs:CreateLogStream", stream),
            Need("logs:PutLogEvents", stream),
            Need("logs:GetLogEvents", stream),
            Need("logs:DescribeLogGroups", arn.log_group_arn("*")),
        )
        suffix = LOG_MODULES[module]
        purpose = f"write {suffix} logs to {group_arn.rsplit(':', 1)[-1]}"
        groups.append(RequirementGroup(f"logs-{suffix}", purpose, needs))
    return groups


_QUEUE_ACTIONS = ("ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes", "GetQueueUrl",
                  "ReceiveMessage", "SendMessage")  # fmt: skip


def _queue_needs(environment: Mapping[str, Any], arn: EnvironmentArn) -> RequirementGroup:
    # the queue lives in an account of AWS's own; its name is all the role can rely on
    queue = environment.get("CeleryExecutorQueue") or arn.arn("sqs", "airflow-celery-*", account="*")
    return RequirementGroup(
        "celery-queue",
        "hand tasks to workers through the environment's Celery queue",
        tuple(Need(f"sqs:{action}", queue) for action in _QUEUE_ACTIONS),
    )


_KMS_ACTIONS = ("Decrypt", "DescribeKey", "GenerateDataKey", "Encrypt")


def _kms_needs(environment: Mapping[str, Any], arn: EnvironmentArn) -> RequirementGroup:
    key = environment.get("KmsKey")
    if key:
        key_arn = key_arn_of(key, arn)
        services = (arn.service_endpoint("sqs"), arn.service_endpoint("s3"))
        purpose = f"encrypt and decrypt with the customer managed key {key_arn}"
    else:
        # an AWS owned key: in an account not the environment's, used through SQS only
        key_arn = arn.arn("kms", "key/*", account="*")
        services = (arn.service_endpoint("sqs"),)
        purpose = "encrypt and decrypt Celery messages with the AWS owned key"
    needs = tuple(
        Need(f"kms:{action}", key_arn, {"kms:ViaService": service}) for service in services for action in _KMS_ACTIONS
    )
    return RequirementGroup("kms", purpose, needs)


def key_arn_of(key: str, arn: EnvironmentArn) -> str:
    """The ARN of a KmsKey as MWAA reports it (an ARN, or a key id in the environment's account)."""
    return key if key.startswith("arn:") else arn.arn("kms", f"key/{key}")


# what CloudWatch Logs does with a key that encrypts a log group (the MWAA guide's key policy statement
# allows kms:Encrypt*, Decrypt*, ReEncrypt*, GenerateDataKey* and Describe*)
LOGS_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey",
                    "kms:DescribeKey")  # fmt: skip
LOGS_CONTEXT_KEY = "kms:EncryptionContext:aws:logs:arn"


def key_policy_shortfalls(environment: Mapping[str, Any], key_policy: Policy) -> list[Shortfall]:
    """What the customer managed key's policy does not let CloudWatch Logs (logs.<region>.amazonaws.com) do
    with the key for each of the environment's log groups: without it, MWAA cannot write its logs."""
    arn = EnvironmentArn.parse(environment["Arn"])
    key_arn = key_arn_of(environment["KmsKey"], arn)
    # the guide names the principal logs.<region>.amazonaws.com; in China either spelling is accepted
    logs = arn.service_endpoint("logs")
    principals = logs if isinstance(logs, tuple) else (logs,)
    found = []
    for group_arn in _log_groups(environment, arn).values():
        for action in LOGS_KEY_ACTIONS:
            for principal in principals:
                request = Request(action, key_arn, {LOGS_CONTEXT_KEY: group_arn}, principal=principal)
                decision = evaluate(request, [], resource_policy=key_policy)
                if decision.allowed:
                    break
            if not decision.allowed:
                found.append(Shortfall(Need(action, key_arn, {LOGS_CONTEXT_KEY: group_arn}), decision))
    return found


def _secrets_backend_needs(options: Mapping[str, str], arn: EnvironmentArn) -> RequirementGroup | None:
    backend = options.get("secrets.backend", "")
    if not backend:
        return None
    try:
        kwargs = json.loads(options.get("secrets.backend_kwargs") or "{}")
    except json.JSONDecodeError:
        kwargs = {}
    prefixes = [
        kwargs.get(key, default) for key, default in _DEFAULT_SECRET_PREFIXES.items() if kwargs.get(key, default)
    ]
    if kwargs.get("config_prefix"):
        prefixes.append(kwargs["config_prefix"])
    if backend.endswith(SECRETS_MANAGER_BACKEND):
        needs = tuple(
            Need("secretsmanager:GetSecretValue", arn.arn("secretsmanager", f"secret:{p}/*")) for p in prefixes
        )
        return RequirementGroup("secrets-backend", "read connections and variables from Secrets Manager", needs)
    if backend.endswith(PARAMETER_STORE_BACKEND):
        needs = tuple(Need("ssm:GetParameter", arn.arn("ssm", f"parameter/{p.strip('/')}/*")) for p in prefixes)
        return RequirementGroup("secrets-backend", "read connections and variables from Parameter Store", needs)
    return None


# MWAA's services assume the execution role (the trust policy the MWAA User Guide gives)
MWAA_PRINCIPALS = ("airflow.amazonaws.com", "airflow-env.amazonaws.com")


def trust_shortfalls(role_arn: str, trust_policy: Policy) -> list[Shortfall]:
    """The MWAA services the role's trust policy does not let assume it."""
    found = []
    for service in MWAA_PRINCIPALS:
        need = Need("sts:AssumeRole", role_arn)
        request = Request(need.action, need.resource, principal=service)
        decision = evaluate(request, [], resource_policy=trust_policy)
        if not decision.allowed:
            found.append(Shortfall(Need("sts:AssumeRole", f"{role_arn} by {service}"), decision))
    return found


# -- what the migration reads --------------------------------------------------------------------------------


def migration_needs(
    target: EnvironmentArn, export_bucket: str | None, source: Mapping[str, Any] | None
) -> list[RequirementGroup]:
    """An import run by the new environment reads the export; a log copy run inside the new environment
    (`[verify] logs_copied_by = "environment"`: `source` is the old environment's description) reads the old
    environment's task logs. A copy by `mwaa-verify copy-logs` reads them with the caller's credentials and is
    checked as the caller's before it copies."""
    groups = []
    if export_bucket:
        bucket = export_bucket.removeprefix("s3://").split("/", 1)[0]
        groups.append(
            RequirementGroup(
                "migration-bucket",
                f"read the metadata export in s3://{bucket}",
                (
                    Need("s3:ListBucket", target.bucket_arn(bucket)),
                    Need("s3:GetObject", f"{target.bucket_arn(bucket)}/*"),
                ),
            )
        )
    if source:
        groups.append(
            RequirementGroup(
                "source-task-logs",
                f"copy task logs from the old environment {source['Name']!r}",
                source_task_log_reads(source),
            )
        )
    return groups


def source_task_log_group_arn(source: Mapping[str, Any]) -> str:
    """The old environment's task log group, as MWAA reports it or as MWAA names it (in its own partition,
    region and account)."""
    arn = EnvironmentArn.parse(source["Arn"])
    reported = ((source.get("LoggingConfiguration") or {}).get("TaskLogs") or {}).get("CloudWatchLogGroupArn")
    return reported.removesuffix(":*") if reported else arn.log_group_arn(f"airflow-{arn.name}-Task")


def source_task_log_reads(source: Mapping[str, Any]) -> tuple[Need, ...]:
    """What copying the old environment's task logs reads: its streams, and their events."""
    group_arn = source_task_log_group_arn(source)
    return (
        Need("logs:DescribeLogStreams", group_arn),
        Need("logs:FilterLogEvents", group_arn),
        Need("logs:GetLogEvents", f"{group_arn}:log-stream:*"),
    )


# -- what the DAGs' operators call ---------------------------------------------------------------------------

# operator class name -> the actions it calls with the environment's credentials (Amazon provider)
OPERATOR_ACTIONS: dict[str, tuple[str, ...]] = {
    "EmrCreateJobFlowOperator": ("elasticmapreduce:RunJobFlow", "elasticmapreduce:DescribeCluster", "iam:PassRole"),
    "EmrAddStepsOperator": ("elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:DescribeStep"),
    "EmrStepSensor": ("elasticmapreduce:DescribeStep",),
    "EmrJobFlowSensor": ("elasticmapreduce:DescribeCluster",),
    "EmrTerminateJobFlowOperator": ("elasticmapreduce:TerminateJobFlows",),
    "EmrServerlessStartJobOperator": ("emr-serverless:StartJobRun", "emr-serverless:GetJobRun", "iam:PassRole"),
    "GlueJobOperator": ("glue:StartJobRun", "glue:GetJobRun", "glue:GetJob"),
    "GlueJobSensor": ("glue:GetJobRun",),
    "GlueCrawlerOperator": ("glue:StartCrawler", "glue:GetCrawler"),
    "AthenaOperator": ("athena:StartQueryExecution", "athena:GetQueryExecution"),
    "RedshiftDataOperator": ("redshift-data:ExecuteStatement", "redshift-data:DescribeStatement",
                             "redshift-data:GetStatementResult"),
    "RedshiftSQLOperator": ("redshift:GetClusterCredentials",),
    "S3CopyObjectOperator": ("s3:GetObject", "s3:PutObject"),
    "S3CreateObjectOperator": ("s3:PutObject",),
    "S3DeleteObjectsOperator": ("s3:DeleteObject", "s3:ListBucket"),
    "S3KeySensor": ("s3:GetObject", "s3:ListBucket"),
    "S3ListOperator": ("s3:ListBucket",),
    "LambdaInvokeFunctionOperator": ("lambda:InvokeFunction",),
    "EcsRunTaskOperator": ("ecs:RunTask", "ecs:DescribeTasks", "iam:PassRole"),
    "BatchOperator": ("batch:SubmitJob", "batch:DescribeJobs"),
    "SageMakerTrainingOperator": ("sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "iam:PassRole"),
    "StepFunctionStartExecutionOperator": ("states:StartExecution",),
    "SqsPublishOperator": ("sqs:SendMessage",),
    "SnsPublishOperator": ("sns:Publish",),
    "DynamoDBToS3Operator": ("dynamodb:Scan", "s3:PutObject"),
}  # fmt: skip


def operator_needs(operators: Iterable[str]) -> list[RequirementGroup]:
    """One group per AWS operator the DAGs use (class paths as the DAG report gives them)."""
    names = sorted({operator.rsplit(".", 1)[-1] for operator in operators} & OPERATOR_ACTIONS.keys())
    return [
        RequirementGroup(
            f"operator-{name}",
            f"run the DAGs' {name} tasks",
            tuple(Need(action, "*", any_resource=True) for action in OPERATOR_ACTIONS[name]),
        )
        for name in names
    ]


def declared_needs(entries: Iterable[tuple[str, str]]) -> list[RequirementGroup]:
    """What the user declares in [verify] required_permissions: (action, resource) pairs."""
    needs = tuple(Need(action, resource) for action, resource in entries)
    return [RequirementGroup("declared", "the permissions declared in mwaa-verify.toml", needs)] if needs else []


def required_groups(
    target: Mapping[str, Any] | None,
    operators: Iterable[str] | str,
    export_bucket: str | None = None,
    source_copied_from: Mapping[str, Any] | None = None,
    declared: Iterable[tuple[str, str]] = (),
    blocks_public_access: AccountSetting = UNREAD,
) -> list[RequirementGroup]:
    """Every group the target's role must satisfy. `target` is its MWAA description (None for Airflow that
    does not run on MWAA: then only the DAGs' and the declared needs apply); `operators` the class paths in
    its DAGs, or why they could not be read; `source_copied_from` the old MWAA environment's description when
    the target's own role copies its task logs."""
    groups = environment_needs(target, blocks_public_access) if target else []
    if isinstance(operators, str):
        groups.append(RequirementGroup("operators", "run the DAGs' AWS operators", (), unavailable=operators))
    else:
        groups += operator_needs(operators)
    if target:
        groups += migration_needs(EnvironmentArn.parse(target["Arn"]), export_bucket, source_copied_from)
    return groups + declared_needs(declared)
