"""A real Amazon MWAA environment, reached through boto3 and nothing else.

`mwaa.get_environment` describes it; its DAGs, requirements and plugins are read from its S3 bucket; what its
own dag-processor made of the DAGs comes from the Airflow REST API through `mwaa.invoke_rest_api` (v1 on 2.x,
v2 on 3.x); task logs from CloudWatch Logs `airflow-{Name}-Task`; its execution role from IAM. Everything is
read: this kind never changes the environment, except `write_task_log` when it is the target of a log copy.
"""

from __future__ import annotations

import contextlib
import io
import re
import secrets
import shutil
import time
import zipfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import boto3
import botocore.config
from botocore.exceptions import BotoCoreError, ClientError

from mwaa_verify import ownership, progress
from mwaa_verify.agent.task import AGENT_PREFIX
from mwaa_verify.airflow.config_map import is_sensitive
from mwaa_verify.airflow.secrets import OPTION_DIGESTS, SECRET_COLUMNS, FernetKeys
from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.config import MwaaConfig
from mwaa_verify.environments.base import (
    DagReport,
    DagShape,
    Environment,
    EnvironmentInfo,
    ExecutionRole,
    FileReport,
    LogContent,
    TaskLog,
)
from mwaa_verify.environments.cloudwatch import CloudWatchTaskLogs, WriteOutcome, task_log_group
from mwaa_verify.environments.mwaa_agent import Agent
from mwaa_verify.environments.mwaa_settings import platform_settings
from mwaa_verify.errors import EnvironmentStartError, ImportRefused, MetadataError, ProbeError, aws_problem
from mwaa_verify.iam.requirements import bucket_name
from mwaa_verify.iam.role import read_role
from mwaa_verify.migrate.location import Location, fetched_for_reading
from mwaa_verify.migrate.manifest import Manifest, read_exported_rows

# MWAA keeps DAGs here on its hosts; filelocs in the REST API are absolute under it
MWAA_DAGS_FOLDER = "/usr/local/airflow/dags/"
REST_PAGE_SIZE = 100
REST_TIMEOUT_SECONDS = 10
REST_ATTEMPTS = 5
REST_PATH_LIMIT = 64  # InvokeRestApi's Path: at most 64 characters
_THROTTLED = {"ThrottlingException", "TooManyRequestsException", "ServiceUnavailableException"}
# Python of MWAA's images per Airflow major (PYTHON_VERSION in aws/amazon-mwaa-docker-images: 3.11.9 in the
# 2.10.3 image, 3.12.10 in 3.0.6, 3.12.13 in 3.3.1)
_PYTHON = {2: "3.11", 3: "3.12"}
_CRON_PRESETS = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
}  # fmt: skip


_OPTIONS_REDACTOR = OPTION_DIGESTS


class RestApiError(ProbeError):
    """The environment's Airflow REST API answered with an error."""


class MwaaEnvironment(Environment):
    def __init__(self, config: MwaaConfig, sleep: Any = time.sleep) -> None:
        self.name = config.name
        self.kind = "mwaa"
        self.config = config
        self._sleep = sleep
        self._session: boto3.Session | None = None
        self._clients: dict[str, Any] = {}
        self._objects: dict[str, bytes | None] = {}
        self._description: dict[str, Any] | None = None
        self._scratch: Path | None = None
        self._manifest: Manifest | None = None
        self._digest_key: bytes | None = None

    # -- reaching AWS ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _aws(self, doing: str, hint: str = "") -> Iterator[None]:
        """AWS failures while `doing` something become one line naming it, the cause and the fix."""
        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise EnvironmentStartError(
                f"environment {self.name!r}: cannot {doing}: {aws_problem(exc)}{hint}"
            ) from None

    def aws_client(self, service: str) -> Any:
        if service not in self._clients:
            with self._aws(f"set up AWS access for {service}"):
                if self._session is None:
                    self._session = boto3.Session(profile_name=self.config.profile, region_name=self.config.region)
                options = botocore.config.Config(
                    connect_timeout=REST_TIMEOUT_SECONDS,
                    read_timeout=REST_TIMEOUT_SECONDS,
                    retries={"mode": "standard", "max_attempts": 3},
                    # a configured endpoint (a VPC endpoint, a proxy, a test double) is already the exact host
                    inject_host_prefix=self.config.endpoint_url is None,
                )
                client = self._session.client(service, endpoint_url=self.config.endpoint_url, config=options)
                if self.config.endpoint_url:
                    exact_endpoint(client, self.config.endpoint_url)
                self._clients[service] = client
        return self._clients[service]

    def start(self) -> None:
        if self._description is not None:
            return
        mwaa = self.aws_client("mwaa")
        with self._aws(f"describe MWAA environment {self.config.environment_name!r}"):
            try:
                self._description = mwaa.get_environment(Name=self.config.environment_name)["Environment"]
            except mwaa.exceptions.ResourceNotFoundException:
                raise EnvironmentStartError(
                    f"environment {self.name!r}: no MWAA environment named {self.config.environment_name!r} in "
                    f"{mwaa.meta.region_name}; check environment_name and region in the configuration"
                ) from None

    def close(self) -> None:
        if self._scratch is not None:
            ownership.remove_owned_dir(self._scratch)
            self._scratch = None

    @property
    def description(self) -> dict[str, Any]:
        self.start()
        assert self._description is not None
        return self._description

    @property
    def airflow_version(self) -> AirflowVersion:
        return AirflowVersion.parse(self.description["AirflowVersion"])

    # -- the Environment interface --------------------------------------------------------------------------

    def info(self) -> EnvironmentInfo:
        # MWAA returns its options in clear text: secrets become keyed digests, equal for equal values in a run
        options = {
            name: _OPTIONS_REDACTOR.digest(value) if is_sensitive(name) else value
            for name, value in (self.description.get("AirflowConfigurationOptions") or {}).items()
        }
        return EnvironmentInfo(
            name=self.name,
            kind=self.kind,
            airflow_version=str(self.airflow_version),
            python_version=_PYTHON.get(self.airflow_version.major, "unknown"),
            config_options=options,
            explicit_options=frozenset(options),
            requirements=tuple(self._requirements()),
            plugins=tuple(self._plugin_files()),
        )

    def mwaa_description(self) -> Mapping[str, Any]:
        return self.description

    def platform_settings(self) -> Mapping[str, str]:
        return platform_settings(self.description)

    def execution_role(self) -> ExecutionRole:
        role = self.description["ExecutionRoleArn"]
        hint = (
            "; the caller needs iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy, iam:ListAttachedRolePolicies, "
            "iam:GetPolicy and iam:GetPolicyVersion on it"
        )
        with self._aws(f"read execution role {role}", hint):
            return read_role(self.aws_client("iam"), role)

    # -- metadata: through the agent DAG (environments/mwaa_agent.py) ----------------------------------------

    def tables(self) -> list[str]:
        return sorted(self._metadata().tables)

    def rows(self, table: str, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        from mwaa_verify.environments.snapshot import windowed

        manifest = self._metadata()
        if table not in manifest.tables:
            raise MetadataError(f"environment {self.name!r}: its export holds no {table} table")
        path = self._scratch_dir() / "metadata" / manifest.tables[table].file
        rows = read_exported_rows(path, SECRET_COLUMNS.get(table, {}))
        return rows if since is None else windowed(table, rows, since, lambda: self.rows("dag_run", since))

    def schema_revision(self) -> str | None:
        return self._metadata().schema_revision

    def fernet_keys(self) -> FernetKeys:
        """The agent's export holds secrets as keyed digests, never encrypted: there is no key to apply."""
        return FernetKeys(())

    def secret_digest_key(self) -> bytes | None:
        """The key the agent digests secrets with: the process's (a snapshot's, once one is open), so two
        environments read in one run compare, whichever kinds they are."""
        return self._digest_key or OPTION_DIGESTS.key

    def _metadata(self) -> Manifest:
        """The environment's metadata, exported once per run by an agent into the configured staging location,
        downloaded into this environment's scratch folder; the staged objects are deleted after reading."""
        if self._manifest is None:
            if not self.config.staging:
                raise MetadataError(
                    f"environment {self.name!r} (kind 'mwaa'): its metadata is read through an agent DAG that "
                    f'exports it to S3; set staging = "s3://bucket/prefix" (a location its execution role may '
                    f"read and write) under [environments.{self.name}] in the configuration"
                )
            _delete_prefix(self.aws_client("s3"), self.config.staging, older_than=self.config.agent_timeout)
            staged = f"{self.config.staging}/{secrets.token_hex(6)}"
            key = OPTION_DIGESTS.key
            agent = Agent(self)
            try:
                agent.run("export", staged, {"digest_key": key.hex(), "extra_tables": ["dag"]}, (staged,))
                folder = self._scratch_dir() / "metadata"
                with fetched_for_reading(Location(staged)) as fetched:
                    shutil.copytree(fetched, folder, dirs_exist_ok=True)
                self._manifest = Manifest.read(folder)
                self._manifest.verify(folder)
                self._digest_key = key
            finally:
                with ownership.deferred_signals():
                    _delete_prefix(self.aws_client("s3"), staged)
        return self._manifest

    def export_metadata(
        self, destination: str, include_secrets: bool = False, since: datetime | None = None
    ) -> Manifest:
        """`mwaa-verify export` of this environment: its agent writes the export to `destination` (s3://)."""
        if not Location(destination).is_s3:
            raise MetadataError(
                f"environment {self.name!r} (kind 'mwaa') exports from inside MWAA, to S3 only; give an "
                f"s3://bucket/prefix its execution role may write"
            )
        conf = {"include_secrets": include_secrets, "since": since.isoformat() if since else None}
        Agent(self).run("export", destination, conf, (destination,))
        with fetched_for_reading(Location(destination)) as folder:
            return Manifest.read(folder)

    def import_metadata(self, export: str, dry_run: bool = False) -> dict[str, Any]:
        """`mwaa-verify import` into this environment: its agent runs the local import's code on its database.
        The agent's result goes to the staging location, or next to the export when none is configured."""
        if not Location(export).is_s3:
            raise ImportRefused(
                f"environment {self.name!r} (kind 'mwaa') imports from inside MWAA, from S3 only; upload the "
                f"export to s3://bucket/prefix (its execution role must read it) and import from there"
            )
        writes = (self.config.staging or export, export)
        # the DAGs' paused state while importing, where the next import finds it should this one be killed
        journal = f"{writes[0].rstrip('/')}/import-journal-{self.config.environment_name}.json"
        return Agent(self).run("import", export, {"dry_run": dry_run, "journal": journal}, writes)

    # -- task logs: CloudWatch Logs --------------------------------------------------------------------------

    @property
    def _task_log_store(self) -> CloudWatchTaskLogs:
        return CloudWatchTaskLogs(self.aws_client("logs"), task_log_group(self.config.environment_name))

    def task_logs(self, since: datetime | None = None) -> Iterator[TaskLog]:
        with self._aws(f"list task logs in {self._task_log_store.name}"):
            yield from self._task_log_store.task_logs(since)

    def read_task_log(self, log: TaskLog) -> bytes:
        with self._aws(f"read task log {log.name}"):
            return self._task_log_store.read_task_log(log)

    def read_task_log_content(self, log: TaskLog) -> LogContent:
        with self._aws(f"read task log {log.name}"):
            return self._task_log_store.read_task_log_content(log)

    def write_task_log(self, name: str, content: bytes) -> None:
        with self._aws(f"write task log {name} to {self._task_log_store.name}"):
            self._task_log_store.write_task_log(name, content)

    def write_task_log_content(self, name: str, content: LogContent) -> WriteOutcome:
        with self._aws(f"write task log {name} to {self._task_log_store.name}"):
            return self._task_log_store.write_task_log_events(name, content.events)

    def acceptance_window(self, now: datetime | None = None) -> tuple[int, int, str]:
        with self._aws(f"read the retention of {self._task_log_store.name}"):
            return self._task_log_store.acceptance_window(now)

    # -- the S3 bucket: DAGs, requirements, plugins -------------------------------------------------------------

    @property
    def bucket(self) -> str:
        return bucket_name(self.description["SourceBucketArn"])

    def _get_object(self, key_field: str, version_field: str) -> bytes | None:
        """The object the environment installs from (at its pinned version), read once."""
        if key_field not in self._objects:
            key = self.description.get(key_field)
            if not key:
                self._objects[key_field] = None
                return None
            arguments = {"Bucket": self.bucket, "Key": key.lstrip("/")}
            if self.description.get(version_field):
                arguments["VersionId"] = self.description[version_field]
            with self._aws(f"read s3://{self.bucket}/{arguments['Key']}"):
                self._objects[key_field] = self.aws_client("s3").get_object(**arguments)["Body"].read()
        return self._objects[key_field]

    def _requirements(self) -> list[str]:
        path = self.requirements_file()
        if path is None:
            return []
        lines = (line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines())
        return [line for line in lines if line and not line.startswith("#")]

    def _plugins_archive(self) -> zipfile.ZipFile | None:
        content = self._get_object("PluginsS3Path", "PluginsS3ObjectVersion")
        if content is None:
            return None
        try:
            return zipfile.ZipFile(io.BytesIO(content))
        except zipfile.BadZipFile:
            raise EnvironmentStartError(
                f"environment {self.name!r}: s3://{self.bucket}/{self.description['PluginsS3Path']} is not a zip "
                f"archive; MWAA needs plugins as a .zip"
            ) from None

    def _plugin_files(self) -> list[str]:
        archive = self._plugins_archive()
        if archive is None:
            return []
        with archive:
            return sorted(name for name in archive.namelist() if name.endswith(".py"))

    def _scratch_dir(self) -> Path:
        if self._scratch is None:
            self._scratch = ownership.make_owned_dir("mwaa")  # copies of the DAGs, requirements and plugins
        return self._scratch

    def dags_path(self) -> Path:
        """A local copy of the DAGs folder in S3, for the static checks."""
        folder = self._scratch_dir() / "dags"
        if folder.is_dir():
            return folder
        prefix = self.description.get("DagS3Path", "dags").strip("/") + "/"
        s3 = self.aws_client("s3")
        with self._aws(f"copy s3://{self.bucket}/{prefix}"):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    relative = item["Key"][len(prefix) :]
                    if not relative or relative.endswith("/") or ".." in Path(relative).parts:
                        continue
                    destination = folder / relative
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(self.bucket, item["Key"], str(destination))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def requirements_file(self) -> Path | None:
        content = self._get_object("RequirementsS3Path", "RequirementsS3ObjectVersion")
        if content is None:
            return None
        path = self._scratch_dir() / "requirements.txt"
        path.write_bytes(content)
        return path

    def plugins_path(self) -> Path | None:
        archive = self._plugins_archive()
        if archive is None:
            return None
        folder = self._scratch_dir() / "plugins"
        if not folder.is_dir():
            with archive:
                for member in archive.namelist():
                    if ".." not in Path(member).parts and not Path(member).is_absolute():
                        archive.extract(member, folder)
        return folder

    # -- the Airflow REST API through invoke_rest_api ---------------------------------------------------------

    def rest(
        self,
        path: str,
        query: Mapping[str, Any] | None = None,
        method: str = "GET",
        body: Mapping[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        """Call one REST API path (relative: `/dags`), retrying with backoff while MWAA or Airflow throttles.
        With `missing_ok`, an HTTP 404 answers None. InvokeRestApi takes paths of at most 64 characters:
        callers reach longer ids through list endpoints and query parameters."""
        if len(path) > REST_PATH_LIMIT:
            raise RestApiError(
                f"environment {self.name!r}: REST path {path[:40]}... is {len(path)} characters; MWAA's "
                f"InvokeRestApi takes at most {REST_PATH_LIMIT}"
            )
        mwaa = self.aws_client("mwaa")
        arguments: dict[str, Any] = {"Name": self.config.environment_name, "Path": path, "Method": method}
        if query:
            arguments["QueryParameters"] = dict(query)
        if body is not None:
            arguments["Body"] = dict(body)
        for attempt in range(REST_ATTEMPTS):
            try:
                return mwaa.invoke_rest_api(**arguments).get("RestApiResponse") or {}
            except ClientError as exc:
                error = exc.response.get("Error", {})
                status = exc.response.get("RestApiStatusCode")
                throttled = error.get("Code") in _THROTTLED or status == 429
                if throttled and attempt + 1 < REST_ATTEMPTS:
                    self._sleep(min(8.0, 0.5 * 2**attempt))
                    continue
                if missing_ok and status == 404:
                    return None
                raise RestApiError(self._rest_problem(method, path, exc)) from None
            except BotoCoreError as exc:
                raise RestApiError(
                    f"environment {self.name!r}: Airflow REST API {method} {path} failed: {aws_problem(exc)}"
                ) from None
        raise AssertionError("unreachable")

    def _rest_problem(self, method: str, path: str, exc: ClientError) -> str:
        """One line for a refused call: Airflow's own answer (RestApiClientException: 4xx,
        RestApiServerException: 5xx), MWAA's, or its throttling after every retry."""
        error = exc.response.get("Error", {})
        status = exc.response.get("RestApiStatusCode")
        answer = exc.response.get("RestApiResponse")
        detail = (
            ((answer.get("detail") or answer.get("title") or answer) if isinstance(answer, Mapping) else answer)
            or error.get("Message")
            or error.get("Code")
        )
        detail = " ".join(str(detail).split())[:300]
        if error.get("Code") in _THROTTLED or status == 429:
            hint = f"; still throttled after {REST_ATTEMPTS} attempts: run again later or with fewer runs at once"
        elif status in (401, 403) or error.get("Code") == "AccessDeniedException":
            hint = "; the caller needs airflow:InvokeRestApi on the environment and an Airflow role that may " + (
                "read DAGs" if method == "GET" else "edit, trigger and delete DAGs (Op or Admin)"
            )
        elif status is not None and status >= 500:
            hint = "; the environment's web server failed: check its health in the MWAA console and run again"
        else:
            hint = ""
        return (
            f"environment {self.name!r}: Airflow REST API {method} {path} failed"
            f"{f' with HTTP {status}' if status else ''}: {detail}{hint}"
        )

    def rest_pages(self, path: str, key: str, query: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a paginated collection, 100 at a time."""
        offset = 0
        while True:
            page = self.rest(path, {**(query or {}), "limit": REST_PAGE_SIZE, "offset": offset}) or {}
            items = page.get(key) or []
            yield from items
            offset += len(items)
            if not items or offset >= int(page.get("total_entries", 0)):
                return

    def dag_report(self) -> DagReport:
        """What the environment's own dag-processor made of its DAGs, as its REST API reports it."""
        version = self.airflow_version
        in_bucket = {path.relative_to(self.dags_path()).as_posix() for path in self.dags_path().rglob("*.py")}
        errors = {
            _relative(item.get("filename", ""), in_bucket): item.get("stack_trace") or ""
            for item in self.rest_pages("/importErrors", "import_errors")
        }
        dags: dict[str, DagShape] = {}
        unreadable: dict[str, list[str]] = {}  # file -> DAG ids too long for InvokeRestApi's 64-character Path
        listed = [item for item in self.rest_pages("/dags", "dags") if not is_agent(item["dag_id"])]
        with progress.step(f"{self.name}: reading {len(listed)} DAG(s) through the REST API"):
            for listing in listed:
                dag_id = listing["dag_id"]
                details_path = f"/dags/{quote(dag_id, safe='')}/details"
                if len(details_path) > REST_PATH_LIMIT:
                    shape = _shape(dag_id, listing, [], in_bucket)
                    unreadable.setdefault(shape.fileloc, []).append(dag_id)
                    dags[dag_id] = shape
                    continue
                details = self.rest(details_path) or {}
                tasks = (self.rest(f"/dags/{quote(dag_id, safe='')}/tasks") or {}).get("tasks") or []
                dags[dag_id] = _shape(dag_id, {**listing, **details}, tasks, in_bucket)
        files = in_bucket | set(errors) | {shape.fileloc for shape in dags.values()}
        options = self.description.get("AirflowConfigurationOptions") or {}
        reports = tuple(
            FileReport(
                path=path,
                dag_ids=tuple(sorted(d for d, shape in dags.items() if shape.fileloc == path)),
                import_error=errors.get(path),
                warnings=(),
                parse_seconds=None,  # not reported by the REST API
                tool_error=_unreadable_line(unreadable[path]) if path in unreadable else None,
            )
            for path in sorted(files)
        )
        return DagReport(
            airflow_version=str(version),
            python_version=_PYTHON.get(version.major, "unknown"),
            dagbag_import_timeout=float(options.get("core.dagbag_import_timeout", 30)),
            files=reports,
            dags=dags,
        )


def _delete_prefix(s3: Any, location: str, older_than: float | None = None) -> None:
    """Remove every object under an s3:// prefix (the agent's staged export, once read); with `older_than`
    (seconds), only those older: what runs killed before their cleanup left, never a live run's."""
    bucket, prefix = Location(location).bucket_and_prefix()
    oldest = datetime.now(UTC) - timedelta(seconds=older_than) if older_than is not None else None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        items = page.get("Contents", [])
        keys = [{"Key": item["Key"]} for item in items if oldest is None or item["LastModified"] < oldest]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def is_agent(dag_id: str) -> bool:
    """mwaa-verify's own agent DAG (deployed for a moment to reach the metadata): never the user's."""
    return dag_id.startswith(AGENT_PREFIX)


def _unreadable_line(dag_ids: list[str]) -> str:
    return (
        f"the tasks of DAG(s) {', '.join(sorted(dag_ids))} cannot be read through MWAA's InvokeRestApi: their "
        f"ids make its Path longer than {REST_PATH_LIMIT} characters; this file's DAGs were found (listed by "
        f"the dag-processor) but their tasks and schedule details were not compared"
    )


def exact_endpoint(client: Any, endpoint_url: str) -> None:
    """Send every request of `client` to `endpoint_url` itself: S3 Control's endpoint rules put the account id
    in front of the host (`123456789012.<endpoint>`), which a configured endpoint does not serve."""
    netloc = urlsplit(endpoint_url).netloc

    def to_endpoint(request: Any, **_: Any) -> None:
        request.url = urlunsplit(urlsplit(request.url)._replace(netloc=netloc))

    client.meta.events.register("before-sign.s3-control", to_endpoint)


def _relative(fileloc: str, in_bucket: set[str]) -> str:
    """A file's path in the DAGs folder, from the absolute path the 2.x API gives: under MWAA's DAGs folder,
    or else the longest path of a file in the bucket that it ends with."""
    if fileloc.startswith(MWAA_DAGS_FOLDER):
        return fileloc.removeprefix(MWAA_DAGS_FOLDER)
    endings = [path for path in in_bucket if fileloc == path or fileloc.endswith(f"/{path}")]
    return max(endings, key=len) if endings else fileloc.rsplit("/", 1)[-1]


def _shape(dag_id: str, dag: Mapping[str, Any], tasks: list[Mapping[str, Any]], in_bucket: set[str]) -> DagShape:
    ordered = sorted(tasks, key=lambda task: task["task_id"])
    return DagShape(
        dag_id=dag_id,
        fileloc=dag.get("relative_fileloc") or _relative(dag.get("fileloc") or "", in_bucket),
        task_ids=tuple(task["task_id"] for task in ordered),
        edges=tuple(sorted((t["task_id"], d) for t in ordered for d in t.get("downstream_task_ids") or [])),
        operators={task["task_id"]: _operator(task) for task in ordered},
        retries={task["task_id"]: int(task.get("retries") or 0) for task in ordered},
        schedule=rest_schedule(dag),
        tags=tuple(sorted(tag["name"] if isinstance(tag, Mapping) else str(tag) for tag in dag.get("tags") or [])),
        catchup=bool(dag.get("catchup")),
    )


def _operator(task: Mapping[str, Any]) -> str:
    ref = task.get("class_ref") or {}
    if ref.get("module_path") and ref.get("class_name"):
        return f"{ref['module_path']}.{ref['class_name']}"
    return str(task.get("operator_name") or ref.get("class_name") or "unknown")


def rest_schedule(dag: Mapping[str, Any]) -> dict[str, Any]:
    """The version-neutral schedule of dag_probe.py, from what the REST API shows (v1 schedule_interval,
    v2 timetable_summary). The REST API does not show a timetable's class, time zone or data intervals."""
    schedule: dict[str, Any] = {
        "timetable": "",
        "summary": str(dag.get("timetable_description") or dag.get("timetable_summary") or ""),
        "kind": "custom",
        "expression": None,
        "timezone": None,
        "data_interval": None,
    }
    text: str | None
    if "timetable_summary" not in dag:  # the 2.x API
        interval = dag.get("schedule_interval")
        if isinstance(interval, Mapping) and interval.get("__type") == "TimeDelta":
            seconds = timedelta(
                days=interval.get("days", 0), seconds=interval.get("seconds", 0),
                microseconds=interval.get("microseconds", 0),
            ).total_seconds()  # fmt: skip
            return {**schedule, "kind": "delta", "expression": seconds}
        text = interval.get("value") if isinstance(interval, Mapping) else None
        if interval is None and "dataset" in schedule["summary"].lower():
            return {**schedule, "kind": "asset"}
    else:
        text = dag.get("timetable_summary")
        if text and re.search(r"\b(asset|dataset)", text, re.IGNORECASE):
            return {**schedule, "kind": "asset"}
    if text in (None, "", "None"):
        return {**schedule, "kind": "none"}
    if text == "@once":
        return {**schedule, "kind": "once"}
    if text == "@continuous":
        return {**schedule, "kind": "continuous"}
    expression = _CRON_PRESETS.get(text, text)
    if len(expression.split()) in (5, 6):
        return {**schedule, "kind": "cron", "expression": expression}
    return schedule
