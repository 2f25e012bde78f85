"""Every `mwaa-verify run` owns its results, and a run says what changed since the previous one.

Real runs of the IAM suite (`mwaa-verify run` in child processes, as a user types it) between MWAA
environments served by the AWS double, their execution roles in moto's IAM: a role that has everything the
environment needs passes, one without its Celery queue statement fails. Fast enough to run two at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from aws_double import REGION, AwsDouble, describe
from mwaa_policies import documented_policy, trust_policy, with_statement, without

from mwaa_verify.report.allure_results import RUN_ID_LABEL
from mwaa_verify.report.runs import LOCK_NAME, reports_lock
from mwaa_verify.report.summary import schema

REPOSITORY = Path(__file__).resolve().parent.parent
GLUE_GRANT = {
    "Sid": "NightlyGlueJob",
    "Effect": "Allow",
    "Action": ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJob"],
    "Resource": "*",
}
MIGRATION_READS = {
    "Sid": "MigrationReads",
    "Effect": "Allow",
    "Action": ["logs:DescribeLogStreams", "logs:GetLogEvents"],
    "Resource": "arn:aws:logs:*:*:log-group:airflow-prod-2-Task*",
}


def complete_policy(name: str) -> dict[str, Any]:
    """The documented role, the Glue grant its DAG needs and the reads of the old environment's logs."""
    return with_statement(with_statement(documented_policy(name, f"{name}-dags"), GLUE_GRANT), MIGRATION_READS)


def put_environment(aws: AwsDouble, name: str, policy: dict[str, Any], airflow_version: str = "3.3.1") -> None:
    """An MWAA environment with one DAG using GlueJobOperator; again for a known name: its role's policy replaced."""
    from aws_double import ScriptedRestApi

    iam = boto3.client("iam", endpoint_url=aws.url, region_name=REGION)
    if name not in aws.mwaa.environments:
        iam.create_role(
            RoleName=f"{name}-role", Path="/service-role/", AssumeRolePolicyDocument=json.dumps(trust_policy())
        )
        s3 = boto3.client("s3", endpoint_url=aws.url, region_name=REGION)
        s3.create_bucket(Bucket=f"{name}-dags", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=f"{name}-dags", Key="dags/dag_000.py", Body=b"# the nightly Glue job\n")
        aws.mwaa.environments[name] = describe(name, f"{name}-role", f"{name}-dags", airflow_version)
        aws.mwaa.rest_backends[name] = ScriptedRestApi(
            1, operator="airflow.providers.amazon.aws.operators.glue.GlueJobOperator"
        )
    iam.put_role_policy(RoleName=f"{name}-role", PolicyName="execution", PolicyDocument=json.dumps(policy))


@pytest.fixture(scope="module")
def config(aws: AwsDouble, tmp_path_factory: pytest.TempPathFactory) -> Path:
    put_environment(aws, "prod-2", documented_policy("prod-2", "prod-2-dags"), airflow_version="2.10.3")
    put_environment(aws, "good", complete_policy("good"))
    put_environment(aws, "bad", without(complete_policy("bad"), "CeleryQueue"))
    put_environment(aws, "drifting", without(complete_policy("drifting"), "CeleryQueue"))
    path = tmp_path_factory.mktemp("config") / "mwaa-verify.toml"
    path.write_text(
        "\n".join(
            f'[environments.{name}]\nkind = "mwaa"\nenvironment_name = "{name}"\nregion = "{REGION}"\n'
            f'endpoint_url = "{aws.url}"\n'
            for name in ("prod-2", "good", "bad", "drifting")
        )
    )
    return path


def start_run(config: Path, target: str, reports: Path, *suites: str) -> subprocess.Popen[str]:
    """`mwaa-verify run` of the IAM suite (or `suites`) against `target`, in a process of its own."""
    chosen = [option for suite in suites or ("iam_policy",) for option in ("--suite", suite)]
    command = [sys.executable, "-m", "mwaa_verify.cli", "-q", "--mwaa-config", str(config), "run",
               "--source", "prod-2", "--target", target, *chosen, "--reports", str(reports)]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPOSITORY), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, cwd=reports.parent
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, dict[str, Any], Path]:
    """Exit code, output, and the summary.json of the run the process reports (its own run directory)."""
    stdout, stderr = process.communicate(timeout=600)
    page = next(line for line in stdout.splitlines() if line.startswith("sign-off summary: "))
    run_dir = Path(page.removeprefix("sign-off summary: ").split(" (", 1)[0]).parent
    assert run_dir.parent.name == "runs", stdout + stderr
    return process.returncode, stdout, json.loads((run_dir / "summary.json").read_text()), run_dir


def run_ids_in(results: Path) -> set[str]:
    found = set()
    for path in results.glob("*-result.json"):
        labels = json.loads(path.read_text())["labels"]
        found |= {label["value"] for label in labels if label["name"] == RUN_ID_LABEL}
    return found


def test_two_runs_at_once_on_one_reports_directory_each_own_their_results(config: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"

    passing, failing = start_run(config, "good", reports), start_run(config, "bad", reports)
    good_code, good_out, good, good_dir = finish(passing)
    bad_code, bad_out, bad, bad_dir = finish(failing)

    assert (good_code, bad_code) == (0, 1), good_out + bad_out
    assert good["signed_off"] is True and good["verdict"].startswith("SIGNED OFF: every check passed")
    assert bad["signed_off"] is False and bad["verdict"].startswith("NOT READY FOR CUTOVER: 2 check(s) failed")
    assert good["verdict"] in good_out and bad["verdict"] in bad_out
    assert good_dir != bad_dir
    for summary, run_dir, target in ((good, good_dir, "good"), (bad, bad_dir, "bad")):
        assert summary["run"]["run_id"] == run_dir.name
        assert summary["environments"]["target"]["name"] == target
        assert f"--target {target}" in summary["run"]["command"]
        assert run_ids_in(run_dir / "allure-results") == {run_dir.name}
        assert len(summary["results"]) == 14, [result["key"] for result in summary["results"]]
    history = [json.loads(line)["run_id"] for line in (reports / "history" / "runs.jsonl").read_text().splitlines()]
    assert sorted(history) == sorted([good_dir.name, bad_dir.name])
    latest = json.loads((reports / "summary.json").read_text())  # the run that finished last, whole
    assert latest["run"]["run_id"] == history[-1]
    own = good if history[-1] == good_dir.name else bad
    assert {**latest, "links": None} == {**own, "links": None}


def test_pytest_results_of_two_sessions_in_one_directory_are_summarised_per_run(config: Path, tmp_path: Path) -> None:
    """`pytest suites --alluredir X` twice into the same X: `mwaa-verify report` reads the last run only."""
    results = tmp_path / "allure-results"
    suite = REPOSITORY / "suites" / "test_iam_policy.py"
    for target in ("bad", "good"):
        subprocess.run(
            [sys.executable, "-m", "pytest", str(suite), "--mwaa-config", str(config), "--source", "prod-2",
             "--target", target, f"--alluredir={results}", "-q", "-p", "no:cacheprovider"],
            capture_output=True, text=True, cwd=tmp_path, check=False,
        )  # fmt: skip
    assert len(run_ids_in(results)) == 2

    from mwaa_verify.report.summary import read_results

    summary = read_results(results)

    assert summary.signed_off, summary.verdict()
    assert summary.environments["target"]["name"] == "good"
    assert summary.run.command.startswith("pytest ") and "--target good" in summary.run.command
    assert len(summary.results) == 14


def test_second_run_names_the_new_failure_and_the_fixed_one(aws: AwsDouble, config: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    first_code, _out, first, _dir = finish(start_run(config, "drifting", reports))
    assert first_code == 1 and first["drift"]["previous_run_id"] is None
    # overnight, someone restores the Celery queue statement and drops the metrics ones
    put_environment(aws, "drifting", without(without(complete_policy("drifting"), "PublishMetrics"), "PutMetricData"))

    code, stdout, second, run_dir = finish(start_run(config, "drifting", reports))

    assert code == 1
    drift = second["drift"]
    assert drift["previous_run_id"] == first["run"]["run_id"]
    assert drift["new_failures"] == ["IAM permissions / test_execution_role_allows [metrics]"]
    assert drift["fixed"] == ["IAM permissions / test_execution_role_allows [celery-queue]"]
    assert drift["still_failing"] == ["IAM permissions / test_target_role_keeps_source_permissions"]
    markdown = (run_dir / "summary.md").read_text()
    verdict, drift_heading = markdown.splitlines()[2], markdown.splitlines()[4]
    assert verdict.startswith("**NOT READY FOR CUTOVER")
    assert drift_heading == f"## Since the previous run: since run {first['run']['run_id']}: 1 new failure(s), 1 fixed"
    assert "- new failure: IAM permissions / test_execution_role_allows [metrics]" in markdown
    assert "- fixed: IAM permissions / test_execution_role_allows [celery-queue]" in markdown
    assert "new failure: IAM permissions / test_execution_role_allows [metrics]" in stdout
    jsonschema.validate(second, schema())
    jsonschema.validate(json.loads((reports / "summary.json").read_text()), schema())


def test_a_run_waits_for_the_run_holding_the_reports_directory_and_says_so(config: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    with reports_lock(reports, "20261128T000000Z-aaaaaa", "mwaa-verify run --target other"):
        waiting = start_run(config, "good", reports)
        line = read_stderr_line(waiting, "waiting: ")
        assert waiting.poll() is None  # still waiting while the lock is held
    code, _out, summary, _dir = finish(waiting)

    assert line == (
        f"[mwaa-verify] waiting: {reports} is in use by run 20261128T000000Z-aaaaaa (pid {os.getpid()}: "
        "mwaa-verify run --target other); this run starts when it ends"
    )
    assert code == 0 and summary["signed_off"]


def test_a_lock_left_by_a_killed_run_is_taken_over(config: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    killed.kill()
    killed.wait()
    reports.mkdir()
    (reports / LOCK_NAME).write_text(f"run 20261128T000000Z-bbbbbb (pid {killed.pid}: mwaa-verify run)\n")

    code, _out, summary, _dir = finish(start_run(config, "good", reports))

    assert code == 0 and summary["signed_off"]


def read_stderr_line(process: subprocess.Popen[str], prefix: str) -> str:
    """The first line of the process's stderr that contains `prefix` (the rest stays readable for finish())."""
    assert process.stderr is not None
    for line in process.stderr:
        if prefix in line:
            return line.strip()
    raise AssertionError(f"the process ended without a line containing {prefix!r}")
