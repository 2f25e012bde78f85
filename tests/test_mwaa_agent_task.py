"""The agent's in-task code, run as MWAA would run it: in a real Airflow 2.10 / 3.3 interpreter that has
nothing of mwaa_verify but the agent's zip, against real PostgreSQL databases, writing to S3 (moto).

2.10 finds its database through Airflow's sql_alchemy_conn; 3.3 through DB_SECRETS and POSTGRES_* with the
task SDK's own ORM block applied (supervisor.block_orm_access), as on MWAA. The export made inside the 2.10 source
is imported inside the 3.3 target, and the two are then compared table by table with the parity engine.
Discovery of the database URL (and RDS IAM authentication refusing static credentials) is checked against a
real PostgreSQL server, one refusing a login through PAM as RDS does for IAM-authenticated users.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from aws_double import REGION, TEST_ENV, AwsDouble

from conftest import run_output
from mwaa_verify.agent.database import Candidate, RdsIamAuthentication, candidates, reachable_url
from mwaa_verify.airflow.column_map import MIGRATED_TABLES
from mwaa_verify.airflow.secrets import Redactor
from mwaa_verify.config import EphemeralConfig, default_cache_dir
from mwaa_verify.demo import DEMO_DAGS, seed_source
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.metadata_db import MetadataDatabase
from mwaa_verify.environments.mwaa_agent import agent_zip
from mwaa_verify.errors import MetadataError
from mwaa_verify.parity.metadata import NotApplicable, compare_table

pytestmark = pytest.mark.slow

AMAZON = ("apache-airflow-providers-amazon",)  # MWAA installs it, and with it boto3
SECRETS = {"password": "pw-Ag41-not-for-reports", "api_key": "key-Ag73-not-for-reports"}
BUCKET = "agent-task-bucket"
RUN_AGENT = """
import json, os, sys
sys.path.insert(0, os.environ["AGENT_ZIP"])
if os.environ.get("AGENT_BLOCK_ORM"):  # what the 3.x supervisor does to every task process, itself
    import airflow
    from airflow.sdk.execution_time.supervisor import block_orm_access
    block_orm_access()
import mwaa_verify
assert mwaa_verify.__file__.startswith(os.environ["AGENT_ZIP"]), mwaa_verify.__file__
from mwaa_verify.agent.task import run_in_task
run_in_task(json.loads(os.environ["AGENT_CONF"]), os.environ["AGENT_NONCE"])
"""


@pytest.fixture(scope="module")
def s3(aws: AwsDouble) -> Any:
    client = boto3.session.Session(**_credentials()).client("s3", endpoint_url=aws.url)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": TEST_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": TEST_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": REGION,
    }


@pytest.fixture(scope="module")
def source() -> Iterator[EphemeralEnvironment]:
    """Airflow 2.10 with MWAA's Amazon provider, history of the demo DAGs, variables and a connection."""
    config = EphemeralConfig(name="agent-src", airflow_version="2.10.5", dags_folder=DEMO_DAGS, requirements=AMAZON)
    with EphemeralEnvironment(config, default_cache_dir()) as environment:
        environment.parse_dags()
        assert environment.run_dag("demo_etl", date(2024, 3, 1), date(2024, 3, 2)), run_output(environment)
        seed_source(environment, SECRETS)
        yield environment


@pytest.fixture(scope="module")
def target() -> Iterator[EphemeralEnvironment]:
    config = EphemeralConfig(name="agent-tgt", airflow_version="3.3.1", dags_folder=DEMO_DAGS, requirements=AMAZON)
    with EphemeralEnvironment(config, default_cache_dir()) as environment:
        environment.parse_dags()
        yield environment


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    nonce = secrets.token_hex(4)
    path = tmp_path_factory.mktemp("agent") / f"mwaa_verify_agent_{nonce}.zip"
    path.write_bytes(agent_zip(f"mwaa_verify_agent_{nonce}", nonce))
    return path, nonce


def run_agent(
    environment: EphemeralEnvironment, bundle: tuple[Path, str], aws: AwsDouble, conf: dict[str, Any], mwaa_3: bool
) -> dict[str, Any]:
    """The agent's callable in `environment`'s interpreter, with what an MWAA worker has in its environment."""
    path, nonce = bundle
    result = f"s3://{BUCKET}/results/{secrets.token_hex(4)}.json"
    url = sa.engine.make_url(environment.sql_alchemy_conn)
    worker = {
        "AGENT_ZIP": str(path),
        "AGENT_NONCE": nonce,
        "AGENT_CONF": json.dumps({**conf, "nonce": nonce, "result": result}),
        "PYTHONPATH": "",  # nothing of mwaa_verify but the zip
        "AWS_ENDPOINT_URL": aws.url,
        **TEST_ENV,
    }
    if mwaa_3:  # MWAA 3.x: the task SDK blocks the ORM; the login is in DB_SECRETS and POSTGRES_*
        worker |= {
            "AGENT_BLOCK_ORM": "1",
            "DB_SECRETS": json.dumps({"username": url.username, "password": url.password}),
            "POSTGRES_HOST": str(url.host),
            "POSTGRES_PORT": str(url.port),
            "POSTGRES_DB": str(url.database),
        }
    completed = environment.run(["-c", RUN_AGENT], 600, "running the agent's task code", worker, check=False)
    bucket, _, key = result.removeprefix("s3://").partition("/")
    s3 = boto3.session.Session(**_credentials()).client("s3", endpoint_url=aws.url)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    assert listed, f"the agent wrote no result; its output: {completed.stderr[-3000:]}"
    outcome = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert (completed.returncode == 0) == outcome["ok"], completed.stderr[-3000:]
    return outcome


def test_export_in_2_10_then_import_in_3_3_gives_a_faithful_copy(
    source: EphemeralEnvironment, target: EphemeralEnvironment, bundle: tuple[Path, str], aws: AwsDouble, s3: Any
) -> None:
    location = f"s3://{BUCKET}/export-{secrets.token_hex(4)}"

    exported = run_agent(source, bundle, aws, {"operation": "export", "location": location, "include_secrets": True},
                         mwaa_3=False)  # fmt: skip
    imported = run_agent(target, bundle, aws, {"operation": "import", "location": location}, mwaa_3=True)

    assert exported["ok"] and exported["database"] == "Airflow's [database] sql_alchemy_conn"
    assert exported["tables"]["task_instance"] >= 6 and exported["tables"]["variable"] >= 1
    assert imported["ok"] and imported["database"] == "DB_SECRETS with POSTGRES_HOST/POSTGRES_PORT/POSTGRES_DB"
    assert imported["tables"]["task_instance"]["written"] == exported["tables"]["task_instance"]
    redactor = Redactor()
    unfaithful = {}
    for spec in MIGRATED_TABLES:
        outcome = compare_table(spec.name, source, target, redactor)
        if not isinstance(outcome, NotApplicable) and not outcome.is_faithful(spec.kind == "append_only"):
            unfaithful[spec.name] = outcome
    assert not unfaithful, f"tables not faithful after the agent's export and import: {sorted(unfaithful)}"


def test_a_second_import_changes_nothing_and_secrets_never_reach_the_result(
    source: EphemeralEnvironment, target: EphemeralEnvironment, bundle: tuple[Path, str], aws: AwsDouble, s3: Any
) -> None:
    location = f"s3://{BUCKET}/export-{secrets.token_hex(4)}"
    run_agent(source, bundle, aws, {"operation": "export", "location": location, "include_secrets": True}, False)
    database = MetadataDatabase(target.sql_alchemy_conn)
    before = {table: database.count(table) for table in ("dag_run", "task_instance", "variable", "xcom")}

    outcome = run_agent(target, bundle, aws, {"operation": "import", "location": location}, mwaa_3=True)

    assert {table: database.count(table) for table in before} == before
    database.close()
    text = json.dumps(outcome)
    assert not any(secret in text for secret in SECRETS.values())


def test_objects_are_written_with_the_environments_customer_key(
    source: EphemeralEnvironment, bundle: tuple[Path, str], aws: AwsDouble, s3: Any
) -> None:
    """An environment with a KmsKey: every object the agent writes (tables, manifest, result) is SSE-KMS under it."""
    kms = boto3.session.Session(**_credentials()).client("kms", endpoint_url=aws.url)
    key = kms.create_key(Description="mwaa environment key")["KeyMetadata"]["Arn"]
    location = f"s3://{BUCKET}/export-{secrets.token_hex(4)}"
    upload_args = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key}

    outcome = run_agent(source, bundle, aws, {"operation": "export", "location": location, "upload_args": upload_args},
                        mwaa_3=False)  # fmt: skip

    assert outcome["ok"]
    written = s3.list_objects_v2(Bucket=BUCKET, Prefix=location.removeprefix(f"s3://{BUCKET}/"))["Contents"]
    assert any(item["Key"].endswith("task_instance.jsonl") for item in written)
    for item in written:
        head = s3.head_object(Bucket=BUCKET, Key=item["Key"])
        assert (head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")) == ("aws:kms", key), item["Key"]


def test_an_export_without_secrets_leaves_them_out_and_a_digest_export_keeps_only_digests(
    source: EphemeralEnvironment, bundle: tuple[Path, str], aws: AwsDouble, s3: Any
) -> None:
    plain, digested = (f"s3://{BUCKET}/export-{secrets.token_hex(4)}" for _ in range(2))
    run_agent(source, bundle, aws, {"operation": "export", "location": plain}, mwaa_3=False)
    key = secrets.token_bytes(32)
    run_agent(source, bundle, aws, {"operation": "export", "location": digested, "digest_key": key.hex()}, False)

    for location in (plain, digested):
        prefix = location.removeprefix(f"s3://{BUCKET}/")
        for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]:
            content = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode()
            assert not any(secret in content for secret in SECRETS.values()), item["Key"]
    variables = s3.get_object(Bucket=BUCKET, Key=f"{digested.removeprefix(f's3://{BUCKET}/')}/variable.jsonl")
    digests = [json.loads(line)["val"] for line in variables["Body"].read().decode().splitlines()]
    assert Redactor(key).digest(SECRETS["api_key"]) in digests


def test_a_failing_operation_is_one_line_in_the_result_and_fails_the_task(
    source: EphemeralEnvironment, bundle: tuple[Path, str], aws: AwsDouble, s3: Any
) -> None:
    outcome = run_agent(
        source, bundle, aws, {"operation": "import", "location": f"s3://{BUCKET}/no-such-export"}, mwaa_3=False
    )

    assert outcome == {"ok": False, "error": outcome["error"]}
    assert "holds no manifest.json" in outcome["error"] and "\n" not in outcome["error"]


# -- finding the database ------------------------------------------------------------------------------------


def test_candidates_follow_mwaa_order_and_never_show_credentials() -> None:
    environ = {
        "DB_SECRETS": json.dumps({"username": "u1", "password": "p@ss/1"}),
        "POSTGRES_HOST": "db.internal", "POSTGRES_PORT": "5433", "POSTGRES_DB": "AirflowMetadata",
        "MWAA__DB__CREDENTIALS": json.dumps({"username": "u2", "password": "p2"}),
        "MWAA__DB__POSTGRES_HOST": "db2", "MWAA__DB__POSTGRES_PORT": "5432", "MWAA__DB__POSTGRES_DB": "airflow",
        "MWAA__DB__POSTGRES_SSLMODE": "require",
    }  # fmt: skip

    found = candidates(environ, "airflow-db-not-allowed:///", "db+postgresql://u3:p3@db3/airflow")

    assert [c.source.split()[0] for c in found] == ["DB_SECRETS", "MWAA__DB__CREDENTIALS", "Celery's"]
    first = sa.engine.make_url(found[0].url)
    assert (first.username, first.password, first.host, first.port) == ("u1", "p@ss/1", "db.internal", 5433)
    assert sa.engine.make_url(found[1].url).query == {"sslmode": "require"}
    assert "p@ss" not in repr(found)


def test_a_database_refusing_the_password_is_named_by_source_only(source: EphemeralEnvironment) -> None:
    url = sa.engine.make_url(source.sql_alchemy_conn).set(password="wrong-Pw9-not-for-reports")
    wrong = Candidate("DB_SECRETS with POSTGRES_HOST/POSTGRES_PORT/POSTGRES_DB", url.render_as_string(False))

    with pytest.raises(MetadataError) as raised:
        reachable_url([wrong])

    assert str(raised.value).startswith("the agent could not connect to the metadata database: DB_SECRETS with")
    assert "wrong-Pw9" not in str(raised.value)


def test_rds_iam_authentication_is_recognised_from_pam_refusing_the_login(pam_postgres: str) -> None:
    with pytest.raises(RdsIamAuthentication) as raised:
        reachable_url([Candidate("DB_SECRETS with POSTGRES_HOST/POSTGRES_PORT/POSTGRES_DB", pam_postgres)])

    assert "RDS IAM authentication" in str(raised.value) and "iam-Pw5" not in str(raised.value)


@pytest.fixture(scope="module")
def pam_postgres() -> Iterator[str]:
    """A real PostgreSQL whose user `iam_user` logs in through PAM, as RDS does for IAM-authenticated users:
    any password is refused with "PAM authentication failed". The URL of that login, with a password."""
    from mwaa_verify.environments.postgres import PostgresCluster

    with PostgresCluster() as cluster:
        engine = sa.create_engine(cluster.url, poolclass=sa.pool.NullPool)
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE ROLE iam_user LOGIN PASSWORD 'iam-Pw5-not-for-reports'"))
            hba = Path(connection.execute(sa.text("SHOW hba_file")).scalar_one())
            # PAM service of its own that no /etc/pam.d file defines: PAM refuses every login to it
            hba.write_text(f"host all iam_user 127.0.0.1/32 pam pamservice=mwaa-verify-rds-iam\n{hba.read_text()}")
            assert connection.execute(sa.text("SELECT pg_reload_conf()")).scalar_one(), "PostgreSQL did not reload"
        engine.dispose()
        url = sa.engine.make_url(cluster.url).set(username="iam_user", password="iam-Pw5-not-for-reports")
        yield url.render_as_string(hide_password=False)


def test_an_import_killed_inside_mwaa_has_its_paused_dags_restored_by_the_next_one(
    source: EphemeralEnvironment, target: EphemeralEnvironment, bundle: tuple[Path, str], aws: AwsDouble, s3: Any
) -> None:
    location = f"s3://{BUCKET}/export-{secrets.token_hex(4)}"
    run_agent(source, bundle, aws, {"operation": "export", "location": location, "include_secrets": True}, False)
    journal_key = f"journals/{secrets.token_hex(4)}.json"
    # what a killed import leaves: every DAG paused, their earlier state in the journal (here: demo_etl unpaused)
    engine = sa.create_engine(target.sql_alchemy_conn, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE dag SET is_paused = true"))
    s3.put_object(Bucket=BUCKET, Key=journal_key, Body=json.dumps({"demo_etl": False}).encode())

    conf = {"operation": "import", "location": location, "journal": f"s3://{BUCKET}/{journal_key}"}
    outcome = run_agent(target, bundle, aws, conf, mwaa_3=True)

    with engine.connect() as connection:
        paused = dict(connection.execute(sa.text("SELECT dag_id, is_paused FROM dag")).all())
    engine.dispose()
    assert outcome["ok"] and paused["demo_etl"] is False and paused["demo_mapped"] is True
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=journal_key).get("KeyCount", 0) == 0
