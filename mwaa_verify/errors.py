"""Exceptions a user can act on: each names the thing that is wrong and how to fix it.

The CLI and the pytest plugin print these as one message, never as a traceback.
"""


class MwaaVerifyError(Exception):
    """Base of every error that carries a message meant for the user."""


class ConfigError(MwaaVerifyError):
    """The configuration file is missing, unreadable or invalid."""


class UnknownEnvironmentError(ConfigError):
    """An environment name that the configuration does not define."""


class EnvironmentStartError(MwaaVerifyError):
    """An environment could not be provisioned or reached."""


class ProbeError(MwaaVerifyError):
    """The DAG probe could not run inside an environment's interpreter."""


class MetadataError(MwaaVerifyError):
    """A metadata table could not be read."""


class ExportError(MwaaVerifyError):
    """An export is missing, corrupt, or does not match what it is imported into."""


class ImportRefused(MwaaVerifyError):
    """An import that would not leave the target a faithful copy was refused before it wrote anything."""


def aws_problem(exc: Exception) -> str:
    """One line for an AWS failure, with the fix for the usual causes."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    # "Parameter validation failed:" says what is wrong only on its next line
    text = f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    if type(exc).__name__ in {"NoCredentialsError", "PartialCredentialsError"}:
        return (
            f"{text}; configure credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or `aws configure`)"
        )
    if type(exc).__name__ == "ProfileNotFound":
        return f"{text}; define the profile in ~/.aws/config, or fix 'profile' in mwaa-verify.toml"
    if type(exc).__name__ == "NoRegionError":
        return f"{text}; set AWS_DEFAULT_REGION or the environment's region in mwaa-verify.toml"
    return text
