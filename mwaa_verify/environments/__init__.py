"""One Environment per configured kind, behind the interface in base.py."""

from __future__ import annotations

import dataclasses

from mwaa_verify.config import (
    Config,
    ContainerConfig,
    EnvironmentConfig,
    EphemeralConfig,
    LocalConfig,
    MwaaConfig,
    SnapshotConfig,
)
from mwaa_verify.environments.base import Environment
from mwaa_verify.errors import ConfigError, EnvironmentStartError


def with_container_mode(
    environment: EnvironmentConfig, keep: bool = False, attach: bool = False, strict: bool = True
) -> EnvironmentConfig:
    """The configuration with --keep / --attach applied (they mean something only to container environments:
    `strict` refuses them on another kind, else they leave it as it is)."""
    if not (keep or attach):
        return environment
    if not isinstance(environment, ContainerConfig):
        if not strict:
            return environment
        flag = "--attach" if attach else "--keep"
        raise ConfigError(
            f"{flag} applies to container environments; {environment.name!r} is of kind {environment.kind!r}: "
            f"drop {flag}"
        )
    return dataclasses.replace(environment, keep=environment.keep or keep, attach=environment.attach or attach)


def open_environment(environment: EnvironmentConfig, config: Config) -> Environment:
    """Build the environment a config entry describes; use the result as a context manager."""
    match environment:
        case LocalConfig():
            from mwaa_verify.environments.local import LocalEnvironment

            return LocalEnvironment(environment)
        case EphemeralConfig():
            from mwaa_verify.environments.ephemeral import EphemeralEnvironment

            return EphemeralEnvironment(environment, config.cache_dir)
        case MwaaConfig():
            from mwaa_verify.environments.mwaa import MwaaEnvironment

            return MwaaEnvironment(environment)
        case SnapshotConfig():
            from mwaa_verify.environments.snapshot import SnapshotEnvironment

            return SnapshotEnvironment(environment)
        case ContainerConfig():
            try:
                from mwaa_verify.environments.container import ContainerEnvironment
            except ImportError as exc:
                raise EnvironmentStartError(
                    f"environment {environment.name!r}: kind 'container' needs testcontainers and docker "
                    f"({exc.name} is missing); pip install 'mwaa-verify[docker]'"
                ) from None

            return ContainerEnvironment(environment)
    raise TypeError(f"not an environment config: {environment!r}")
