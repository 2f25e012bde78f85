"""`mwaa-verify snapshot`: freeze what the suites read from an environment, so it can be verified against later.

An in-place upgrade leaves one environment: the "source" of the verification is that environment as it was
before. A snapshot holds everything the suites ask an environment for: the metadata export (the export format,
secrets as keyed digests unless asked for in clear), the DAG report, info() with its configuration, MWAA's
platform settings and description where there are any, the execution role's policies, an index of task logs
(name, line count, digest; the logs themselves with --include-logs) and the DAG files. `snapshot.json` lists
every file with its sha256, so a snapshot that was changed afterwards is refused. The source is only read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mwaa_verify import progress
from mwaa_verify.airflow.column_map import DERIVED_TABLES
from mwaa_verify.airflow.config_map import is_sensitive
from mwaa_verify.airflow.secrets import OPTION_DIGESTS, Redactor
from mwaa_verify.environments.base import DagReport, Environment, EnvironmentInfo, ExecutionRole, TaskLog
from mwaa_verify.errors import ExportError, MwaaVerifyError
from mwaa_verify.iam.evaluate import Policy
from mwaa_verify.migrate.export import export_metadata
from mwaa_verify.migrate.location import SNAPSHOT_MANIFEST, Location, staged_for_writing

FORMAT = "mwaa-verify-snapshot/1"
METADATA_DIR = "metadata"
LOGS_DIR = "logs"
DAGS_DIR = "dags"
INFO_FILE = "info.json"
DAG_REPORT_FILE = "dag_report.json"
ROLE_FILE = "execution_role.json"
PLATFORM_FILE = "platform_settings.json"
DESCRIPTION_FILE = "mwaa_description.json"
LOG_INDEX_FILE = "task_logs.jsonl"


@dataclass
class SnapshotManifest:
    source_name: str
    source_kind: str
    airflow_version: str
    created_at: str
    secrets: str  # "digests" (keyed, comparable) or "decrypted" (importable, like an export with --include-secrets)
    logs_included: bool
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    missing: dict[str, str] = field(default_factory=dict)  # what the source could not give, and why
    secret_digest_key: str | None = None  # hex; the key its secret digests (rows, Airflow options) were made with

    def to_json(self) -> str:
        data = {"format": FORMAT, **dataclasses.asdict(self)}
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def parse(cls, text: str, where: str) -> SnapshotManifest:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ExportError(f"{where} is format {data.get('format')!r}, not {FORMAT!r}; snapshot again")
            del data["format"]
            return cls(**data)
        except (json.JSONDecodeError, TypeError, AttributeError, KeyError) as exc:
            raise ExportError(
                f"{where} is not a snapshot manifest ({type(exc).__name__}); point at a directory or s3:// prefix "
                f"written by `mwaa-verify snapshot`"
            ) from None


def take_snapshot(
    source: Environment,
    destination: str | Path,
    include_logs: bool = False,
    include_secrets: bool = False,
) -> SnapshotManifest:
    location = Location(str(destination))
    redactor = Redactor()
    OPTION_DIGESTS.rekey(redactor.key)  # secret-looking Airflow options (MWAA's) digested with the snapshot's key
    info = source.info()
    manifest = SnapshotManifest(
        source_name=source.name,
        source_kind=source.kind,
        airflow_version=info.airflow_version,
        created_at=datetime.now(UTC).isoformat(),
        secrets="decrypted" if include_secrets else "digests",
        logs_included=include_logs,
        secret_digest_key=redactor.key.hex(),
    )
    with staged_for_writing(location, SNAPSHOT_MANIFEST) as staging:
        _write_json(staging / INFO_FILE, dataclasses.asdict(info))
        try:
            export_metadata(
                source, staging / METADATA_DIR, include_secrets, secret_digests=redactor, extra_tables=DERIVED_TABLES
            )
        except MwaaVerifyError as exc:
            manifest.missing[METADATA_DIR] = str(exc)
        with progress.step(f"{source.name}: parsing the DAGs for the snapshot"):
            report = _or_missing(source.dag_report, manifest, DAG_REPORT_FILE)
        if report is not None:
            _write_json(staging / DAG_REPORT_FILE, dag_report_json(report))
        role = _or_missing(source.execution_role, manifest, ROLE_FILE)
        _write_json(staging / ROLE_FILE, role_json(role) if role is not None else None)
        settings = source.platform_settings()
        if settings is not None:
            _write_json(staging / PLATFORM_FILE, dict(settings))
        description = source.mwaa_description()
        if description is not None:
            _write_json(staging / DESCRIPTION_FILE, _without_secrets(description))
        _copy_dags(source, staging / DAGS_DIR)
        try:
            _write_log_index(source, staging, include_logs)
        except MwaaVerifyError as exc:
            manifest.missing[LOG_INDEX_FILE] = str(exc)
            (staging / LOG_INDEX_FILE).unlink(missing_ok=True)
            shutil.rmtree(staging / LOGS_DIR, ignore_errors=True)
        manifest.files = {
            path.relative_to(staging).as_posix(): file_sha256(path)
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        }
        (staging / SNAPSHOT_MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    progress.say(f"snapshot of {source.name} written to {location}: {len(manifest.files)} files")
    return manifest


def _without_secrets(description: Mapping[str, Any]) -> dict[str, Any]:
    """MWAA's description with secret-looking Airflow options as the same keyed digests info() shows."""
    options = description.get("AirflowConfigurationOptions") or {}
    digested = {name: OPTION_DIGESTS.digest(value) if is_sensitive(name) else value for name, value in options.items()}
    return {**description, "AirflowConfigurationOptions": digested} if options else dict(description)


def _or_missing(read: Any, manifest: SnapshotManifest, what: str) -> Any:
    """What the source gives, or None with the reason recorded: a snapshot holds what the kind can show."""
    try:
        return read()
    except MwaaVerifyError as exc:
        manifest.missing[what] = str(exc)
        return None


def _copy_dags(source: Environment, destination: Path) -> None:
    folder = source.dags_path()
    destination.mkdir()
    if folder is not None and folder.is_dir():
        shutil.copytree(folder, destination, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    requirements = source.requirements_file()
    if requirements is not None and not (destination / "requirements.txt").exists():
        shutil.copy(requirements, destination / "requirements.txt")


def _write_log_index(source: Environment, staging: Path, include_logs: bool) -> None:
    what = f"{source.name}: indexing task logs" + (" and copying them" if include_logs else "")
    with progress.step(what), (staging / LOG_INDEX_FILE).open("w", encoding="utf-8") as index:
        for log in source.task_logs():
            index.write(json.dumps(dataclasses.asdict(log), sort_keys=True) + "\n")
            if include_logs:
                path = log_file(staging, log.name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(source.read_task_log(log))


def log_file(root: Path, name: str) -> Path:
    """Where a snapshot keeps a task log: under logs/, whatever the log's name (a path or a stream name)."""
    path = (root / LOGS_DIR / name).resolve()
    if not path.is_relative_to((root / LOGS_DIR).resolve()):
        raise ExportError(f"task log name {name!r} points outside the snapshot")
    return path


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True, default=_json_default), encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, frozenset | set | tuple):
        return sorted(value) if isinstance(value, frozenset | set) else list(value)
    raise TypeError(f"cannot write {type(value).__name__} into a snapshot")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- the frozen values, read back ---------------------------------------------------------------------------


def dag_report_json(report: DagReport) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(report), default=_json_default))


def role_json(role: ExecutionRole) -> dict[str, Any]:
    def policy(item: Policy | None) -> dict[str, Any] | None:
        return None if item is None else {"name": item.name, "document": item.document}

    return {
        "name": role.name,
        "arn": role.arn,
        "policies": [policy(item) for item in role.policies],
        "permissions_boundary": policy(role.permissions_boundary),
        "trust_policy": policy(role.trust_policy),
    }


def role_from_json(data: Mapping[str, Any] | None) -> ExecutionRole | None:
    if data is None:
        return None

    def policy(item: Mapping[str, Any] | None) -> Policy | None:
        return None if item is None else Policy(item["name"], item["document"])

    return ExecutionRole(
        name=data["name"],
        arn=data["arn"],
        policies=tuple(Policy(item["name"], item["document"]) for item in data["policies"]),
        permissions_boundary=policy(data["permissions_boundary"]),
        trust_policy=policy(data["trust_policy"]),
    )


def info_from_json(data: Mapping[str, Any], name: str) -> EnvironmentInfo:
    return EnvironmentInfo(
        name=name,
        kind="snapshot",
        airflow_version=data["airflow_version"],
        python_version=data["python_version"],
        config_options=dict(data["config_options"]),
        explicit_options=frozenset(data["explicit_options"]),
        requirements=tuple(data["requirements"]),
        plugins=tuple(data["plugins"]),
        database=data.get("database", ""),
    )


def task_logs_from_index(path: Path) -> Iterator[TaskLog]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield TaskLog(**json.loads(line))
