"""What the tests need from the system, brought in as a fresh machine needs it: Debian's packages, installed
when missing (as root, under a lock so parallel sessions do not run apt at once), or a failure that says what
to install. Never a skip: a test that cannot run says why."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import MACHINE_TMP_ENV_VAR


def ensure_commands(needed: dict[str, str], why: str) -> None:
    """Every command of `needed` (command -> the Debian package that has it) on PATH, installing the missing
    packages where this process may; otherwise the test fails naming them."""
    missing = sorted({package for command, package in needed.items() if shutil.which(command) is None})
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(f"{why}: apt-get install -y {' '.join(missing)}", pytrace=False)
    lock = Path(os.environ.get(MACHINE_TMP_ENV_VAR, tempfile.gettempdir())) / "mwaa-verify-tests-apt.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if all(shutil.which(command) for command in needed):
            return
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
            done = subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                pytest.fail(f"{why}; `{' '.join(command)}` failed: {done.stderr.strip()[-500:]}", pytrace=False)
