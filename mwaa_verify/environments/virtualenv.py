"""Cached virtualenvs holding one Airflow version each.

A virtualenv is built once per (Airflow version, Python version, requirements) and reused: the first start
takes a minute, later ones none. It is built in place under a file lock (so parallel test workers wait for
one another) and counts as ready only once a marker is written after `airflow version` answered, so an
interrupted build is noticed and redone rather than half-used.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mwaa_verify import progress
from mwaa_verify.airflow.versions import AirflowVersion
from mwaa_verify.directories import check_writable_directory
from mwaa_verify.errors import EnvironmentStartError

READY_MARKER = ".mwaa-verify-ready.json"
INSTALL_TIMEOUT_SECONDS = 1800


def virtualenv_dir(cache_dir: Path, version: AirflowVersion, python_version: str, extra: tuple[str, ...]) -> Path:
    requirements = (*version.requirements(), *sorted(extra))
    digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:10]
    return cache_dir / "venvs" / f"airflow-{version}-py{python_version}-{digest}"


def current_python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def ensure_virtualenv(
    cache_dir: Path, version: AirflowVersion, python_version: str | None = None, extra: tuple[str, ...] = ()
) -> Path:
    """Return the python of a ready virtualenv with this Airflow, building it if needed."""
    python_version = python_version or current_python_version()
    venv = virtualenv_dir(cache_dir, version, python_version, extra)
    python = venv / "bin" / "python"
    if (venv / READY_MARKER).exists():
        return python  # also from a read-only cache: a ready virtualenv needs no writes
    check_writable_directory(cache_dir, "cache directory (cache_dir in mwaa-verify.toml or $MWAA_VERIFY_CACHE_DIR)")
    venv.parent.mkdir(parents=True, exist_ok=True)
    with _lock(venv.with_name(venv.name + ".lock")):
        if (venv / READY_MARKER).exists():  # another process built it while we waited
            return python
        if venv.exists():
            progress.say(f"removing incomplete virtualenv {venv}")
            shutil.rmtree(venv)
        requirements = [*version.requirements(), *extra]
        with progress.step(f"installing Airflow {version} for Python {python_version} into {venv} (once)"):
            try:
                _create(venv, python_version, requirements)
                reported = _installed_version(python)
            except BaseException:
                shutil.rmtree(venv, ignore_errors=True)
                raise
        if reported != str(version):
            shutil.rmtree(venv, ignore_errors=True)
            raise EnvironmentStartError(f"asked for Airflow {version}, but the virtualenv reports {reported}")
        (venv / READY_MARKER).write_text(json.dumps({"airflow": reported, "requirements": requirements}))
    return python


def _uv_env(cache_dir: Path) -> dict[str, str] | None:
    """uv's own package cache lives in ~/.cache/uv: where that cannot be written, keep it in ours."""
    if os.environ.get("UV_CACHE_DIR") or os.environ.get("UV_NO_CACHE"):
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    existing = next((p for p in (base / "uv", base, *base.parents) if p.exists()), None)
    if existing is not None and os.access(existing, os.W_OK):
        return None
    return {**os.environ, "UV_CACHE_DIR": str(cache_dir / "uv")}


def _create(venv: Path, python_version: str, requirements: list[str]) -> None:
    uv = shutil.which("uv")
    if uv:
        env = _uv_env(venv.parent.parent)
        _run([uv, "venv", "--quiet", "--python", python_version, str(venv)], "creating the virtualenv", env)
        _run(
            # uv does not write bytecode unless asked, and Airflow's processes run with PYTHONDONTWRITEBYTECODE:
            # without it every process (each DAG parse, each CLI call) compiles Airflow from source again
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--compile-bytecode",
                "--python",
                str(venv / "bin" / "python"),
                *requirements,
            ],
            f"installing {' '.join(requirements)}",
            env,
        )
        return
    if python_version != current_python_version():
        raise EnvironmentStartError(
            f"Python {python_version} was asked for, but without uv only this interpreter "
            f"({current_python_version()}) can create virtualenvs; install uv (pip install uv) or drop python_version"
        )
    _run([sys.executable, "-m", "venv", str(venv)], "creating the virtualenv")
    _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *requirements,
        ],
        f"installing {' '.join(requirements)}",
    )


def _installed_version(python: Path) -> str:
    completed = _run([str(python), "-c", "import airflow; print(airflow.__version__)"], "importing airflow")
    return completed.stdout.strip().splitlines()[-1]


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL, env=env
        )
    except subprocess.TimeoutExpired:
        raise EnvironmentStartError(
            f"{what} took longer than {INSTALL_TIMEOUT_SECONDS} s and was stopped; check that the package index is "
            f"reachable and fast enough, then run again (a finished install is cached)"
        ) from None
    if completed.returncode != 0:
        raise EnvironmentStartError(
            f"{what} failed (exit {completed.returncode}): {_reason(completed.stderr or completed.stdout)}; check "
            f"the Airflow version, python_version and requirements, and that the package index is reachable"
        )
    return completed


def _reason(output: str) -> str:
    """The line of an installer's output that says why: uv's last `cause:`, pip's last ERROR line."""
    decoration = " \u2502\u2570\u2500\u25b6\u00d7"  # the box drawing and cross uv frames errors with
    lines = [line.strip(decoration) for line in output.splitlines() if line.strip(decoration)] or ["(no output)"]
    line = lines[-1]
    for prefix in ("cause:", "error:", "ERROR:"):
        line = line.removeprefix(prefix).strip()
    line = line.rstrip(".")
    return line if len(line) <= 400 else line[:400] + "…"


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
