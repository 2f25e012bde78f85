"""MWAA -> MWAA with no manual step, through the agent DAG, against double MWAA environments (tests/mwaa_world.py:
real Airflow 2.10 / 3.3 schedulers, dag-processors and web servers whose DAGs folders mirror their S3 prefixes):
`mwaa-verify export` of the 2.10 source with real history, `mwaa-verify import` into the 3.3 target, then the
metadata parity suite between the two `mwaa` environments; a defect planted afterwards in the target is caught
by its table's test; nothing of the agent stays behind, also after a run interrupted while polling; a role that
cannot write the export location is refused before any upload; throttled REST calls are retried.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from aws_double import REGION, AwsDouble
from mwaa_world import DoubleMwaa

from conftest import junit_outcomes
from mwaa_verify.cli import main
from mwaa_verify.config import load_config
from mwaa_verify.environments.mwaa import MwaaEnvironment

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
BUCKET = "agent-migration"
AGENT = "mwaa_verify_agent_"
# what the execution roles get on the migration bucket (MWAA's documented policy only reads its own bucket)
MIGRATION_ACCESS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": f"arn:aws:s3:::{BUCKET}/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def migration(mwaa_aws: AwsDouble, mwaa_old: DoubleMwaa, mwaa_new: DoubleMwaa, tmp_path_factory: Any) -> Path:
    """The migration bucket both execution roles may use, the target's DAGs copied from the source (the
    user's first migration step), and a configuration naming both environments with a staging location."""
    s3 = boto3.client("s3", endpoint_url=mwaa_aws.url, region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    iam = boto3.client("iam", endpoint_url=mwaa_aws.url, region_name=REGION)
    for environment in (mwaa_old, mwaa_new):
        role = f"{environment.name}-execution-role"
        iam.put_role_policy(RoleName=role, PolicyName="migration", PolicyDocument=json.dumps(MIGRATION_ACCESS))
    for item in mwaa_old.s3.list_objects_v2(Bucket=mwaa_old.bucket, Prefix="dags/")["Contents"]:
        body = mwaa_old.s3.get_object(Bucket=mwaa_old.bucket, Key=item["Key"])["Body"].read()
        mwaa_new.s3.put_object(Bucket=mwaa_new.bucket, Key=item["Key"], Body=body)
    for dag_id in ("demo_etl", "demo_mapped", "demo_retry", "demo_failing"):
        mwaa_new.wait_for_dag(dag_id)
    config = tmp_path_factory.mktemp("agent-e2e") / "mwaa-verify.toml"
    config.write_text(
        "".join(
            f'[environments.{key}]\nkind = "mwaa"\nenvironment_name = "{environment.name}"\nregion = "{REGION}"\n'
            f'endpoint_url = "{mwaa_aws.url}"\nstaging = "s3://{BUCKET}/staging/{key}"\nagent_timeout = 600\n\n'
            for key, environment in (("old", mwaa_old), ("new", mwaa_new))
        )
    )
    return config


def agents_left(environment: DoubleMwaa) -> list[str]:
    """Agent objects in the environment's DAGs prefix and agent DAGs it lists, active or not."""
    objects = environment.s3.list_objects_v2(Bucket=environment.bucket, Prefix=f"dags/{AGENT}").get("Contents", [])
    scope = {"exclude_stale": "false"} if environment.airflow.version.is_airflow3 else {"only_active": "false"}
    listed = environment.invoke("GET", "/dags", {"dag_id_pattern": AGENT, "limit": 100, **scope}).get("dags", [])
    return [item["Key"] for item in objects] + [dag["dag_id"] for dag in listed]


def staged_left() -> list[str]:
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=REGION)
    found = s3.list_objects_v2(Bucket=BUCKET, Prefix="staging/").get("Contents", [])
    results = [i["Key"] for i in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) if "agent-result-" in i["Key"]]
    return [item["Key"] for item in found] + results


@pytest.fixture(scope="module", autouse=True)
def endpoint(mwaa_aws: AwsDouble) -> Iterator[None]:
    """The caller's own S3 calls (checking and reading the export location) reach moto, as the suites' do."""
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = mwaa_aws.url
    yield
    if previous is None:
        os.environ.pop("AWS_ENDPOINT_URL", None)
    else:
        os.environ["AWS_ENDPOINT_URL"] = previous


def parity(config: Path, report: Path) -> dict[str, str | None]:
    """The metadata parity suite between the two mwaa environments, as a user runs it; each test's outcome."""
    subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "suites" / "test_metadata_parity.py"), "--source", "old",
         "--target", "new", "--mwaa-config", str(config), f"--junitxml={report}", "-q", "-p", "no:cacheprovider"],
        cwd=config.parent, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    return junit_outcomes(report)


def foreign_dag_ids(target: DoubleMwaa) -> set[str]:
    """DAGs other tests of the session ran on the shared target (the demo DAGs are the migration's)."""
    engine = sa.create_engine(target.database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        found = {row[0] for row in connection.execute(sa.text("SELECT DISTINCT dag_id FROM dag_run"))}
    engine.dispose()
    return {dag_id for dag_id in found if not dag_id.startswith(("demo_", AGENT))}


def unexplained(outcomes: dict[str, str | None], foreign: set[str]) -> dict[str, str]:
    """Failed parity tests, except those whose only difference is rows of DAGs that other tests of this session
    ran on the shared target (history the source never had: extra rows, nothing missing or changed)."""
    failed = {name: text for name, text in outcomes.items() if text not in (None, "SKIPPED")}

    def foreign_only(text: str) -> bool:
        extra = re.findall(r"\(dag_id='([^']+)'", text.split("only on the target", 1)[-1])
        return "0 missing on the target, 0 changed" in text and bool(extra) and set(extra) <= foreign

    return {name: text for name, text in failed.items() if not foreign_only(text)}


def test_export_import_and_parity_between_two_mwaa_environments(
    migration: Path, mwaa_old: DoubleMwaa, mwaa_new: DoubleMwaa, capsys: pytest.CaptureFixture[str]
) -> None:
    export = f"s3://{BUCKET}/export-{secrets.token_hex(4)}"
    common = ["--mwaa-config", str(migration)]

    assert main([*common, "export", "old", export, "--include-secrets"]) == 0, capsys.readouterr().err
    exported = capsys.readouterr()
    assert main([*common, "import", export, "new"]) == 0, capsys.readouterr().err
    imported = capsys.readouterr()
    outcomes = parity(migration, migration.parent / "parity.xml")

    assert "task_instance" in exported.out and "imported and committed" in imported.out
    failed = unexplained(outcomes, foreign_dag_ids(mwaa_new))
    assert not failed, f"parity failed between two mwaa environments: {failed}"
    for table in ("dag_run", "task_instance", "xcom", "variable", "connection", "slot_pool"):
        assert outcomes[f"test_table_rows_match[{table}]"] != "SKIPPED", table  # compared, and faithful
    for secret in ("pw-Mw41-not-for-reports", "key-Mw73-not-for-reports"):
        assert secret not in exported.out + exported.err + imported.out + imported.err
    assert agents_left(mwaa_old) == [] and agents_left(mwaa_new) == []
    assert staged_left() == []


def test_a_defect_planted_in_the_target_is_caught_by_its_table(
    migration: Path, mwaa_old: DoubleMwaa, mwaa_new: DoubleMwaa
) -> None:
    engine = sa.create_engine(mwaa_new.database_url, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        changed = connection.execute(
            sa.text("UPDATE task_instance SET state = 'skipped' WHERE dag_id = 'demo_etl' AND task_id = 'extract'")
        ).rowcount
    engine.dispose()
    assert changed, "the target holds no imported demo_etl task instances to plant a defect in"

    outcomes = parity(migration, migration.parent / "defect.xml")

    failed = sorted(unexplained(outcomes, foreign_dag_ids(mwaa_new)))
    assert failed == ["test_table_rows_match[task_instance]"], failed
    assert "state" in str(outcomes["test_table_rows_match[task_instance]"])


def test_a_role_that_cannot_write_the_location_is_refused_before_any_upload(
    migration: Path, mwaa_old: DoubleMwaa, capsys: pytest.CaptureFixture[str]
) -> None:
    # the execution role reads its own bucket (MWAA's documented policy) but may not write it
    code = main(["--mwaa-config", str(migration), "export", "old", f"s3://{mwaa_old.bucket}/exports/x"])

    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1
    assert "its execution role mwaa-old-execution-role cannot use" in error and "nothing was deployed" in error
    assert "s3:PutObject" in error
    assert agents_left(mwaa_old) == []


def test_throttled_rest_calls_are_retried(
    migration: Path, mwaa_old: DoubleMwaa, capsys: pytest.CaptureFixture[str]
) -> None:
    mwaa_old.aws.mwaa.throttle_next = 6  # botocore retries 3 times itself, then the tool backs off

    assert main(["--mwaa-config", str(migration), "dags", "old"]) in (0, 1), capsys.readouterr().err

    assert "demo_etl" in capsys.readouterr().out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_run_interrupted_while_polling_leaves_nothing_after_the_next_run(
    migration: Path, mwaa_old: DoubleMwaa, signum: int
) -> None:
    export = f"s3://{BUCKET}/interrupted-{secrets.token_hex(4)}"
    process = subprocess.Popen(
        [sys.executable, "-m", "mwaa_verify.cli", "--mwaa-config", str(migration), "export", "old", export],
        cwd=migration.parent, env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    seen = []
    assert process.stderr is not None
    for line in process.stderr:
        seen.append(line)
        if "waiting for MWAA to parse it ..." in line or "running export ..." in line:
            break
    time.sleep(2)
    os.kill(process.pid, signum)
    rest = process.communicate(timeout=300)[1]
    assert process.returncode == 130, "".join(seen) + rest

    assert main(["--mwaa-config", str(migration), "export", "old", f"{export}-again"]) == 0

    assert agents_left(mwaa_old) == []


LONG_DAG = """
from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:
    from airflow.operators.empty import EmptyOperator

with DAG(dag_id="{dag_id}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="only")
"""


def test_dag_ids_too_long_for_invoke_rest_api_are_reported_not_fatal(
    migration: Path, mwaa_old: DoubleMwaa, capsys: pytest.CaptureFixture[str]
) -> None:
    dag_id = "a_dag_whose_id_is_too_long_for_the_64_character_path_" + secrets.token_hex(4)
    mwaa_old.upload("long_dag_id.py", LONG_DAG.format(dag_id=dag_id).encode())
    try:
        mwaa_old.wait_for_dag(dag_id)

        code = main(["--mwaa-config", str(migration), "dags", "old"])
        with MwaaEnvironment(load_config(migration).environment("old")) as environment:  # type: ignore[arg-type]
            report = environment.dag_report()

        out = capsys.readouterr().out
        assert code == 1  # a file the tool could not judge is never a pass
        line = next(line for line in out.splitlines() if "long_dag_id.py" in line)
        assert dag_id in line and "NOT JUDGED" in line
        assert "longer than 64 characters" in report.tool_errors["long_dag_id.py"]
        assert report.dags["demo_etl"].task_ids and report.dags[dag_id].task_ids == ()
    finally:
        mwaa_old.remove("long_dag_id.py")
