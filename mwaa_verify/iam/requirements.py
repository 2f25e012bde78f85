"""The permissions an MWAA environment's execution role needs, grouped by why it needs them.

Derived from the environment's own description (`mwaa.get_environment`): its DAG bucket and paths, the log
groups `airflow-{Name}-*` of the logging it enables, the Celery queue, the KMS key, metrics, and the secrets
backend its Airflow options name. Added to that: what the migration itself reads (the export bucket, the old
environment's task logs), what the operators in its DAGs call, and what the user declares. Each group is one
test in the IAM suite, so a failure reads "the DAG bucket: s3:GetObject on ... is denied by ...".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mwaa_verify.iam.evaluate import Decision, Policy, Request, evaluate


@dataclass(frozen=True)
class Need:
    """One action on one resource (or on whatever resource the code picks at run time: any_resource)."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    any_resource: bool = False

    def request(self) -> Request:
        return Request(self.action, self.resource, dict(self.context), any_resource=self.any_resource)

    def __str__(self) -> str:
        where = "its resources" if self.any_resource else self.resource
        via = "".join(f" ({key} = {value})" for key, value in self.context.items())
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


def decisions(
    group: RequirementGroup, policies: Iterable[Policy], boundary: Policy | None = None
) -> list[tuple[Need, Decision]]:
    """Each need of `group` with the decision the policies give it."""
    policies = list(policies)
    return [(need, evaluate(need.request(), policies, boundary=boundary)) for need in group.needs]


def shortfalls(group: RequirementGroup, policies: Iterable[Policy], boundary: Policy | None = None) -> list[Shortfall]:
    """The needs of `group` the policies do not allow, each with the statements (or absence) that decided it."""
    decided = decisions(group, policies, boundary)
    return [Shortfall(need, decision) for need, decision in decided if not decision.allowed]


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
    region: str
    account: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> EnvironmentArn:
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "airflow" or not parts[5].startswith("environment/"):
            raise ValueError(f"not an MWAA environment ARN: {arn!r}")
        return cls(region=parts[3], account=parts[4], name=parts[5].removeprefix("environment/"))

    def log_group_arn(self, group: str) -> str:
        return f"arn:aws:logs:{self.region}:{self.account}:log-group:{group}"


def environment_needs(environment: Mapping[str, Any]) -> list[RequirementGroup]:
    """What an MWAA environment needs to run at all, from `get_environment()["Environment"]`."""
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
        _bucket_needs(environment),
        *_log_needs(environment, arn),
        _queue_needs(environment, arn),
        _kms_needs(environment, arn),
    ]
    secrets = _secrets_backend_needs(environment.get("AirflowConfigurationOptions") or {}, arn)
    return [*groups, *([secrets] if secrets else [])]


def _bucket_needs(environment: Mapping[str, Any]) -> RequirementGroup:
    bucket_arn = environment["SourceBucketArn"]
    dags = environment.get("DagS3Path", "dags").strip("/")
    needs = [
        Need("s3:ListBucket", bucket_arn),
        Need("s3:GetBucketPublicAccessBlock", bucket_arn),
        Need("s3:GetAccountPublicAccessBlock", "*"),
        Need("s3:GetObject", f"{bucket_arn}/{dags}/*"),
    ]
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
    queue = environment.get("CeleryExecutorQueue") or f"arn:aws:sqs:{arn.region}:*:airflow-celery-*"
    return RequirementGroup(
        "celery-queue",
        "hand tasks to workers through the environment's Celery queue",
        tuple(Need(f"sqs:{action}", queue) for action in _QUEUE_ACTIONS),
    )


_KMS_ACTIONS = ("Decrypt", "DescribeKey", "GenerateDataKey", "Encrypt")


def _kms_needs(environment: Mapping[str, Any], arn: EnvironmentArn) -> RequirementGroup:
    key = environment.get("KmsKey")
    if key:
        key_arn = key if key.startswith("arn:") else f"arn:aws:kms:{arn.region}:{arn.account}:key/{key}"
        services = (f"sqs.{arn.region}.amazonaws.com", f"s3.{arn.region}.amazonaws.com")
        purpose = f"encrypt and decrypt with the customer managed key {key_arn}"
    else:
        # an AWS owned key: in an account not the environment's, used through SQS only
        key_arn = f"arn:aws:kms:{arn.region}:*:key/*"
        services = (f"sqs.{arn.region}.amazonaws.com",)
        purpose = "encrypt and decrypt Celery messages with the AWS owned key"
    needs = tuple(
        Need(f"kms:{action}", key_arn, {"kms:ViaService": service}) for service in services for action in _KMS_ACTIONS
    )
    return RequirementGroup("kms", purpose, needs)


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
            Need("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{arn.region}:{arn.account}:secret:{p}/*")
            for p in prefixes
        )
        return RequirementGroup("secrets-backend", "read connections and variables from Secrets Manager", needs)
    if backend.endswith(PARAMETER_STORE_BACKEND):
        needs = tuple(
            Need("ssm:GetParameter", f"arn:aws:ssm:{arn.region}:{arn.account}:parameter/{p.strip('/')}/*")
            for p in prefixes
        )
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
    target: EnvironmentArn, export_bucket: str | None, source_environment: str | None
) -> list[RequirementGroup]:
    """An import run by the new environment reads the export; a log copy reads the old environment's logs."""
    groups = []
    if export_bucket:
        bucket = export_bucket.removeprefix("s3://").split("/", 1)[0]
        groups.append(
            RequirementGroup(
                "migration-bucket",
                f"read the metadata export in s3://{bucket}",
                (Need("s3:ListBucket", f"arn:aws:s3:::{bucket}"), Need("s3:GetObject", f"arn:aws:s3:::{bucket}/*")),
            )
        )
    if source_environment:
        group_arn = target.log_group_arn(f"airflow-{source_environment}-Task")
        groups.append(
            RequirementGroup(
                "source-task-logs",
                f"copy task logs from the old environment {source_environment!r}",
                (
                    Need("logs:DescribeLogStreams", group_arn),
                    Need("logs:GetLogEvents", f"{group_arn}:log-stream:*"),
                ),
            )
        )
    return groups


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
    source_environment: str | None = None,
    declared: Iterable[tuple[str, str]] = (),
) -> list[RequirementGroup]:
    """Every group the target's role must satisfy. `target` is its MWAA description (None for Airflow that
    does not run on MWAA: then only the DAGs' and the declared needs apply); `operators` the class paths in
    its DAGs, or why they could not be read."""
    groups = environment_needs(target) if target else []
    if isinstance(operators, str):
        groups.append(RequirementGroup("operators", "run the DAGs' AWS operators", (), unavailable=operators))
    else:
        groups += operator_needs(operators)
    if target:
        groups += migration_needs(EnvironmentArn.parse(target["Arn"]), export_bucket, source_environment)
    return groups + declared_needs(declared)
