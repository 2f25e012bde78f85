"""The `mwaa` kind as a user configures it, against AWS on 127.0.0.1: moto for S3, IAM and CloudWatch Logs, the
MWAA double (boto3's wire format) for the environment and its REST API."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_double import REGION, AwsDouble, ScriptedRestApi, describe
from mwaa_policies import documented_policy, trust_policy

from conftest import junit_outcomes
from mwaa_verify.config import MwaaConfig, load_config
from mwaa_verify.environments import open_environment
from mwaa_verify.environments.mwaa import MwaaEnvironment, rest_schedule
from mwaa_verify.errors import ConfigError, EnvironmentStartError, MetadataError, ProbeError


def client(aws: AwsDouble, service: str) -> Any:
    return boto3.client(service, endpoint_url=aws.url, region_name=REGION)


def create_role(
    aws: AwsDouble,
    name: str,
    inline: dict[str, Any],
    attached: dict[str, Any] | None = None,
    boundary: dict[str, Any] | None = None,
) -> str:
    iam = client(aws, "iam")
    trust = trust_policy("airflow.amazonaws.com")
    arguments: dict[str, Any] = {"RoleName": name, "Path": "/service-role/"}
    arguments["AssumeRolePolicyDocument"] = json.dumps(trust)
    if boundary is not None:
        arn = iam.create_policy(PolicyName=f"{name}-boundary", PolicyDocument=json.dumps(boundary))["Policy"]["Arn"]
        arguments["PermissionsBoundary"] = arn
    role_arn = iam.create_role(**arguments)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="execution", PolicyDocument=json.dumps(inline))
    if attached is not None:
        arn = iam.create_policy(PolicyName=f"{name}-extra", PolicyDocument=json.dumps(attached))["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    return role_arn


def create_environment(aws: AwsDouble, name: str, files: dict[str, bytes], **fields: Any) -> dict[str, Any]:
    bucket = f"{name}-bucket".lower()
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    for key, content in files.items():
        s3.put_object(Bucket=bucket, Key=key, Body=content)
    description = describe(name, role=f"{name}-role", bucket=bucket, **fields)
    aws.mwaa.environments[name] = description
    return description


def config_file(tmp_path: Path, aws: AwsDouble, **environments: str) -> Path:
    lines = []
    for key, environment_name in environments.items():
        lines += [
            f"[environments.{key}]",
            'kind = "mwaa"',
            f'environment_name = "{environment_name}"',
            f'region = "{REGION}"',
            f'endpoint_url = "{aws.url}"',
            "",
        ]
    path = tmp_path / "mwaa-verify.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def opened(tmp_path: Path, aws: AwsDouble, environment_name: str) -> MwaaEnvironment:
    config = load_config(config_file(tmp_path, aws, prod=environment_name))
    environment = open_environment(config.environment("prod"), config)
    assert isinstance(environment, MwaaEnvironment)
    return environment


PARITY_SUITE = Path(__file__).resolve().parent.parent / "suites" / "test_metadata_parity.py"
REQUIREMENTS = b"# pinned\n--constraint https://example.invalid/c.txt\napache-airflow-providers-amazon\n"


def plugins_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hooks/my_hook.py", "x = 1\n")
        archive.writestr("README.txt", "not a plugin\n")
    return buffer.getvalue()


def test_info_comes_from_get_environment_and_the_bucket(aws: AwsDouble, tmp_path: Path) -> None:
    files = {
        "dags/etl.py": b"# a dag\n",
        "dags/sub/more.py": b"# another\n",
        "plugins.zip": plugins_zip(),
        "requirements.txt": REQUIREMENTS,
    }
    create_environment(
        aws,
        "info-env",
        files,
        AirflowVersion="2.10.3",
        PluginsS3Path="plugins.zip",
        RequirementsS3Path="requirements.txt",
        AirflowConfigurationOptions={"core.dag_file_processor_timeout": "150"},
    )

    with opened(tmp_path, aws, "info-env") as environment:
        info = environment.info()
        dags = environment.dags_path()

        assert (info.kind, info.airflow_version, info.python_version) == ("mwaa", "2.10.3", "3.11")
        assert info.config_options == {"core.dag_file_processor_timeout": "150"}
        assert info.explicit_options == frozenset({"core.dag_file_processor_timeout"})
        assert info.requirements == ("--constraint https://example.invalid/c.txt", "apache-airflow-providers-amazon")
        assert environment.requirements_file().read_bytes() == REQUIREMENTS
        assert info.plugins == ("hooks/my_hook.py",)
        assert sorted(p.relative_to(dags).as_posix() for p in dags.rglob("*.py")) == ["etl.py", "sub/more.py"]
        assert environment.platform_settings()["mwaa.EnvironmentClass"] == "mw1.small"
    assert not dags.exists()  # the copy goes with the environment


def test_secret_options_are_compared_by_digest_and_never_shown(aws: AwsDouble, tmp_path: Path) -> None:
    options = {"smtp.smtp_password": "hunter2-do-not-print", "core.parallelism": "32"}
    create_environment(aws, "secret-a", {}, AirflowConfigurationOptions=options)
    create_environment(aws, "secret-b", {}, AirflowConfigurationOptions=options)
    create_environment(aws, "secret-c", {}, AirflowConfigurationOptions={**options, "smtp.smtp_password": "other"})

    infos = []
    for name in ("secret-a", "secret-b", "secret-c"):
        with opened(tmp_path, aws, name) as environment:
            infos.append(environment.info().config_options)

    a, b, c = (info["smtp.smtp_password"] for info in infos)
    assert a == b != c and a.startswith("<redacted ")
    assert infos[0]["core.parallelism"] == "32"
    assert "hunter2" not in repr(infos)


def test_execution_role_is_read_with_inline_attached_and_boundary(aws: AwsDouble, tmp_path: Path) -> None:
    create_environment(aws, "role-env", {})
    extra = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Glue", "Effect": "Allow", "Action": "glue:*", "Resource": "*"}],
    }
    boundary = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    role_arn = create_role(aws, "role-env-role", documented_policy("role-env", "role-env-bucket"), extra, boundary)

    with opened(tmp_path, aws, "role-env") as environment:
        role = environment.execution_role()

    assert (role.name, role.arn) == ("role-env-role", role_arn)
    names = [policy.name for policy in role.policies]
    assert names == ["inline policy execution", "managed policy role-env-role-extra"]
    assert role.policies[0].document == documented_policy("role-env", "role-env-bucket")
    assert role.permissions_boundary is not None and role.permissions_boundary.document == boundary
    assert role.trust_policy is not None and role.trust_policy.document == trust_policy("airflow.amazonaws.com")


def test_unknown_environment_names_the_name_and_region(aws: AwsDouble, tmp_path: Path) -> None:
    environment = opened(tmp_path, aws, "nowhere")

    with pytest.raises(EnvironmentStartError) as raised:
        environment.start()

    assert str(raised.value) == (
        f"environment 'prod': no MWAA environment named 'nowhere' in {REGION}; check environment_name and region "
        f"in the configuration"
    )


def test_missing_credentials_say_how_to_configure_them(
    aws: AwsDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    with pytest.raises(EnvironmentStartError) as raised:
        opened(tmp_path, aws, "anything").start()

    assert "Unable to locate credentials; configure credentials (AWS_PROFILE" in str(raised.value)


def test_bad_mwaa_settings_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "mwaa-verify.toml"
    path.write_text('[environments.prod]\nkind = "mwaa"\nenvironment_name = "9lives"\n', encoding="utf-8")

    with pytest.raises(ConfigError, match=r"environment_name: Name '9lives' is not valid for MWAA: it must match"):
        load_config(path)


def test_task_logs_come_from_the_task_log_group(aws: AwsDouble, tmp_path: Path) -> None:
    create_environment(aws, "logs-env", {})
    name = "dag_id=etl/run_id=manual__1/task_id=load/attempt=1.log"

    with opened(tmp_path, aws, "logs-env") as environment:
        environment.write_task_log(name, b"line one\nline two\n")
        logs = list(environment.task_logs())
        content = environment.read_task_log(logs[0])

    assert [(log.dag_id, log.task_id, log.try_number, log.lines) for log in logs] == [("etl", "load", 1, 2)]
    assert content == b"line one\nline two\n"
    streams = client(aws, "logs").describe_log_streams(logGroupName="airflow-logs-env-Task")["logStreams"]
    assert [stream["logStreamName"] for stream in streams] == [name]


def test_metadata_without_a_staging_location_names_the_setting(aws: AwsDouble, tmp_path: Path) -> None:
    create_environment(aws, "meta-env", {})

    with opened(tmp_path, aws, "meta-env") as environment, pytest.raises(MetadataError, match="set staging = "):
        environment.tables()


def test_rest_api_is_paged_by_100_and_retried_when_throttled(aws: AwsDouble, tmp_path: Path) -> None:
    create_environment(aws, "rest-env", {}, AirflowVersion="2.10.3")
    api = ScriptedRestApi(230)
    aws.mwaa.rest_backends["rest-env"] = api
    waits: list[float] = []

    with opened(tmp_path, aws, "rest-env") as environment:
        environment._sleep = waits.append
        aws.mwaa.throttle_next = 4
        dag_ids = [dag["dag_id"] for dag in environment.rest_pages("/dags", "dags")]

    assert dag_ids == [f"dag_{i:03d}" for i in range(230)]
    assert [(q["offset"], q["limit"]) for path, q in api.requests if path == "/dags"] == [
        (0, 100),
        (100, 100),
        (200, 100),
    ]
    # botocore makes three attempts per call (standard mode); when all three are throttled, we wait and call again
    assert waits == [0.5]


def test_dag_report_reads_what_the_dag_processor_made(aws: AwsDouble, tmp_path: Path) -> None:
    create_environment(
        aws, "report-env", {"dags/dag_000.py": b"# a dag\n", "dags/broken.py": b"# broken\n"}, AirflowVersion="2.10.3"
    )
    api = ScriptedRestApi(1)
    aws.mwaa.rest_backends["report-env"] = lambda m, p, q, b: (
        (
            200,
            {
                "import_errors": [
                    {
                        "filename": "/usr/local/airflow/dags/broken.py",
                        "stack_trace": "Traceback...\nImportError: no module named x",
                    }
                ],
                "total_entries": 1,
            },
        )
        if p == "/importErrors"
        else api(m, p, q, b)
    )

    with opened(tmp_path, aws, "report-env") as environment:
        report = environment.dag_report()

    assert report.import_errors == {"broken.py": "Traceback...\nImportError: no module named x"}
    assert [(f.path, f.dag_ids, f.parse_seconds) for f in report.files] == [
        ("broken.py", (), None),
        ("dag_000.py", ("dag_000",), None),
    ]
    shape = report.dags["dag_000"]
    assert (shape.task_ids, shape.operators, shape.retries, shape.catchup) == (
        ("only",),
        {"only": "airflow.operators.empty.EmptyOperator"},
        {"only": 1},
        True,
    )
    assert (shape.schedule["kind"], shape.schedule["expression"]) == ("cron", "0 0 * * *")


def test_rest_api_errors_name_the_path_and_status(aws: AwsDouble, tmp_path: Path) -> None:
    create_environment(aws, "error-env", {})
    aws.mwaa.rest_backends["error-env"] = lambda m, p, q, b: (403, {"detail": "Forbidden"})

    with opened(tmp_path, aws, "error-env") as environment, pytest.raises(ProbeError) as raised:
        environment.rest("/dags")

    assert str(raised.value).startswith(
        "environment 'prod': Airflow REST API GET /dags failed with HTTP 403: Forbidden; the caller needs"
    )


@pytest.mark.parametrize(
    ("dag", "expected"),
    [
        ({"schedule_interval": None}, ("none", None)),
        (
            {"schedule_interval": {"__type": "TimeDelta", "days": 1, "seconds": 0, "microseconds": 0}},
            ("delta", 86400.0),
        ),
        ({"schedule_interval": {"__type": "CronExpression", "value": "@once"}}, ("once", None)),
        ({"schedule_interval": None, "timetable_description": "Triggered by datasets"}, ("asset", None)),
        ({"timetable_summary": "*/5 * * * *"}, ("cron", "*/5 * * * *")),
        ({"timetable_summary": None}, ("none", None)),
        ({"timetable_summary": "Asset"}, ("asset", None)),
    ],
)
def test_rest_schedules_are_normalised_like_the_probe(dag: dict, expected: tuple) -> None:
    schedule = rest_schedule(dag)

    assert (schedule["kind"], schedule["expression"]) == expected


def test_unknown_profile_says_where_profiles_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    environment = MwaaEnvironment(MwaaConfig("prod", "prod-3", region=REGION, profile="migration"))

    with pytest.raises(EnvironmentStartError) as raised:
        environment.start()

    assert str(raised.value) == (
        "environment 'prod': cannot set up AWS access for mwaa: The config profile (migration) could not be found; "
        "define the profile in ~/.aws/config, or fix 'profile' in mwaa-verify.toml"
    )


def test_metadata_parity_on_an_mwaa_environment_without_staging_says_what_to_set(
    pytester: pytest.Pytester, aws: AwsDouble
) -> None:
    create_environment(aws, "parity-env", {})
    config_file(pytester.path, aws, prod="parity-env")
    report = pytester.path / "junit.xml"

    pytester.runpytest_subprocess(
        str(PARITY_SUITE), "--source", "prod", "--target", "prod",
        f"--junitxml={report}", "-k", "variable or every_source_dag",
    )  # fmt: skip

    outcomes = junit_outcomes(report)
    assert sorted(outcomes) == ["test_every_source_dag_is_on_the_target", "test_table_rows_match[variable]"]
    for text in outcomes.values():
        assert text is not None and text.startswith(
            "Failed: cannot read what this check needs: environment 'prod' (kind 'mwaa'): its metadata is read "
            'through an agent DAG that exports it to S3; set staging = "s3://bucket/prefix"'
        )
        assert "Traceback" not in text


def test_plugins_that_are_not_a_zip_name_the_object(aws: AwsDouble, tmp_path: Path) -> None:
    create_environment(aws, "badzip-env", {"plugins.zip": b"not a zip"}, PluginsS3Path="plugins.zip")

    with opened(tmp_path, aws, "badzip-env") as environment, pytest.raises(EnvironmentStartError) as raised:
        environment.plugins_path()

    assert str(raised.value) == (
        "environment 'prod': s3://badzip-env-bucket/plugins.zip is not a zip archive; MWAA needs plugins as a .zip"
    )
