"""An MWAA environment's DAG report comes from its own dag-processor, through InvokeRestApi: here the double
forwards to a real Airflow (the 2.10 webserver's /api/v1, the 3.3 api-server's /api/v2), and the report must
say what parsing the same DAGs with that Airflow's own interpreter says."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest
from aws_double import REGION, AirflowRestApi, AwsDouble, describe

from mwaa_verify.config import MwaaConfig
from mwaa_verify.demo import DEMO_DAGS
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.mwaa import MwaaEnvironment

pytestmark = pytest.mark.slow

READY_SECONDS = 180
V1_PASSWORD = "rest-api-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(
    environment: EphemeralEnvironment, command: list[str], health: str, extra_env: dict[str, str]
) -> Iterator[str]:
    """Run an Airflow web process of `environment` until the test module is done; yields its base URL."""
    assert environment.workdir is not None
    port = free_port()
    log_path = environment.workdir / "web.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(environment.python), "-m", "airflow", *command, str(port)],
            env=environment.process_env(extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{url}{health}", timeout=5):
                    break
            except OSError:
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, f"the web server did not come up: {log_path.read_text()[-3000:]}"
                time.sleep(1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module", params=["airflow2", "airflow3"])
def airflow(request: pytest.FixtureRequest) -> Iterator[tuple[EphemeralEnvironment, AirflowRestApi]]:
    """An Airflow whose dag-processor parsed the demo DAGs, with its REST API served."""
    environment: EphemeralEnvironment = request.getfixturevalue(request.param)
    environment.parse_dags()
    if environment.version.is_airflow3:
        command, health = ["api-server", "--host", "127.0.0.1", "--port"], "/api/v2/monitor/health"
        with serve(environment, command, health, {}) as url:
            assert environment.airflow_home is not None
            generated = environment.airflow_home / "simple_auth_manager_passwords.json.generated"
            yield environment, AirflowRestApi(url, 2, "admin", json.loads(generated.read_text())["admin"])
        return
    environment.airflow("users", "create", "--username", "admin", "--password", V1_PASSWORD, "--role", "Admin",
                        "--email", "admin@example.invalid", "--firstname", "A", "--lastname", "Dmin")  # fmt: skip
    settings = {
        "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth",
        "AIRFLOW__WEBSERVER__WORKERS": "1",
    }
    with serve(environment, ["webserver", "--hostname", "127.0.0.1", "--port"], "/api/v1/health", settings) as url:
        yield environment, AirflowRestApi(url, 1, "admin", V1_PASSWORD)


def test_dag_report_over_the_rest_api_matches_the_dag_processor(
    aws: AwsDouble, airflow: tuple[EphemeralEnvironment, AirflowRestApi]
) -> None:
    environment, api = airflow
    name = f"rest-{environment.version.major}"
    s3 = boto3.client("s3", endpoint_url=aws.url, region_name=REGION)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    for path in sorted(DEMO_DAGS.glob("*.py")):
        s3.put_object(Bucket=name, Key=f"dags/{path.name}", Body=path.read_bytes())
    aws.mwaa.environments[name] = describe(name, f"{name}-role", name, str(environment.version))
    aws.mwaa.rest_backends[name] = api
    expected = environment.dag_report()

    with MwaaEnvironment(MwaaConfig(name, name, region=REGION, endpoint_url=aws.url)) as mwaa:
        report = mwaa.dag_report()

    assert sorted(report.dags) == sorted(expected.dags)
    for dag_id, shape in report.dags.items():
        probe = expected.dags[dag_id]
        assert (shape.fileloc, shape.task_ids, shape.edges, shape.retries, shape.tags, shape.catchup) == (
            probe.fileloc, probe.task_ids, probe.edges, probe.retries, probe.tags, probe.catchup
        ), dag_id  # fmt: skip
        assert dict(shape.operators) == dict(probe.operators), dag_id
        assert (shape.schedule["kind"], shape.schedule["expression"]) == (
            probe.schedule["kind"], probe.schedule["expression"]
        ), dag_id  # fmt: skip
    assert sorted(report.import_errors) == sorted(expected.import_errors)
    assert [(f.path, f.dag_ids) for f in report.files] == [(f.path, f.dag_ids) for f in expected.files]
