"""An MWAA environment's DAG report comes from its own dag-processor, through InvokeRestApi: here the double
forwards to a real Airflow (the 2.10 webserver's /api/v1, the 3.3 api-server's /api/v2), and the report must
say what parsing the same DAGs with that Airflow's own interpreter says."""

from __future__ import annotations

import boto3
import pytest
from aws_double import REGION, AirflowRestApi, AwsDouble, describe

from mwaa_verify.config import MwaaConfig
from mwaa_verify.demo import DEMO_DAGS
from mwaa_verify.environments.ephemeral import EphemeralEnvironment
from mwaa_verify.environments.mwaa import MwaaEnvironment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["airflow2", "airflow3"])
def airflow(request: pytest.FixtureRequest) -> tuple[EphemeralEnvironment, AirflowRestApi]:
    """An Airflow whose dag-processor parsed the demo DAGs, with its REST API served."""
    return request.getfixturevalue(request.param), request.getfixturevalue(f"{request.param}_rest")


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
