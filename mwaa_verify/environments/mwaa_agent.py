"""The agent DAG's lifecycle on an MWAA environment: deploy, run, collect, remove.

MWAA exposes its metadata database to nothing but its own tasks, so mwaa-verify ships one: a zip in the DAGs
prefix (Airflow parses only the root-level .py of a zip as a DAG; the mwaa_verify modules it needs ride along
as importable packages, built from this installation, so the code that runs there is the code that runs here).
The DAG id `mwaa_verify_agent_<nonce>` is unique per run and recognisable, so a later run removes what an
interrupted one left. Order: permissions (refused before any upload) -> leftovers -> upload -> wait until the
environment's dag-processor parsed it -> unpause -> trigger with a conf -> poll the run -> read its result JSON
-> remove (S3 object, pause, REST DELETE), the removal also on failure, timeout, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import ast
import io
import json
import secrets
import time
import zipfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from mwaa_verify import ownership, progress
from mwaa_verify.agent.task import AGENT_PREFIX
from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.iam.requirements import EnvironmentArn, Need, RequirementGroup, Surroundings, shortfalls
from mwaa_verify.migrate.location import Location

if TYPE_CHECKING:
    from mwaa_verify.environments.mwaa import MwaaEnvironment

ENTRY_MODULE = "mwaa_verify.agent.task"
POLL_SECONDS = 3.0
PROGRESS_EVERY_SECONDS = 30.0
REMOVAL_WAIT_SECONDS = 120.0  # until the environment's workers no longer have the agent's file
# the DAG file at the root of the zip; it imports nothing of mwaa_verify while parsed (the dag-processor
# removes the zip from sys.path after parsing, so the task puts it back before importing the agent)
DAG_TEMPLATE = '''"""mwaa-verify agent {dag_id}: deployed for one run by `mwaa-verify`, removed afterwards."""
import os
import sys
from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:
    from airflow.operators.python import PythonOperator

ARCHIVE = os.path.dirname(os.path.abspath(__file__))


def _agent(**context):
    if ARCHIVE not in sys.path:
        sys.path.insert(0, ARCHIVE)
    from mwaa_verify.agent.task import run_in_task

    run_in_task(context["dag_run"].conf or {{}}, {nonce!r})


with DAG(
    dag_id={dag_id!r},
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["mwaa-verify"],
):
    PythonOperator(task_id="agent", python_callable=_agent, retries=0)
'''


class AgentError(MwaaVerifyError):
    """The agent could not be deployed, did not finish, or failed; the line says where and why."""


def bundled_modules(entry: str = ENTRY_MODULE) -> dict[str, bytes]:
    """The mwaa_verify modules the agent imports, with their packages' __init__ files and data files, as
    `path in the zip -> content`: the agent's own modules with every import (also those inside functions),
    the modules they reach through module-level imports (others' function-level imports serve code paths the
    agent never takes, such as starting environments)."""
    root = Path(str(resources.files("mwaa_verify"))).parent
    files: dict[str, bytes] = {}
    pending = [entry]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_path(root, name)
        if path is None:
            continue
        relative = path.relative_to(root).as_posix()
        files[relative] = path.read_bytes()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deep = name.startswith("mwaa_verify.agent")
        pending += [package, *_imports(path.read_text(encoding="utf-8"), package, deep)]
        for data in path.parent.glob("*.json"):
            files.setdefault(data.relative_to(root).as_posix(), data.read_bytes())
    return files


def _module_path(root: Path, name: str) -> Path | None:
    if not name.startswith("mwaa_verify"):
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(source: str, package: str, deep: bool) -> list[str]:
    """Modules of mwaa_verify a module's source imports: `import a.b`, `from a import b` (b may be a module);
    with `deep`, also the imports inside its functions."""
    found = []
    tree = ast.parse(source)
    nodes = ast.walk(tree) if deep else _module_level(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            found += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return [name for name in found if name.startswith("mwaa_verify")]


def _module_level(tree: ast.Module) -> list[ast.stmt]:
    """The statements a module runs when imported: its body, inside top-level if/try blocks too."""
    found: list[ast.stmt] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        found.append(node)
        if isinstance(node, ast.If | ast.Try):
            pending += [*node.body, *node.orelse, *getattr(node, "finalbody", [])]
            pending += [statement for handler in getattr(node, "handlers", []) for statement in handler.body]
    return found


def agent_zip(dag_id: str, nonce: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{dag_id}.py", DAG_TEMPLATE.format(dag_id=dag_id, nonce=nonce))
        for path, content in sorted(bundled_modules().items()):
            archive.writestr(path, content)
    return buffer.getvalue()


class Agent:
    """One environment's agent runs. `run(operation, location, conf)` deploys, runs and removes one agent."""

    def __init__(self, environment: MwaaEnvironment, clock: Callable[[], float] = time.monotonic) -> None:
        self.environment = environment
        self._clock = clock

    @property
    def name(self) -> str:
        return self.environment.name

    @property
    def _dags_prefix(self) -> str:
        return self.environment.description.get("DagS3Path", "dags").strip("/")

    def upload_args(self) -> dict[str, str]:
        """SSE-KMS with the environment's customer key, where it has one; else the bucket's own encryption."""
        key = self.environment.description.get("KmsKey")
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key} if key else {}

    # -- the whole round trip ---------------------------------------------------------------------------------

    def run(self, operation: str, location: str, conf: Mapping[str, Any], writes: tuple[str, ...]) -> dict[str, Any]:
        """Deploy an agent, have it do `operation` on `location`, and remove it; its result. `writes`: the S3
        locations the execution role must be able to write (and read)."""
        self.check_permissions(writes, deletes=operation == "import")
        self.remove_leftovers()
        nonce = secrets.token_hex(4)
        dag_id = f"{AGENT_PREFIX}{nonce}"
        key = f"{self._dags_prefix}/{dag_id}.zip"
        result = f"{writes[0].rstrip('/')}/agent-result-{nonce}.json"
        full_conf = {
            **conf, "operation": operation, "location": location, "nonce": nonce, "result": result,
            "upload_args": self.upload_args(),
        }  # fmt: skip
        deadline = self._clock() + self.environment.config.agent_timeout
        try:
            with ownership.deferred_signals():
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=agent_zip(dag_id, nonce))
            with progress.step(f"{self.name}: agent {dag_id} ({operation}) deployed, waiting for MWAA to parse it"):
                self._wait_parsed(dag_id, key, deadline)
            self.environment.rest(f"/dags/{dag_id}", self._pause_query(), "PATCH", {"is_paused": False})
            self.environment.rest(f"/dags/{dag_id}/dagRuns", None, "POST", self._trigger_body(nonce, full_conf))
            with progress.step(f"{self.name}: agent {dag_id} running {operation}"):
                state = self._wait_run(dag_id, nonce, deadline)
            outcome = self._read_result(result)
        finally:
            with ownership.deferred_signals(), progress.step(f"{self.name}: removing agent {dag_id}"):
                self._remove(dag_id, key, result)
        if outcome is None:
            raise AgentError(
                f"environment {self.name!r}: the agent run ended {state} without writing its result; its task log "
                f"(CloudWatch group airflow-{self.environment.config.environment_name}-Task, DAG {dag_id}) says why"
            )
        if not outcome.get("ok"):
            raise AgentError(f"environment {self.name!r}: the agent's {operation} failed: {outcome.get('error')}")
        return outcome

    # -- permissions first ------------------------------------------------------------------------------------

    def check_permissions(self, writes: tuple[str, ...], deletes: bool = False) -> None:
        """Refuse, before anything is uploaded, when the execution role cannot read and write where the agent
        writes (and delete there: an import's journal), by the IAM evaluator on its policies, or the caller
        cannot put and delete the agent's file."""
        description = self.environment.description
        arn = EnvironmentArn.parse(description["Arn"])
        needs: list[Need] = []
        for text in writes:
            bucket, prefix = Location(text).bucket_and_prefix()
            objects = arn.bucket_arn(bucket) + (f"/{prefix}/*" if prefix else "/*")
            needs += [Need("s3:PutObject", objects), Need("s3:GetObject", objects)]
            needs += [Need("s3:DeleteObject", objects)] if deletes and text == writes[0] else []
            needs.append(Need("s3:ListBucket", arn.bucket_arn(bucket)))
        if description.get("KmsKey"):
            needs += [Need("kms:GenerateDataKey", description["KmsKey"]), Need("kms:Decrypt", description["KmsKey"])]
        role = self.environment.execution_role()
        group = RequirementGroup("agent-location", "the agent DAG writes its export and result there", tuple(needs))
        missing = shortfalls(group, role.policies, role.permissions_boundary, Surroundings(principal=role.arn))
        if missing:
            raise AgentError(
                f"environment {self.name!r}: its execution role {role.name} cannot use {', '.join(writes)}, where "
                f"the agent DAG would write ({'; '.join(map(str, missing))}); nothing was deployed. Grant it "
                f"s3:GetObject, s3:PutObject{', s3:DeleteObject' if deletes else ''} and s3:ListBucket there, or "
                f"choose a location it may write"
            )
        self._check_caller(arn)

    def _check_caller(self, arn: EnvironmentArn) -> None:
        from mwaa_verify.iam.caller import _simulable, _simulated_denials

        objects = f"{arn.bucket_arn(self._bucket)}/{self._dags_prefix}/{AGENT_PREFIX}*"
        needs = [Need("s3:PutObject", objects), Need("s3:DeleteObject", objects)]
        try:
            caller = self.environment.aws_client("sts").get_caller_identity()["Arn"]
        except (BotoCoreError, ClientError):
            return  # the upload itself says it, before anything is deployed
        denied = _simulated_denials(self.environment.aws_client("iam"), caller, needs) if _simulable(caller) else None
        if denied:
            raise AgentError(
                f"environment {self.name!r}: the caller {caller} may not deploy the agent DAG ({', '.join(denied)} "
                f"on {objects}); nothing was deployed. Grant it s3:PutObject and s3:DeleteObject there"
            )

    # -- S3 and REST steps ------------------------------------------------------------------------------------

    @property
    def _s3(self) -> Any:
        return self.environment.aws_client("s3")

    @property
    def _bucket(self) -> str:
        return self.environment.bucket

    @property
    def _v1(self) -> bool:
        return self.environment.airflow_version.major < 3

    def _pause_query(self) -> dict[str, str] | None:
        return {"update_mask": "is_paused"} if self._v1 else None

    def _trigger_body(self, nonce: str, conf: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"dag_run_id": nonce, "conf": dict(conf)}
        if not self._v1:
            body["logical_date"] = None  # required (may be null) by the v2 API
        return body

    def _wait_parsed(self, dag_id: str, key: str, deadline: float) -> None:
        polls = 0
        while self.environment.rest(f"/dags/{dag_id}", missing_ok=True) is None:
            polls += 1
            if polls % 5 == 0 and (error := self._import_error(f"{dag_id}.zip")):
                raise AgentError(f"environment {self.name!r}: its dag-processor could not import the agent: {error}")
            self._wait(deadline, f"the dag-processor to parse the agent s3://{self._bucket}/{key}")

    def _import_error(self, file_name: str) -> str | None:
        from mwaa_verify.environments.base import error_headline

        for item in self.environment.rest_pages("/importErrors", "import_errors"):
            if file_name in str(item.get("filename", "")):
                return error_headline(item.get("stack_trace") or "")
        return None

    def _wait_run(self, dag_id: str, nonce: str, deadline: float) -> str:
        started = self._clock()
        said = started
        while True:
            run = self.environment.rest(f"/dags/{dag_id}/dagRuns/{nonce}") or {}
            state = str(run.get("state"))
            if state in ("success", "failed"):
                return state
            if self._clock() - said >= PROGRESS_EVERY_SECONDS:
                said = self._clock()
                progress.say(f"{self.name}: agent run {state} for {said - started:.0f} s")
            self._wait(deadline, f"the agent run to finish (it is {state})")

    def _wait(self, deadline: float, what: str) -> None:
        if self._clock() >= deadline:
            raise AgentError(
                f"environment {self.name!r}: timed out after {self.environment.config.agent_timeout:g} s waiting for "
                f"{what}; the agent was removed. Raise agent_timeout in its configuration, or check the "
                f"environment's scheduler and workers"
            )
        time.sleep(POLL_SECONDS)

    def _read_result(self, result: str) -> dict[str, Any] | None:
        bucket, key = Location(result).bucket_and_prefix()
        s3 = self.environment.aws_client("s3")
        try:
            return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def _remove(self, dag_id: str, key: str, result: str | None) -> None:
        """Delete the agent's object and result, pause it (no new run), wait until the dag-processor saw its
        file go (else a parse in flight re-creates what DELETE removed), then delete it through REST. Every
        step is tried; what could not be removed is named (a later run removes it too)."""
        left = []
        steps: list[tuple[str, Callable[[], Any]]] = [
            (f"s3://{self._bucket}/{key}", lambda: self._s3.delete_object(Bucket=self._bucket, Key=key)),
            (f"DAG {dag_id} (pause)", lambda: self.environment.rest(
                f"/dags/{dag_id}", self._pause_query(), "PATCH", {"is_paused": True}, missing_ok=True)),
            (f"DAG {dag_id} (file gone)", lambda: self._wait_deactivated(dag_id)),
            (f"DAG {dag_id}", lambda: self.environment.rest(f"/dags/{dag_id}", None, "DELETE", missing_ok=True)),
        ]  # fmt: skip
        if result:
            bucket, result_key = Location(result).bucket_and_prefix()
            steps.append((result, lambda: self._s3.delete_object(Bucket=bucket, Key=result_key)))
        for what, step in steps:
            try:
                step()
            except (MwaaVerifyError, BotoCoreError, ClientError) as exc:
                left.append(f"{what}: {exc}")
        if left:
            progress.say(f"{self.name}: could not remove the agent fully (the next run retries): {'; '.join(left)}")

    def _wait_deactivated(self, dag_id: str) -> None:
        """Until the environment no longer lists the DAG as active (its file is gone from the workers)."""
        deadline = self._clock() + REMOVAL_WAIT_SECONDS
        while True:
            dag = self.environment.rest(f"/dags/{dag_id}", missing_ok=True)
            if dag is None or dag.get("is_active") is False or dag.get("is_stale") is True:
                return
            if self._clock() >= deadline:
                raise AgentError(f"its file was still listed after {REMOVAL_WAIT_SECONDS:g} s")
            time.sleep(POLL_SECONDS)

    def _listing_query(self) -> dict[str, str]:
        """List agents whether their file is still there or not (2.x: only_active, 3.x: exclude_stale)."""
        scope = {"only_active": "false"} if self._v1 else {"exclude_stale": "false"}
        return {"dag_id_pattern": AGENT_PREFIX, **scope}

    # -- leftovers of interrupted runs ------------------------------------------------------------------------

    def remove_leftovers(self) -> int:
        """Remove agents earlier runs left (killed before their removal): objects older than the agent timeout
        (a younger one may belong to a run still going), and DAGs whose object is gone."""
        prefix = f"{self._dags_prefix}/{AGENT_PREFIX}"
        young = datetime.now(UTC) - timedelta(seconds=self.environment.config.agent_timeout)
        live: set[str] = set()
        removed = 0
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                dag_id = Path(item["Key"]).stem
                if item["LastModified"] > young:
                    live.add(dag_id)
                    continue
                self._s3.delete_object(Bucket=self._bucket, Key=item["Key"])
                removed += 1
        for dag in list(self.environment.rest_pages("/dags", "dags", self._listing_query())):
            if dag["dag_id"].startswith(AGENT_PREFIX) and dag["dag_id"] not in live:
                self._remove(dag["dag_id"], f"{self._dags_prefix}/{dag['dag_id']}.zip", None)
                removed += 1
        if removed:
            progress.say(f"{self.name}: removed {removed} agent(s) an interrupted earlier run left behind")
        return removed
