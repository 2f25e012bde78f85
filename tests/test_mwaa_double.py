"""The double MWAA environments behave as MWAA does for a DAG the tool deploys: a file (or a zip of a DAG and
its modules) put under the DAGs prefix in S3 is parsed by the environment's own dag-processor, listed and
triggered through InvokeRestApi, run by its scheduler with what MWAA's workers have (DB_SECRETS, POSTGRES_*,
AWS through AWS_ENDPOINT_URL; no ORM on 3.x), and gone again once its object is deleted and the DAG deleted
through the REST API. InvokeRestApi keeps MWAA's limits and error shapes."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile

import pytest
from botocore.exceptions import ClientError
from mwaa_world import DoubleMwaa

pytestmark = pytest.mark.slow

PROBE_DAG = """
import json
import os

import pendulum

try:
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task


@dag(dag_id="double_probe", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def double_probe():
    @task
    def probe(**context):
        import boto3
        import psycopg2

        conf = context["dag_run"].conf
        seen = {
            "conf": conf,
            "orm_url_blocked": os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") == "airflow-db-not-allowed:///",
        }
        try:
            from sqlalchemy import text

            from airflow.utils.session import create_session

            with create_session() as session:
                seen["orm_dag_runs"] = session.execute(text("SELECT count(*) FROM dag_run")).scalar()
        except Exception as exc:
            seen["orm_error"] = type(exc).__name__ + ": " + str(exc)[:200]
        login = json.loads(os.environ["DB_SECRETS"])
        connection = psycopg2.connect(
            host=os.environ["POSTGRES_HOST"], port=os.environ["POSTGRES_PORT"], dbname=os.environ["POSTGRES_DB"],
            user=login["username"], password=login["password"],
        )
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM dag_run WHERE dag_id = %s", ("double_probe",))
            seen["db_secrets_dag_runs"] = cursor.fetchone()[0]
        connection.close()
        boto3.client("s3").put_object(Bucket=conf["bucket"], Key=conf["key"], Body=json.dumps(seen).encode())

    probe()


double_probe()
"""

ZIPPED_DAG = """
import pendulum
from double_zip_helpers.greeting import GREETING

try:
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task


@dag(dag_id="double_zipped", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def double_zipped():
    @task
    def greet(**context):
        import boto3

        conf = context["dag_run"].conf
        boto3.client("s3").put_object(Bucket=conf["bucket"], Key=conf["key"], Body=GREETING.encode())

    greet()


double_zipped()
"""


def zipped_dag() -> bytes:
    """A packaged DAG: the DAG file at the root, the module it imports in a package beside it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("double_zipped.py", ZIPPED_DAG)
        archive.writestr("double_zip_helpers/__init__.py", "")
        archive.writestr("double_zip_helpers/greeting.py", 'GREETING = "hello from a packaged DAG"\n')
    return buffer.getvalue()


@pytest.mark.parametrize("which", ["mwaa_old", "mwaa_new"])
def test_a_dag_uploaded_to_s3_runs_as_on_mwaa_and_goes_again(which: str, request: pytest.FixtureRequest) -> None:
    env: DoubleMwaa = request.getfixturevalue(which)
    nonce = uuid.uuid4().hex[:8]
    uploaded = time.monotonic()
    env.upload("double_probe.py", PROBE_DAG.encode())
    env.upload("packaged/double_zipped.zip", zipped_dag())

    env.wait_for_dag("double_probe")
    listed = time.monotonic() - uploaded
    env.wait_for_dag("double_zipped")
    conf = {"bucket": env.bucket, "key": f"results/{nonce}/probe.json", "nonce": nonce}
    probe_run = env.trigger("double_probe", conf)
    zipped_run = env.trigger("double_zipped", {"bucket": env.bucket, "key": f"results/{nonce}/zipped.txt"})

    assert env.wait_for_run("double_zipped", zipped_run) == "success", env.task_logs("double_zipped")
    trivial_run = time.monotonic() - uploaded
    assert env.wait_for_run("double_probe", probe_run) == "success", env.task_logs("double_probe")
    zipped = env.s3.get_object(Bucket=env.bucket, Key=f"results/{nonce}/zipped.txt")["Body"].read()
    assert zipped == b"hello from a packaged DAG"
    seen = json.loads(env.s3.get_object(Bucket=env.bucket, Key=f"results/{nonce}/probe.json")["Body"].read())
    assert seen["conf"] == conf
    assert seen["db_secrets_dag_runs"] == 1
    if env.airflow.version.is_airflow3:
        # the task SDK's ORM block, as on MWAA 3.x workers: only DB_SECRETS reaches the database
        assert seen["orm_url_blocked"] is True
        assert "orm_dag_runs" not in seen and "not allowed" in seen["orm_error"], seen
    else:
        assert seen["orm_url_blocked"] is False
        assert seen["orm_dag_runs"] >= 1, seen

    env.remove("double_probe.py")
    env.wait_for_file("double_probe.py", present=False)
    env.wait_for_dag_unlisted("double_probe")
    assert env.invoke("DELETE", "/dags/double_probe") == {}
    with pytest.raises(ClientError) as gone:
        env.invoke("GET", "/dags/double_probe")
    assert gone.value.response["Error"]["Code"] == "RestApiClientException"
    assert gone.value.response["RestApiStatusCode"] == 404
    assert (env.dags_folder / "packaged" / "double_zipped.zip").is_file()
    print(
        f"\n{env.name} (Airflow {env.airflow_version}): upload -> listed in REST {listed:.1f} s; "
        f"upload -> trivial run finished {trivial_run:.1f} s"
    )
    env.remove("packaged/double_zipped.zip")
    env.wait_for_file("packaged", present=False)


def test_invoke_rest_api_keeps_mwaa_limits_and_error_shapes(mwaa_new: DoubleMwaa) -> None:
    with pytest.raises(ClientError) as too_long:
        mwaa_new.invoke("GET", "/dags/" + "d" * 59)
    error = too_long.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "Member must have length less than or equal to 64" in error["Message"]

    with pytest.raises(ClientError) as missing:
        mwaa_new.invoke("GET", "/dags/no_such_dag")
    assert missing.value.response["Error"]["Code"] == "RestApiClientException"
    assert missing.value.response["RestApiStatusCode"] == 404
    assert "no_such_dag" in json.dumps(missing.value.response["RestApiResponse"])

    mwaa_new.aws.mwaa.throttle_next = 2
    for _ in range(2):
        with pytest.raises(ClientError) as throttled:
            mwaa_new.invoke("GET", "/dags", {"limit": 1})
        assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert "dags" in mwaa_new.invoke("GET", "/dags", {"limit": 1})
