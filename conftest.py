"""Lets `pytest suites ...` work from a checkout where mwaa-verify is not installed.

Installed, the plugin arrives through its pytest11 entry point; registering it twice would be an error.
"""

import importlib.metadata


def _installed() -> bool:
    try:
        importlib.metadata.distribution("mwaa-verify")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


pytest_plugins = [] if _installed() else ["mwaa_verify.plugin"]
