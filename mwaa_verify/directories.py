"""Directories the tool writes into, checked before any slow work: a path that cannot be written fails in one
line naming the path and the fix, not in a traceback half-way through an hour-long run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mwaa_verify.errors import ConfigError


def check_writable_directory(path: Path, what: str) -> None:
    """`path` is a directory this process can write into, or one it can create; nothing is left behind."""
    path = Path(os.path.abspath(path.expanduser()))
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file, not a directory; choose a directory (it is created if missing)")
    existing = next(parent for parent in (path, *path.parents) if parent.exists())
    if not existing.is_dir():
        raise ConfigError(f"{what} {path} cannot be created: {existing} is a file; choose a path under a directory")
    try:
        # a real write, not os.access: root passes os.access everywhere, read-only mounts and /proc do not
        with tempfile.TemporaryFile(dir=existing, prefix=".mwaa-verify-write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"{what} {path} cannot be {'written' if existing == path else 'created'}: {existing}: "
            f"{exc.strerror or type(exc).__name__}; choose a directory you can write to"
        ) from None


def os_error_line(exc: OSError) -> str:
    """One line for a file system error nothing more specific caught, naming the path."""
    names = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
    reason = exc.strerror or str(exc) or type(exc).__name__
    return (
        f"{names}: {reason}; check that the path exists, is of the right type and that you may use it"
        if names
        else f"{reason}; check the paths given and their permissions"
    )
