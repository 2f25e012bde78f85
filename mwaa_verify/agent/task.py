"""What the agent DAG's one task does inside MWAA: export or import metadata, then write a small result JSON.

The same export and import code as a local run (migrate/export.py, migrate/import_.py) runs here, against the
environment's own database (agent/database.py finds it). The source is read in read-only transactions; an
import is one transaction, pausing and restoring DAGs as the local import does. The agent's own rows (its DAG,
run, task instance, job and event log rows) are never exported: they are not the user's history.

The result JSON holds counts and, on failure, one line (never a secret): the tool quotes it.
"""

from __future__ import annotations

import json
import os
import tempfile
import traceback
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from mwaa_verify.agent.database import Candidate, candidates, reachable_url
from mwaa_verify.airflow.secrets import FernetKeys, Redactor
from mwaa_verify.environments.base import DagReport, Environment, EnvironmentInfo, ExecutionRole, TaskLog
from mwaa_verify.environments.metadata_db import MetadataDatabase
from mwaa_verify.errors import MwaaVerifyError
from mwaa_verify.migrate.import_ import Journal

AGENT_PREFIX = "mwaa_verify_agent_"
OPERATIONS = ("export", "import")


class AgentDatabase(Environment):
    """The environment the agent runs in, as the export and import code see an environment: its database
    (read-only for reading), Airflow version and Fernet key. The agent's own rows are left out."""

    def __init__(self, candidate: Candidate, airflow_version: str, fernet_key: str) -> None:
        self.name = "this MWAA environment"
        self.kind = "mwaa-agent"
        self.sql_alchemy_conn = candidate.url  # the import writes through it
        self._version = airflow_version
        self._keys = FernetKeys.parse(fernet_key)
        self._database = MetadataDatabase(candidate.url)

    def close(self) -> None:
        self._database.close()

    def info(self) -> EnvironmentInfo:
        return EnvironmentInfo(self.name, self.kind, self._version, "")

    def tables(self) -> list[str]:
        return self._database.tables()

    def rows(self, table: str, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        for row in self._database.rows(table, since):
            if not str(row.get("dag_id") or "").startswith(AGENT_PREFIX):
                yield row

    def schema_revision(self) -> str | None:
        return self._database.schema_revision()

    def fernet_keys(self) -> FernetKeys:
        return self._keys

    def dag_report(self) -> DagReport:
        raise MwaaVerifyError("the agent reads metadata only")

    def task_logs(self, since: datetime | None = None) -> Iterator[TaskLog]:
        return iter(())

    def execution_role(self) -> ExecutionRole | None:
        return None


def run(conf: Mapping[str, Any], airflow: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Carry out `conf` (operation, location, since, include_secrets, digest_key, upload_args) against the
    database `environ` and Airflow's settings (`airflow`: version, sql_alchemy_conn, result_backend,
    fernet_key) point at; the result to report."""
    operation = conf.get("operation")
    if operation not in OPERATIONS:
        raise MwaaVerifyError(f"unknown agent operation {operation!r}; this agent does {', '.join(OPERATIONS)}")
    found = candidates(environ, airflow.get("sql_alchemy_conn"), airflow.get("result_backend"))
    candidate = reachable_url(found)
    database = AgentDatabase(candidate, str(airflow["version"]), str(airflow.get("fernet_key") or ""))
    try:
        if operation == "export":
            return {"database": candidate.source, **_export(database, conf)}
        return {"database": candidate.source, **_import(database, conf)}
    finally:
        database.close()


def _export(database: AgentDatabase, conf: Mapping[str, Any]) -> dict[str, Any]:
    from mwaa_verify.migrate.export import export_metadata

    since = datetime.fromisoformat(conf["since"]) if conf.get("since") else None
    digest_key = conf.get("digest_key")
    manifest = export_metadata(
        database,
        conf["location"],
        include_secrets=bool(conf.get("include_secrets")),
        since=since,
        secret_digests=Redactor(bytes.fromhex(digest_key)) if digest_key else None,
        extra_tables=tuple(conf.get("extra_tables") or ()),
        upload_args=conf.get("upload_args") or None,
    )
    return {
        "tables": {name: entry.rows for name, entry in manifest.tables.items()},
        "not_exported": manifest.not_exported,
        "airflow_version": manifest.airflow_version,
    }


def _import(database: AgentDatabase, conf: Mapping[str, Any]) -> dict[str, Any]:
    from mwaa_verify.migrate.import_ import import_metadata

    journal = S3Journal(conf["journal"], conf.get("upload_args") or {}) if conf.get("journal") else None
    with tempfile.TemporaryDirectory(prefix="mwaa-verify-agent-journal-") as directory:
        result = import_metadata(
            conf["location"], database, bool(conf.get("dry_run")), Path(directory), journal=journal
        )
    return {
        "tables": {
            name: {
                "read": outcome.rows_read,
                "written": outcome.rows_written,
                "not_migratable": outcome.not_migratable,
                "examples": outcome.not_migratable_examples,
                "skipped": outcome.skipped,
            }
            for name, outcome in result.tables.items()
        },
        "paused_dags": result.paused_dags,
        "dry_run": result.dry_run,
        "dags_missing_on_target": result.dags_missing_on_target,
    }


class S3Journal(Journal):
    """The import journal in S3 (`s3://bucket/key`): an MWAA worker's disk does not outlive it, so an import
    killed inside MWAA has its DAGs' paused state restored by the next import into the same environment."""

    def __init__(self, location: str, upload_args: Mapping[str, Any]) -> None:
        import boto3

        self.bucket, _, self.key = location.removeprefix("s3://").partition("/")
        self.upload_args = dict(upload_args)
        self.s3 = boto3.session.Session().client("s3")

    def _read(self) -> dict[str, bool] | None:
        from botocore.exceptions import ClientError

        try:
            return json.loads(self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def _write(self, states: dict[str, bool]) -> None:
        body = json.dumps(states).encode()
        self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body, **self.upload_args)

    def _clear(self) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.key)


def run_in_task(conf: Mapping[str, Any], nonce: str) -> None:
    """The agent DAG's callable: run, write the result JSON next to the location, fail the task on error."""
    import airflow

    if conf.get("nonce") != nonce:
        raise MwaaVerifyError(
            f"this agent ({nonce}) was triggered with another run's conf ({conf.get('nonce')!r}); not running"
        )
    settings = {"version": airflow.__version__, **_airflow_settings()}
    try:
        outcome: dict[str, Any] = {"ok": True, **run(conf, settings, os.environ)}
    except MwaaVerifyError as exc:
        outcome = {"ok": False, "error": str(exc)}
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {text} (at {where}): a fault of mwaa-verify's agent"}
    write_result(conf["result"], outcome, conf.get("upload_args") or {})
    if not outcome["ok"]:
        raise RuntimeError(f"mwaa-verify agent failed: {outcome['error']}")


def _airflow_settings() -> dict[str, Any]:
    """Airflow's database URL, Celery result backend and Fernet key, as this task process sees them."""
    from airflow.configuration import conf

    found: dict[str, Any] = {}
    for key, section, option in (
        ("sql_alchemy_conn", "database", "sql_alchemy_conn"),
        ("result_backend", "celery", "result_backend"),
        ("fernet_key", "core", "fernet_key"),
    ):
        try:
            found[key] = conf.get(section, option, fallback=None)
        except Exception:
            found[key] = None
    return found


def write_result(location: str, outcome: Mapping[str, Any], upload_args: Mapping[str, Any]) -> None:
    import boto3

    bucket, _, key = location.removeprefix("s3://").partition("/")
    body = json.dumps(outcome, sort_keys=True, default=str).encode()
    boto3.session.Session().client("s3").put_object(Bucket=bucket, Key=key, Body=body, **dict(upload_args))
