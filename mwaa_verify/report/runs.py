"""Every verification run owns its results: a run id, its own directory, and the reports directory held by
one run at a time.

`reports/runs/<run id>/` holds one run's Allure results, JUnit XML, pytest output and summaries; nothing
another run writes can end up in it. The top-level `reports/summary.*` are copies of the latest finished run,
each replaced atomically. A second run on the same reports directory waits for the first (one line says so)
instead of interleaving with it; the lock is an flock, so one left by a killed run is free again at once, and
the pid it names is only there to tell the waiting user who holds it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from mwaa_verify.errors import MwaaVerifyError

RUN_ID_LABEL = "mwaa_run_id"
RUN_ID_ENV = "MWAA_VERIFY_RUN_ID"
COMMAND_ENV = "MWAA_VERIFY_COMMAND"
KEEP_RUNS = 20  # run directories kept under reports/runs (attachments can be large); the history keeps all runs
LOCK_NAME = ".mwaa-verify.lock"


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by time, unique across concurrent runs: 20261128T094312Z-3f9a1c."""
    return f"{(now or datetime.now(UTC)).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def run_directory(reports: Path, run_id: str) -> Path:
    return reports / "runs" / run_id


@contextmanager
def reports_lock(reports: Path, run_id: str, command: str) -> Iterator[None]:
    """Hold `reports` for one run; another run waits, saying which process it waits for."""
    try:
        reports.mkdir(parents=True, exist_ok=True)
        handle = (reports / LOCK_NAME).open("a+", encoding="utf-8")
    except OSError as exc:
        raise MwaaVerifyError(
            f"cannot write the reports directory {reports}: {exc.strerror}; pass --reports with a writable directory"
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "another run"
            # said even with -q: a run that seems to hang must say why
            print(f"[mwaa-verify] waiting: {reports} is in use by {holder}; this run starts when it ends",
                  file=sys.stderr, flush=True)  # fmt: skip
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"run {run_id} (pid {os.getpid()}: {command})\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish(files: list[Path], reports: Path) -> None:
    """Copy one run's files to the top of the reports directory, each replaced atomically (no reader ever sees
    half a summary)."""
    for path in files:
        staged = reports / f".{path.name}.{os.getpid()}.tmp"
        shutil.copyfile(path, staged)
        os.replace(staged, reports / path.name)


def prune_runs(reports: Path, keep: int = KEEP_RUNS) -> None:
    """Old run directories beyond the newest `keep` (run ids sort by time)."""
    runs = sorted((path for path in (reports / "runs").glob("*") if path.is_dir()), key=lambda path: path.name)
    for old in runs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
