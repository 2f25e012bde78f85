"""Double MWAA environments: each a real Airflow (scheduler with LocalExecutor, dag-processor, web server) on a
throwaway PostgreSQL, behind the MWAA double's GetEnvironment and InvokeRestApi.

What makes one an MWAA environment rather than an ephemeral one is what MWAA's containers see:
- the DAGs folder is a mirror of the environment's DAGs prefix in S3 (moto), refreshed every few seconds, as
  MWAA syncs /usr/local/airflow/dags; nothing reaches it but through S3;
- task processes get the variables MWAA gives its workers: DB_SECRETS (JSON username/password of the metadata
  database's login), POSTGRES_HOST/PORT/DB, and on 3.x Airflow's own ORM block stays as it is;
- boto3 inside a task reaches moto (AWS_ENDPOINT_URL, test credentials, the environment's region);
- the web server answers InvokeRestApi (2.x webserver /api/v1 with basic auth, 3.x api-server /api/v2, which
  also serves the execution API the 3.x workers talk to).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
import botocore.config
import sqlalchemy as sa
from airflow_web import airflow_process, rest_api
from aws_double import REGION, TEST_ENV, AirflowRestApi, AwsDouble, describe
from mwaa_policies import documented_policy, trust_policy

from mwaa_verify.config import EphemeralConfig
from mwaa_verify.demo import DEMO_DAGS, check_history, seed_source
from mwaa_verify.environments.ephemeral import EphemeralEnvironment

DAGS_PREFIX = "dags"
SYNC_INTERVAL_SECONDS = 2.0
PARALLELISM = 4
# MWAA installs the Amazon provider (and so boto3) on every environment
MWAA_REQUIREMENTS = ("apache-airflow-providers-amazon",)
# the demo DAGs that run on 2.x and 3.x alike; mwaa_old's history is theirs
HISTORY_DAGS = ("demo_etl.py", "demo_mapped.py", "demo_retry.py", "demo_failing.py")
HISTORY_RUNS = {"demo_etl": "success", "demo_mapped": "success", "demo_retry": "success", "demo_failing": "failed"}
HISTORY_SECRETS = {"password": "pw-Mw41-not-for-reports", "api_key": "key-Mw73-not-for-reports"}
FINISHED_STATES = frozenset({"success", "failed"})


def parsing_options(is_airflow3: bool) -> dict[str, str]:
    """A parse loop fast enough for tests: a new file is found within ~5 s, a changed one re-parsed within
    ~10 s (MWAA's defaults are minutes)."""
    if is_airflow3:
        return {
            "dag_processor.refresh_interval": "5",
            "dag_processor.min_file_process_interval": "10",
            "dag_processor.parsing_processes": "1",
            "dag_processor.dag_file_processor_timeout": "120",
            "dag_processor.print_stats_interval": "600",
        }
    return {
        "scheduler.dag_dir_list_interval": "5",
        "scheduler.min_file_process_interval": "10",
        "scheduler.parsing_processes": "1",
        "scheduler.standalone_dag_processor": "False",
        "core.dag_file_processor_timeout": "120",
        "scheduler.print_stats_interval": "600",
    }


def airflow_options(is_airflow3: bool) -> dict[str, str]:
    return {
        "core.parallelism": str(PARALLELISM),
        "core.dags_are_paused_at_creation": "True",
        "core.dagbag_import_timeout": "60",  # a busy 2-core test machine
        **parsing_options(is_airflow3),
    }


def worker_env(airflow: EphemeralEnvironment, aws_url: str) -> dict[str, str]:
    """What MWAA's workers find in their environment: the metadata database's login and address, and AWS."""
    url = sa.engine.make_url(airflow.sql_alchemy_conn)
    return {
        "DB_SECRETS": json.dumps({"username": url.username, "password": url.password}),
        "POSTGRES_HOST": str(url.host),
        "POSTGRES_PORT": str(url.port),
        "POSTGRES_DB": str(url.database),
        "AWS_ENDPOINT_URL": aws_url,
        "AWS_REGION": REGION,
        **TEST_ENV,
    }


class DagSync:
    """Mirrors s3://bucket/prefix/ into a DAGs folder, as MWAA syncs its DAGs prefix to its containers.

    New and changed objects (by ETag) are written to a staging folder beside it and renamed into place, so
    the dag-processor never reads half a file; subfolders are kept; objects gone from S3 are removed, and
    the folders they leave empty. `.zip` objects are copied like any other (Airflow parses packaged DAGs)."""

    def __init__(self, s3: Any, bucket: str, prefix: str, folder: Path, staging: Path) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix.strip("/") + "/"
        self.folder, self.staging = folder, staging
        self._etags: dict[str, str] = {}  # relative path -> ETag of the object written there
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []  # the last few failed passes, for a test's failure message

    def once(self) -> None:
        """One pass: the folder mirrors the prefix as it is now."""
        with self._lock:
            objects = self._objects()
            for relative, etag in objects.items():
                if self._etags.get(relative) != etag or not (self.folder / relative).is_file():
                    self._write(relative, etag)
            for relative in sorted(set(self._local_files()) - set(objects)):
                (self.folder / relative).unlink(missing_ok=True)
                self._etags.pop(relative, None)
            self._remove_empty_folders()

    def _objects(self) -> dict[str, str]:
        found = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(self.prefix) :]
                parts = PurePosixPath(relative).parts
                # a "folder" marker object, or a key that would land outside the folder
                if relative and not relative.endswith("/") and ".." not in parts:
                    found[relative] = item["ETag"]
        return found

    def _write(self, relative: str, etag: str) -> None:
        target = self.folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        body = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + relative)["Body"].read()
        staged = self.staging / hashlib.sha256(relative.encode()).hexdigest()
        staged.write_bytes(body)
        os.replace(staged, target)
        self._etags[relative] = etag

    def _local_files(self) -> list[str]:
        return [str(path.relative_to(self.folder)) for path in self.folder.rglob("*") if path.is_file()]

    def _remove_empty_folders(self) -> None:
        for path in sorted(self.folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"dag-sync-{self.bucket}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(SYNC_INTERVAL_SECONDS):
            try:
                self.once()
            except Exception as exc:  # a failed pass is retried; tests see it in `errors`
                self.errors = [*self.errors[-4:], f"{type(exc).__name__}: {exc}"]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)


@dataclass
class DoubleMwaa:
    """One double MWAA environment, as tests use it: `name` is what the product's `mwaa` kind is given."""

    name: str
    bucket: str
    airflow: EphemeralEnvironment
    aws: AwsDouble
    rest: AirflowRestApi
    sync: DagSync
    s3: Any = field(repr=False)
    mwaa: Any = field(repr=False)  # boto3 MWAA client for InvokeRestApi on this double

    @property
    def airflow_version(self) -> str:
        return str(self.airflow.version)

    @property
    def dags_folder(self) -> Path:
        return self.airflow.dags_folder

    @property
    def database_url(self) -> str:
        """The metadata database (writable), for tests that arrange or plant states; never print it."""
        return self.airflow.sql_alchemy_conn

    @property
    def api_prefix(self) -> str:
        return f"/api/v{self.rest.api_version}"

    def upload(self, relative: str, body: bytes) -> str:
        """Put a file under the environment's DAGs prefix; its key."""
        key = f"{DAGS_PREFIX}/{relative}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return key

    def remove(self, relative: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=f"{DAGS_PREFIX}/{relative}")

    def invoke(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None) -> Any:
        """InvokeRestApi on this environment through boto3 (MWAA's errors raise as botocore ClientError)."""
        request: dict[str, Any] = {"Name": self.name, "Path": path, "Method": method}
        if query:
            request["QueryParameters"] = query
        if body is not None:
            request["Body"] = body
        return self.mwaa.invoke_rest_api(**request).get("RestApiResponse") or {}

    def listed_dag_ids(self, pattern: str) -> set[str]:
        """DAG ids the REST DAG list shows for `pattern` (active ones, as the list shows by default)."""
        answer = self.invoke("GET", "/dags", {"dag_id_pattern": pattern, "limit": 100})
        return {dag["dag_id"] for dag in answer.get("dags", [])}

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> float:
        """Wait until `dag_id` is in the REST DAG list (parsed by the dag-processor); seconds waited."""
        return self._wait(lambda: dag_id in self.listed_dag_ids(dag_id), timeout, f"DAG {dag_id} to be listed")

    def wait_for_dag_unlisted(self, dag_id: str, timeout: float = 180) -> float:
        return self._wait(lambda: dag_id not in self.listed_dag_ids(dag_id), timeout, f"DAG {dag_id} to go")

    def wait_for_file(self, relative: str, present: bool, timeout: float = 60) -> float:
        """Wait until the DAGs folder has (or no longer has) `relative`, synced from S3."""
        path = self.dags_folder / relative
        return self._wait(lambda: path.exists() == present, timeout, f"{relative} to be synced")

    def trigger(self, dag_id: str, conf: dict[str, Any], run_id: str | None = None) -> str:
        """Unpause `dag_id` and trigger a run with `conf` through the REST API; the run id."""
        self.invoke("PATCH", f"/dags/{dag_id}", body={"is_paused": False})
        body: dict[str, Any] = {"conf": conf}
        if run_id:
            body["dag_run_id"] = run_id
        if self.airflow.version.is_airflow3:
            body["logical_date"] = None
        return self.invoke("POST", f"/dags/{dag_id}/dagRuns", body=body)["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        """The run's state, read from the metadata database (REST paths with long ids exceed 64 characters)."""
        engine = sa.create_engine(self.database_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                return connection.execute(
                    sa.text("SELECT state FROM dag_run WHERE dag_id = :dag_id AND run_id = :run_id"),
                    {"dag_id": dag_id, "run_id": run_id},
                ).scalar()
        finally:
            engine.dispose()

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        """Wait until the run has finished; its final state ("success" or "failed")."""
        self._wait(lambda: self.run_state(dag_id, run_id) in FINISHED_STATES, timeout, f"run {run_id} of {dag_id}")
        return str(self.run_state(dag_id, run_id))

    def task_logs(self, dag_id: str) -> str:
        """Every task log of `dag_id` on this environment, for a failing test's message."""
        assert self.airflow.base_log_folder is not None
        return "\n".join(
            path.read_text(errors="replace")[-3000:] for path in sorted(self.airflow.base_log_folder.rglob("*"))
            if path.is_file() and f"dag_id={dag_id}" in str(path)
        )  # fmt: skip

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> float:
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{self.name}: waited {timeout:.0f} s for {what}; {self._diagnosis()}")
            time.sleep(1)
        return time.monotonic() - started

    def _diagnosis(self) -> str:
        assert self.airflow.workdir is not None
        logs = [self.airflow.workdir / name for name in ("scheduler.log", "dag-processor.log", "web.log")]
        tails = [f"--- {path.name}:\n{path.read_text(errors='replace')[-2500:]}" for path in logs if path.exists()]
        files = sorted(str(path.relative_to(self.dags_folder)) for path in self.dags_folder.rglob("*"))
        return f"sync errors: {self.sync.errors or 'none'}; DAGs folder: {files}\n" + "\n".join(tails)


def s3_client(aws: AwsDouble) -> Any:
    return boto3.client("s3", endpoint_url=aws.url, region_name=REGION)


def mwaa_client(aws: AwsDouble) -> Any:
    # the double is the exact host: no `env.` prefix (as the product does for a configured endpoint);
    # retries off, so a test sees each throttled call
    options = botocore.config.Config(inject_host_prefix=False, retries={"mode": "standard", "total_max_attempts": 1})
    return boto3.client("mwaa", endpoint_url=aws.url, region_name=REGION, config=options)


def register(aws: AwsDouble, name: str, bucket: str, airflow_version: str, options: dict[str, str]) -> None:
    """The environment's bucket, execution role (the documented policy) and description in the double."""
    s3 = s3_client(aws)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    iam = boto3.client("iam", endpoint_url=aws.url, region_name=REGION)
    role = f"{name}-execution-role"
    iam.create_role(RoleName=role, Path="/service-role/", AssumeRolePolicyDocument=json.dumps(trust_policy()))
    policy = documented_policy(name, bucket)
    iam.put_role_policy(RoleName=role, PolicyName="execution", PolicyDocument=json.dumps(policy))
    aws.mwaa.environments[name] = describe(
        name, role, bucket, airflow_version, DagS3Path=DAGS_PREFIX, AirflowConfigurationOptions=options
    )


def seed_demo_history(airflow: EphemeralEnvironment) -> None:
    """Variables, a connection and a pool, then runs of the demo DAGs: successes, a retry, mapped tasks with
    xcom, a failure (the history of tests/test_migration.py's source)."""
    seed_source(airflow, HISTORY_SECRETS)
    airflow.parse_dags()
    for dag_id, intended in HISTORY_RUNS.items():
        airflow.run_dag(dag_id, date(2024, 3, 1), date(2024, 3, 2))
        check_history(airflow, dag_id, intended)  # the same history every session, or a clear failure


@contextmanager
def double_mwaa(
    aws: AwsDouble,
    name: str,
    airflow_version: str,
    cache_dir: Path,
    initial_dags: dict[str, bytes] | None = None,
    history: Callable[[EphemeralEnvironment], None] | None = None,
) -> Iterator[DoubleMwaa]:
    """A running double MWAA environment `name` with Airflow `airflow_version`, registered in `aws`.

    `initial_dags` (relative path -> content) are uploaded to its DAGs prefix first; `history` runs on the
    Airflow before its scheduler starts (e.g. seed_demo_history). Everything is stopped and removed after.
    """
    options = airflow_options(airflow_version.startswith("3"))
    bucket = f"airflow-{name}"
    register(aws, name, bucket, airflow_version, options)
    s3 = s3_client(aws)
    for relative, body in (initial_dags or {}).items():
        s3.put_object(Bucket=bucket, Key=f"{DAGS_PREFIX}/{relative}", Body=body)
    config = EphemeralConfig(
        name=name, airflow_version=airflow_version, requirements=MWAA_REQUIREMENTS, airflow_config=options
    )
    with ExitStack() as stack:
        airflow = stack.enter_context(EphemeralEnvironment(config, cache_dir))
        assert airflow.workdir is not None
        staging = airflow.workdir / "dag-sync-staging"  # removed with the workdir
        staging.mkdir()
        sync = DagSync(s3_client(aws), bucket, DAGS_PREFIX, airflow.dags_folder, staging)
        sync.once()
        if history is not None:
            history(airflow)
        rest = _start_airflow(stack, airflow, worker_env(airflow, aws.url))
        sync.start()
        stack.callback(sync.stop)
        aws.mwaa.rest_backends[name] = rest
        stack.callback(aws.mwaa.rest_backends.pop, name, None)
        yield DoubleMwaa(name, bucket, airflow, aws, rest, sync, s3, mwaa_client(aws))


def _start_airflow(stack: ExitStack, airflow: EphemeralEnvironment, workers: dict[str, str]) -> AirflowRestApi:
    """Web server, dag-processor and scheduler, each in a process group and directory of its own; stopped (in
    reverse) when `stack` closes. The scheduler's LocalExecutor workers inherit `workers`."""
    rest = stack.enter_context(rest_api(airflow, parse_first=False))
    scheduler_env = dict(workers)
    if airflow.version.is_airflow3:
        # task processes reach the metadata only through the api-server's execution API
        scheduler_env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"{rest.base_url}/execution/"
        stack.enter_context(airflow_process(airflow, ["dag-processor"], workers, "dag-processor.log"))
    scheduler = stack.enter_context(airflow_process(airflow, ["scheduler"], scheduler_env, "scheduler.log"))
    time.sleep(2)
    assert airflow.workdir is not None
    assert scheduler.poll() is None, (airflow.workdir / "scheduler.log").read_text()[-3000:]
    return rest


def history_dags() -> dict[str, bytes]:
    return {name: (DEMO_DAGS / name).read_bytes() for name in HISTORY_DAGS}
