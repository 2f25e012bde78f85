"""An MWAA environment's DAG report comes from its own dag-processor, through InvokeRestApi: here the double
forwards to a real Airflow 3.3 api-server, and the report must say what parsing the same DAGs with that
Airflow's own interpreter says."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from aws_double import REGION, AirflowRestApi, AwsDouble, aws_double, describe

from mwaa_verify.config import MwaaConfig
from mwaa_verify.demo import DEMO_DAGS
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.mwaa import MwaaEnvironment

pytestmark = pytest.mark.slow

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}
READY_SECONDS = 180


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def api_server(airflow3: EphemeralEnvironment) -> Iterator[AirflowRestApi]:
    """`airflow api-server` of the Airflow 3 environment, after its dag-processor parsed the DAGs."""
    assert airflow3.airflow_home is not None and airflow3.workdir is not None
    airflow3.parse_dags()
    port = free_port()
    log = (airflow3.workdir / "api-server.log").open("w")
    process = subprocess.Popen(
        [str(airflow3.python), "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=airflow3.process_env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5):
                    break
            except OSError:
                assert process.poll() is None, (airflow3.workdir / "api-server.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the api-server did not come up"
                time.sleep(1)
        passwords = json.loads((airflow3.airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
        yield AirflowRestApi(url, "admin", passwords["admin"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsDouble]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in AWS_ENV.items():
            patch.setenv(key, value)
        with aws_double() as double:
            yield double


def test_dag_report_over_the_rest_api_matches_the_dag_processor(
    aws: AwsDouble, api_server: AirflowRestApi, airflow3: EphemeralEnvironment
) -> None:
    s3 = boto3.client("s3", endpoint_url=aws.url, region_name=REGION)
    s3.create_bucket(Bucket="af3-dags", CreateBucketConfiguration={"LocationConstraint": REGION})
    for path in sorted(DEMO_DAGS.glob("*.py")):
        s3.put_object(Bucket="af3-dags", Key=f"dags/{path.name}", Body=path.read_bytes())
    aws.mwaa.environments["af3"] = describe("af3", "af3-role", "af3-dags", str(airflow3.version))
    aws.mwaa.rest_backends["af3"] = api_server
    expected = airflow3.dag_report()

    with MwaaEnvironment(MwaaConfig("af3", "af3", region=REGION, endpoint_url=aws.url)) as environment:
        report = environment.dag_report()

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
