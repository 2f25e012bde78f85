"""One Environment per configured kind, behind the interface in base.py."""

from __future__ import annotations

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
from mwaa_verify.errors import EnvironmentStartError


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
