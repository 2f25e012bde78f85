"""Reads environment definitions from `mwaa-verify.toml` or `[tool.mwaa_verify]` in pyproject.toml.

One typed config object per environment kind. Every problem is reported as a ConfigError that names the
file, the key and the fix, so a user never has to read a traceback to correct a typo.
"""

from __future__ import annotations

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
    kind: str = "container"


@dataclass(frozen=True)
class MwaaConfig:
    """A real Amazon MWAA environment, reached through boto3."""

    name: str
    environment_name: str
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    kind: str = "mwaa"


EnvironmentConfig = LocalConfig | EphemeralConfig | ContainerConfig | MwaaConfig


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
        cache_dir = _path(data["cache_dir"], base, f"{where}: cache_dir")
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
        bucket = _string(bucket, base, f"{where} [verify] migration_bucket")
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


def _path(value: Any, base: Path, where: str) -> Path:
    # absolute but with symlinks kept: a virtualenv's bin/python resolved to its base interpreter
    # would lose the virtualenv and with it Airflow
    return Path(os.path.abspath(base / Path(_string(value, base, where)).expanduser()))


def _existing_dir(value: Any, base: Path, where: str) -> Path:
    path = _path(value, base, where)
    if not path.is_dir():
        raise ConfigError(f"{where} = {value!r}: directory {path} does not exist; create it or fix the path")
    return path


def _existing_file(value: Any, base: Path, where: str) -> Path:
    path = _path(value, base, where)
    if not path.is_file():
        raise ConfigError(f"{where} = {value!r}: file {path} does not exist; fix the path")
    return path


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
    text = _string(value, base, where)
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


KINDS: dict[str, tuple[type, dict[str, tuple[bool, Converter]]]] = {
    "local": (
        LocalConfig,
        {
            "python": (True, _existing_file),
            "sql_alchemy_conn": (True, _string),
            "dags_folder": (True, _existing_dir),
            "base_log_folder": (False, _path),
            "airflow_home": (False, _path),
            "policy_file": (False, _existing_file),
        },
    ),
    "ephemeral": (
        EphemeralConfig,
        {
            "airflow_version": (True, _airflow_version),
            "dags_folder": (False, _existing_dir),
            "python_version": (False, _string),
            "requirements": (False, _string_list),
            "airflow_config": (False, _string_table),
            "workdir": (False, _path),
            "policy_file": (False, _existing_file),
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
        },
    ),
    "mwaa": (
        MwaaConfig,
        {
            "environment_name": (True, _mwaa_name),
            "region": (False, _region),
            "profile": (False, _string),
            "endpoint_url": (False, _url),
        },
    ),
}


def _parse_environment(name: str, table: Any, base: Path, where: str) -> EnvironmentConfig:
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
